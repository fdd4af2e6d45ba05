"""What is in a shelter archive uploaded as a ZIP: the same two layouts as a server folder
(``ingest.archive``), read from the bytes in memory. Nothing is ever unpacked to disk (the
photos are children's; DATA_DIR holds only sealed blobs): each ``ArchiveItem`` reads its
member lazily from the ``ZipFile``.

Layouts:

* **a folder per child** (folder name = record number, photos and videos anywhere below
  it). The usual "zipped a folder" layout, one top folder holding the child folders, is
  recognised and the top folder stripped: a single top folder is taken for such a wrapper
  when photos lie two folders below it (``Children/C-001/a.jpg``), and for the one child's
  folder when they lie directly in it (``C-001/a.jpg``).
* **a CSV manifest**: ``manifest.csv`` at the top or in the single top folder, columns
  ``record_id,path`` plus the optional ones of ``ingest.archive``; paths are relative to
  the manifest, inside the ZIP.

Refused as a whole (an ``InputError`` before anything is stored): not a ZIP, an encrypted
one, too many entries, too much unpacked data, or a member that inflates absurdly (a ZIP
bomb). Skipped with a problem row, the rest imported: unsafe names (absolute, ``..``),
files that are not photos or videos, photos outside a child's folder, child folders without
media, files too large to analyse, record numbers the service does not accept. Hidden files,
``__MACOSX/`` and the desktop's thumbnails files are left out silently.
"""

from __future__ import annotations

import io
import posixpath
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from matcher.errors import FileTooLargeError, InputError, UnsupportedMediaError
from matcher.ingest.archive import MEDIA_SUFFIXES, ArchiveItem, parse_manifest

MANIFEST_NAME = "manifest.csv"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
RATIO_FLOOR_BYTES = 1024 * 1024  # a member smaller than this unpacked is never taken for a bomb
CENTRAL_ENTRY_BYTES = 1024  # generous size of one central-directory entry (46 bytes + name + extras)
JUNK_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}
RECORD_NUMBER = re.compile(r"^[\w.\-/ ]{1,128}$")  # as ``api.schemas.ChildIn.number``
EOCD = b"PK\x05\x06"
EOCD64_LOCATOR = b"PK\x06\x07"
EOCD64 = b"PK\x06\x06"


@dataclass(frozen=True)
class ZipLimits:
    max_bytes: int  # the ZIP file itself
    max_members: int  # entries, files and folders
    max_unpacked_bytes: int  # all files together, as their headers declare (reads are capped to it)
    max_ratio: float  # unpacked / packed size of one member over RATIO_FLOOR_BYTES
    max_member_bytes: int  # one photo or video (larger ones are listed as problems)

    @classmethod
    def from_settings(cls, settings) -> ZipLimits:
        return cls(
            max_bytes=settings.max_archive_bytes,
            max_members=settings.archive_max_files,
            max_unpacked_bytes=int(settings.archive_max_unpacked_mb * 1024 * 1024),
            max_ratio=settings.archive_max_ratio,
            max_member_bytes=max(settings.max_upload_bytes, settings.video_max_bytes),
        )


@dataclass(frozen=True)
class Problem:
    """One row of the problem report: the file (its name in the ZIP), the record it was for
    (or ""), a stable code and a sentence for a person."""

    file: str
    record: str
    problem: str
    message: str

    def as_dict(self) -> dict:
        return {"file": self.file, "record": self.record, "problem": self.problem, "message": self.message}


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    parts: tuple[str, ...]  # the name split into folders, "." and empty parts dropped

    @property
    def name(self) -> str:
        return "/".join(self.parts)

    @property
    def is_media(self) -> bool:
        return PurePosixPath(self.parts[-1]).suffix.lower() in MEDIA_SUFFIXES


def scan_zip(data: bytes, limits: ZipLimits) -> tuple[list[ArchiveItem], list[Problem]]:
    """The photos and videos of a ZIP held in memory, each with its record, and the problem
    rows for what is skipped. Raises an ``InputError`` (see the module text) for a ZIP that
    cannot be taken at all."""
    if len(data) > limits.max_bytes:
        raise FileTooLargeError(f"The ZIP is {_mb(len(data))}; the limit is {_mb(limits.max_bytes)}.")
    _check_directory(data, limits)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, struct.error) as exc:
        raise InputError(f"The ZIP is damaged and cannot be read ({exc}). Please create it again.") from None
    _check_members(infos, limits)
    files, folders, problems = _sort_members(infos)
    manifest = _find_manifest(files)
    if manifest is not None:
        items, more = _manifest_items(archive, manifest, files, limits)
    else:
        items, more = _folder_items(archive, files, folders, limits)
    return items, problems + more


# ---- refusing a hostile or unusable ZIP -------------------------------------------------------


def _check_directory(data: bytes, limits: ZipLimits) -> None:
    """Count the entries from the end record before ``zipfile`` parses them all (millions
    of tiny entries would take its memory first)."""
    at = data.rfind(EOCD, max(0, len(data) - 65_557))
    if at < 0 or len(data) < at + 22:
        raise UnsupportedMediaError("This file is not a ZIP archive. Upload a .zip file with a folder per child, or with a manifest.csv.")
    entries, directory_bytes = struct.unpack_from("<HI", data, at + 10)
    locator = at - 20
    if locator >= 0 and data[locator : locator + 4] == EOCD64_LOCATOR:
        (record_at,) = struct.unpack_from("<Q", data, locator + 8)
        if record_at + 56 <= len(data) and data[record_at : record_at + 4] == EOCD64:
            entries, directory_bytes = struct.unpack_from("<QQ", data, record_at + 32)
    if entries > limits.max_members or directory_bytes > limits.max_members * CENTRAL_ENTRY_BYTES:
        raise FileTooLargeError(f"The ZIP holds more than {limits.max_members} files and folders; split it into smaller ZIPs.")


def _check_members(infos: list[zipfile.ZipInfo], limits: ZipLimits) -> None:
    if len(infos) > limits.max_members:
        raise FileTooLargeError(f"The ZIP holds {len(infos)} files and folders; the limit is {limits.max_members}. Split it into smaller ZIPs.")
    if any(info.flag_bits & 0x1 for info in infos):
        raise InputError("The ZIP is protected with a password. Create it again without a password (the upload itself is protected).")
    unpacked = sum(info.file_size for info in infos)
    if unpacked > limits.max_unpacked_bytes:
        raise FileTooLargeError(f"The files in the ZIP add up to {_mb(unpacked)} unpacked; the limit is {_mb(limits.max_unpacked_bytes)}.")
    for info in infos:
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise InputError(
                f"The ZIP looks built to overload the server: one file in it unpacks to {info.file_size / max(info.compress_size, 1):.0f} times "
                "its packed size. Photos and videos do not compress like that; please check the ZIP."
            )


# ---- names ---------------------------------------------------------------------------------------


def _split(name: str) -> tuple[str, ...] | None:
    """A member's name as folder parts, or None when it points outside the archive."""
    name = name.replace("\\", "/")
    if "\x00" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        return None
    return parts


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p.lower() in JUNK_NAMES for p in parts)


def _sort_members(infos: list[zipfile.ZipInfo]) -> tuple[list[_Member], set[tuple[str, ...]], list[Problem]]:
    """Files (safe, not junk, first of a repeated name) and folders; problems for the rest."""
    files, folders, seen, problems = [], set(), set(), []
    for info in infos:
        parts = _split(info.filename)
        if parts is None:
            problems.append(Problem(info.filename, "", "unsafe_name", "the name points outside the ZIP (absolute or with '..'): ignored"))
            continue
        if not parts or _is_junk(parts):
            continue
        if info.is_dir():
            folders.add(parts)
            continue
        if parts in seen:
            problems.append(Problem(info.filename, "", "duplicate_name", "the ZIP holds two files with this name: only the first is used"))
            continue
        seen.add(parts)
        files.append(_Member(info, parts))
        folders.update(parts[:i] for i in range(1, len(parts)))
    return files, folders, problems


def _find_manifest(files: list[_Member]) -> _Member | None:
    """``manifest.csv`` at the top, else in the single top folder."""
    candidates = [f for f in files if f.parts[-1].lower() == MANIFEST_NAME and len(f.parts) <= 2]
    top = [f for f in candidates if len(f.parts) == 1]
    if top:
        return top[0]
    tops = {f.parts[0] for f in files}
    return candidates[0] if candidates and len(tops) == 1 else None


def _strip_wrapper(files: list[_Member], folders: set[tuple[str, ...]]) -> tuple[list[_Member], set[tuple[str, ...]]]:
    tops = {f.parts[0] for f in files} | {d[0] for d in folders}
    if len(tops) != 1 or not any(f.is_media and len(f.parts) >= 3 for f in files):
        return files, folders
    return [_Member(f.info, f.parts[1:]) for f in files if len(f.parts) > 1], {d[1:] for d in folders if len(d) > 1}


# ---- the two layouts -----------------------------------------------------------------------------


def _folder_items(archive: zipfile.ZipFile, files: list[_Member], folders: set[tuple[str, ...]], limits: ZipLimits) -> tuple[list[ArchiveItem], list[Problem]]:
    files, folders = _strip_wrapper(files, folders)
    items, problems, with_media = [], [], set()
    for f in sorted(files, key=lambda m: m.parts):
        record = f.parts[0] if len(f.parts) > 1 else ""
        if not f.is_media:
            problems.append(Problem(f.info.filename, record, "not_media", "not a photo or video: ignored"))
        elif not record:
            problems.append(Problem(f.info.filename, "", "not_in_folder", "not inside a child's folder (named after the record number): ignored"))
        else:
            with_media.add(record)
            if not RECORD_NUMBER.match(record):
                problems.append(Problem(f.info.filename, record, "bad_record_number", _bad_number(record)))
            elif (problem := _size_problem(f, record, limits)) is not None:
                problems.append(problem)
            else:
                items.append(_item(archive, f, record, {}, limits))
    for folder in sorted({d[0] for d in folders} - with_media):
        problems.append(Problem(folder + "/", folder, "empty_folder", "this child's folder holds no photo or video"))
    return items, problems


def _manifest_items(archive: zipfile.ZipFile, manifest: _Member, files: list[_Member], limits: ZipLimits) -> tuple[list[ArchiveItem], list[Problem]]:
    rows = parse_manifest(_manifest_text(archive, manifest), MANIFEST_NAME)
    base = "/".join(manifest.parts[:-1])
    by_name = {f.name: f for f in files}
    items, problems, used = [], [], {manifest.name}
    for row in rows:
        where = f"{MANIFEST_NAME} line {row.line}: "
        raw = row.path.replace("\\", "/")
        name = posixpath.normpath(posixpath.join(base, raw)) if base else posixpath.normpath(raw)
        if _split(raw) is None or name == ".." or name.startswith("../"):
            problems.append(Problem(row.path, row.record_id, "unsafe_name", where + "the path points outside the ZIP: ignored"))
            continue
        member = by_name.get(name)
        if member is None:
            problems.append(Problem(row.path, row.record_id, "missing_file", where + "no file with this path in the ZIP"))
        elif not member.is_media:
            used.add(name)
            problems.append(Problem(member.info.filename, row.record_id, "not_media", where + "not a photo or video: ignored"))
        elif not RECORD_NUMBER.match(row.record_id):
            used.add(name)
            problems.append(Problem(member.info.filename, row.record_id, "bad_record_number", where + _bad_number(row.record_id)))
        elif (problem := _size_problem(member, row.record_id, limits)) is not None:
            used.add(name)
            problems.append(problem)
        else:
            used.add(name)
            items.append(_item(archive, member, row.record_id, row.fields, limits, row.given))
    for f in files:
        if f.name not in used:
            problems.append(Problem(f.info.filename, "", "not_in_manifest", f"not listed in {MANIFEST_NAME}: ignored"))
    return items, problems


def _manifest_text(archive: zipfile.ZipFile, manifest: _Member) -> str:
    if manifest.info.file_size > MAX_MANIFEST_BYTES:
        raise InputError(f"{MANIFEST_NAME} is larger than {_mb(MAX_MANIFEST_BYTES)}; split the archive.")
    try:
        return _read_member(archive, manifest.info, MAX_MANIFEST_BYTES).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{MANIFEST_NAME} is not UTF-8 text; save it as 'CSV UTF-8'.") from None


# ---- reading members ---------------------------------------------------------------------------


def _item(archive: zipfile.ZipFile, member: _Member, record: str, fields: dict, limits: ZipLimits, given=None) -> ArchiveItem:
    return ArchiveItem(record, PurePosixPath(member.info.filename), fields, read=_reader(archive, member.info, limits.max_member_bytes), given=given)


def _reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> Callable[[], bytes]:
    def read() -> bytes:
        return _read_member(archive, info, cap)

    return read


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    """One member's bytes, never more than ``cap`` (zipfile also stops at the declared size
    and checks the CRC, so a header that lies makes a damaged file, not a larger one)."""
    try:
        with archive.open(info) as fh:
            data = fh.read(cap + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError) as exc:
        reason = "packed with a method this service cannot read" if isinstance(exc, NotImplementedError) else "damaged"
        raise InputError(f"{info.filename} could not be read from the ZIP: it is {reason}.") from None
    if len(data) > cap:
        raise FileTooLargeError(f"{info.filename} is larger than the {_mb(cap)} limit for one photo or video.")
    return data


def _size_problem(member: _Member, record: str, limits: ZipLimits) -> Problem | None:
    if member.info.file_size <= limits.max_member_bytes:
        return None
    return Problem(member.info.filename, record, "file_too_large", f"{_mb(member.info.file_size)}: larger than the {_mb(limits.max_member_bytes)} limit")


def _bad_number(record: str) -> str:
    return f"'{record[:40]}' is not a record number this service accepts (letters, digits, spaces and . - _ /, at most 128): ignored"


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"
