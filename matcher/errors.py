"""One error hierarchy for the whole service.

Every error a person can cause carries an HTTP status and a stable ``code``;
the API maps them to ``{"error": {"code", "message"}}`` in one handler and the
CLI prints ``message``. Messages are written for a person, not a programmer.
"""

from __future__ import annotations


class MatcherError(Exception):
    """Base class. ``status`` is the HTTP status the API answers with."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(MatcherError):
    """The caller sent something we cannot use (4xx)."""

    status = 400
    code = "bad_input"


class EmptyFileError(InputError):
    code = "empty_file"


class FileTooLargeError(InputError):
    status = 413
    code = "file_too_large"


class ImageTooLargeError(InputError):
    """Too many pixels (also catches decompression bombs)."""

    status = 413
    code = "image_too_large"


class UnsupportedMediaError(InputError):
    status = 415
    code = "unsupported_media_type"


class CorruptImageError(InputError):
    status = 422
    code = "corrupt_image"


class CorruptVideoError(InputError):
    status = 422
    code = "corrupt_video"


class ModelError(MatcherError):
    """A model pack is missing, corrupt or misconfigured (operator problem)."""

    status = 503
    code = "model_unavailable"


class ModelFileMissingError(ModelError):
    code = "model_file_missing"


class ModelChecksumError(ModelError):
    code = "model_checksum_mismatch"


class UnknownPackError(ModelError):
    status = 404
    code = "unknown_model_pack"
