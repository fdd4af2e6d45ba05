"""The face index file: what a saved ``FaceIndex`` says about itself, and its bytes on disk.

::

    FACEINDEX/1\\n                      magic and format version
    <64 hex chars>\\n                    sha256 of everything after this line
    {"pack": ..., "dim": ..., ...}\\n    JSON header: IndexMeta fields + section sizes
    <store bytes><coarse bytes>         faiss.serialize_index of each part

The checksum covers the JSON header and the payload, so a flipped byte anywhere after the
magic, or a truncated file, is reported as ``IndexCorruptError`` before FAISS parses
anything. ``read_meta`` reads only the header (cheap start-up staleness check). Files are
written with ``matcher.files.atomic_write``. This module knows nothing of FAISS: sections
are opaque bytes (``faiss_index`` serialises and parses them).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from matcher.errors import IndexCorruptError, IndexMismatchError
from matcher.files import atomic_write

Mode = Literal["exact", "ann"]

MAGIC = b"FACEINDEX/1"
FORMAT_VERSION = 1
_HEADER_LIMIT = 1 << 16  # bytes; magic + checksum + header beyond this is garbage


@dataclass(frozen=True)
class AnnParams:
    """Coarse-index parameters, fixed when it is trained on ``trained_on`` vectors
    (``faiss_index.ann_params_for`` chooses them)."""

    nlist: int
    nprobe: int
    trained_on: int


@dataclass(frozen=True)
class IndexMeta:
    """What a saved index says about itself; enough to refuse or distrust it."""

    pack: str
    dim: int
    mode: Mode
    side: str
    count: int
    max_id: int | None
    ann: AnnParams | None
    # the database's index generation (``store.index_state``) the saved faces are at least
    # as new as; ``None`` in files written without one. Lets a process skip overwriting a
    # newer file (``index.manager``).
    generation: int | None = None


def save_bytes(path: str | os.PathLike[str], meta: IndexMeta, sections: list[npt.NDArray[np.uint8]]) -> None:
    """Write ``meta`` and the serialised ``sections`` atomically (see ``atomic_write``)."""
    header = asdict(meta)
    header["format"] = FORMAT_VERSION
    header["sections"] = [int(s.nbytes) for s in sections]
    header_line = json.dumps(header, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    digest = hashlib.sha256(header_line)
    for s in sections:
        digest.update(s.data)
    prefix = MAGIC + b"\n" + digest.hexdigest().encode() + b"\n" + header_line
    atomic_write(Path(path), prefix, *(s.data for s in sections))


def load_bytes(
    path: str | os.PathLike[str], *, pack: str, dim: int, side: str | None = None, mode: Mode | None = None
) -> tuple[IndexMeta, list[npt.NDArray[np.uint8]]]:
    """The verified header and the sections (views of one buffer) of a saved index.

    Checks, in order: readable, magic, checksum, header, then the expected pack, dim, side
    and mode (``None``: any), then the sections' length. Raises ``IndexCorruptError`` or
    ``IndexMismatchError``; never returns bytes that did not pass the checksum."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise IndexCorruptError(f"cannot read index file {path}: {exc}") from exc
    prefix = _parse_prefix(bytes(data[:_HEADER_LIMIT]), path)
    if hashlib.sha256(data[prefix.header_start :].data).hexdigest() != prefix.digest:
        raise IndexCorruptError(f"index file {path} is corrupt (checksum mismatch)")
    meta = _meta_from_header(prefix.header, path)
    _check_expected(meta, path, pack=pack, dim=dim, side=side, mode=mode)
    sizes, start = prefix.header["sections"], prefix.payload_start
    if sum(sizes) != data.size - start:
        raise IndexCorruptError(f"index file {path} has the wrong length")
    sections = []
    for size in sizes:
        sections.append(data[start : start + size])
        start += size
    return meta, sections


def read_meta(path: str | os.PathLike[str]) -> IndexMeta:
    """Read only the header of a saved index (no checksum of the payload): a cheap way for
    start-up to compare count and max id with the database before loading gigabytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEADER_LIMIT)
    except OSError as exc:
        raise IndexCorruptError(f"cannot read index file {path}: {exc}") from exc
    return _meta_from_header(_parse_prefix(head, path).header, path)


@dataclass(frozen=True)
class _Prefix:
    """The parsed start of a file: checksum, header, and where the checked bytes begin."""

    digest: str
    header: dict[str, Any]
    header_start: int  # the checksum covers data[header_start:]
    payload_start: int


def _parse_prefix(head: bytes, path: object) -> _Prefix:
    """Split magic, checksum line and JSON header line from the first bytes of a file."""
    parts = head.split(b"\n", 3)
    if len(parts) < 4 or parts[0] != MAGIC:
        raise IndexCorruptError(f"{path} is not a matcher face index (bad magic or truncated)")
    if not re.fullmatch(rb"[0-9a-f]{64}", parts[1]):
        raise IndexCorruptError(f"index file {path} has a malformed checksum line")
    try:
        header = json.loads(parts[2])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorruptError(f"index file {path} has an unreadable header") from exc
    if not isinstance(header, dict):
        raise IndexCorruptError(f"index file {path} has an unreadable header")
    header_start = len(parts[0]) + len(parts[1]) + 2
    return _Prefix(parts[1].decode(), header, header_start, header_start + len(parts[2]) + 1)


def _meta_from_header(header: dict[str, Any], path: object) -> IndexMeta:
    try:
        if header["format"] != FORMAT_VERSION:
            raise IndexCorruptError(f"index file {path} has unknown format {header['format']!r}")
        ann = header["ann"]
        sizes = header["sections"]
        if not isinstance(sizes, list) or not 1 <= len(sizes) <= 2 or any(not isinstance(s, int) or s < 0 for s in sizes):
            raise ValueError("sections")
        return IndexMeta(
            pack=str(header["pack"]),
            dim=int(header["dim"]),
            mode=cast(Mode, header["mode"]),
            side=str(header["side"]),
            count=int(header["count"]),
            max_id=None if header["max_id"] is None else int(header["max_id"]),
            ann=None if ann is None else AnnParams(int(ann["nlist"]), int(ann["nprobe"]), int(ann["trained_on"])),
            generation=None if header.get("generation") is None else int(header["generation"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(f"index file {path} has an incomplete header") from exc


def _check_expected(meta: IndexMeta, path: object, *, pack: str, dim: int, side: str | None, mode: Mode | None) -> None:
    wanted = {"pack": pack, "dim": dim, "side": side, "mode": mode}
    for field, value in wanted.items():
        if value is not None and getattr(meta, field) != value:
            raise IndexMismatchError(f"index file {path} was built for {field} {getattr(meta, field)!r}, expected {value!r}")
