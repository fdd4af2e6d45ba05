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


class InvalidFieldError(InputError):
    """A form field with a value outside what it may hold (e.g. a photo's age). ``field``
    names it, so a page can say it in its own words without reading the message."""

    status = 422
    code = "invalid_field"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


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


class AuthError(MatcherError):
    """No valid sign-in (missing, unknown, expired or revoked token; disabled account)."""

    status = 401
    code = "unauthenticated"


class ForbiddenError(MatcherError):
    """Signed in, but this role may not do this."""

    status = 403
    code = "forbidden"


class NotFoundError(MatcherError):
    """No such object, or one the caller may not know exists (a family asking for another
    family's report gets this, not ``ForbiddenError``)."""

    status = 404
    code = "not_found"


class CandidateNotFound(NotFoundError):
    code = "candidate_not_found"


class ConflictError(MatcherError):
    """The request clashes with the current state (a name or number already taken)."""

    status = 409
    code = "conflict"


class InvalidTransition(ConflictError):
    """A review verdict the candidate's current status does not allow."""

    code = "invalid_transition"


class TwoPersonRuleError(ConflictError):
    """The reviewer who asked for a confirmation cannot also give the second one."""

    code = "second_reviewer_required"


class RateLimited(MatcherError):
    status = 429
    code = "rate_limited"


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


class FaceIndexError(MatcherError):
    """Base for index problems. These are operator/consistency problems, not user input."""

    status = 503
    code = "index_error"


class IndexCorruptError(FaceIndexError):
    """The index file is damaged (bad magic, checksum, truncated, unparsable). Rebuild it."""

    code = "index_corrupt"


class IndexMismatchError(FaceIndexError):
    """The index belongs to another model pack, dimension, side or mode."""

    code = "index_mismatch"


class DuplicateFaceIdError(FaceIndexError):
    """A face id is already in the index; adding it again would shadow the first vector."""

    status = 409
    code = "duplicate_face_id"


class DataProtectionError(MatcherError):
    """Blob encryption, the audit chain, backup and restore (``matcher.store.crypto``,
    ``matcher.protection.service``): an operator must act."""

    status = 500
    code = "data_protection"


class DataKeyError(DataProtectionError):
    """The data key file is missing a key, unreadable, or readable by others."""

    code = "data_key"


class BlobIntegrityError(DataProtectionError):
    """A stored blob fails authentication (altered, truncated, or under another name)."""

    code = "blob_integrity"


class BlobMissingError(DataProtectionError):
    """A row points at a blob that is not on disk."""

    code = "blob_missing"


class MediaPurgedError(NotFoundError):
    """The original was purged by the retention policy (its face crops and embeddings stay)."""

    status = 410
    code = "original_purged"


class BackupError(DataProtectionError):
    """A backup cannot be written, or a backup folder cannot be restored."""

    status = 400
    code = "backup_invalid"


class ServiceBusy(MatcherError):
    """The bounded pool for model work is full (back-pressure): try again shortly, nothing
    was stored. Answered with ``Retry-After``."""

    status = 503
    code = "busy"
    retry_after = 60


class DatabaseBusy(MatcherError):
    """The database stayed locked (SQLite) or a transaction lost a deadlock (PostgreSQL)
    after waiting and retrying; nothing of the request was committed."""

    status = 503
    code = "database_busy"
    retry_after = 5


class StorageFullError(MatcherError):
    """The disk holding the data folder is full (or over quota): nothing was half-written."""

    status = 507
    code = "storage_full"


# ---- federation: matcher instances of other organisations (matcher.federation) ----


class PeerAuthError(AuthError):
    """A request from another instance that does not prove who sent it (answered 401 and
    audited): unsigned, wrongly signed, from an unknown key, stale, or replayed."""

    code = "peer_unauthenticated"


class UnsignedRequest(PeerAuthError):
    code = "peer_unsigned"


class BadSignature(PeerAuthError):
    code = "peer_bad_signature"


class UnknownPeer(PeerAuthError):
    code = "peer_unknown"


class StaleRequest(PeerAuthError):
    """The signed timestamp is outside the allowed clock window (expired or from the future)."""

    code = "peer_stale_request"


class ReplayedRequest(PeerAuthError):
    code = "peer_replayed"


class PeerForbidden(ForbiddenError):
    """A signed request from a known peer that its policy does not allow (403)."""

    code = "peer_forbidden"


class PeerPolicyError(InvalidFieldError):
    """A peer policy an admin tried to set that is not allowed (``field`` names the part)."""

    code = "invalid_peer_policy"


class InvalidPeerKey(InputError):
    """A public signing key that is not an Ed25519 key in raw base64 or PEM."""

    status = 422
    code = "invalid_peer_key"


class FederationPayloadError(InputError):
    """A peer's message that cannot be read: bad framing, sizes, ciphertexts or parameters."""

    code = "bad_federation_payload"


class UnknownHandle(NotFoundError):
    """A remote handle that this instance never issued to the asking peer, or that expired
    or whose record was erased."""

    code = "unknown_handle"


class SigningKeyError(DataProtectionError):
    """The instance's own signing key file is unreadable, readable by others, or misplaced."""

    code = "signing_key"
