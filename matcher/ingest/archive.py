"""What is in a shelter archive: a folder per record, or a CSV manifest. Pure listing, no I/O
beyond reading the folder and the CSV. (A ZIP uploaded over HTTP: ``ingest.zip_archive``.)"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from matcher.errors import InputError, InvalidFieldError
from matcher.ingest.photo_age import GivenAge, parse_given_age

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".avif", ".bmp", ".tif", ".tiff", ".gif"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".avi", ".3gp", ".mkv", ".m4v"}
MEDIA_SUFFIXES = PHOTO_SUFFIXES | VIDEO_SUFFIXES  # listing only: the content decides photo or video
MANIFEST_FIELDS = ("name", "sex", "birth_year", "shelter", "found_on", "found_at", "notes")
PHOTO_FIELDS = ("age", "year_taken")  # of one photo: the child's age in it, the year it was taken


FIELD_LENGTHS = {"name": 256, "shelter": 256, "found_at": 256, "notes": 4000}
SEX_WORDS = {"f": "female", "female": "female", "girl": "female", "m": "male", "male": "male", "boy": "male"}
UNKNOWN_WORDS = {"u", "unknown", "?", "-"}
BIRTH_YEARS = (1900, 2100)
MAX_LISTED_ERRORS = 5


@dataclass(frozen=True)
class ArchiveItem:
    """One photo or video of one record. ``path`` names it (a file on disk, or a member of a
    ZIP as a ``PurePosixPath``); ``read``, when given, returns its bytes (a ZIP member, read
    lazily) and is used instead of reading ``path``."""

    record_id: str
    path: PurePath
    fields: dict = field(default_factory=dict, hash=False, compare=False)
    read: Callable[[], bytes] | None = field(default=None, hash=False, compare=False, repr=False)
    given: GivenAge | None = field(default=None, hash=False, compare=False)  # the child's age in this photo, as the manifest says


@dataclass(frozen=True)
class ManifestRow:
    line: int
    record_id: str
    path: str  # as written in the manifest
    fields: dict  # checked and normalised (see ``clean_fields``)
    given: GivenAge | None = None  # this photo's ``age`` / ``year_taken`` columns


def scan_folder(root: Path) -> list[ArchiveItem]:
    """One sub-folder per record (folder name = record number); photos anywhere below it."""
    if not root.is_dir():
        raise InputError(f"archive folder not found: {root}")
    items = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in MEDIA_SUFFIXES:
                items.append(ArchiveItem(folder.name, path))
    return items


def scan_manifest(manifest: Path, base: Path | None = None) -> list[ArchiveItem]:
    """``record_id,path`` plus optional record columns ``name,sex,birth_year,shelter,found_on,
    found_at,notes`` and photo columns ``age`` (the child's age in that photo, years) and
    ``year_taken``; relative paths are relative to the manifest's folder (or ``base``)."""
    base = base or manifest.parent
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read manifest {manifest}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise InputError(f"manifest {manifest} is not UTF-8 text; save it as 'CSV UTF-8'") from None
    items = []
    for row in parse_manifest(text, str(manifest)):
        path = Path(row.path)
        items.append(ArchiveItem(row.record_id, path if path.is_absolute() else base / path, row.fields, given=row.given))
    return items


def parse_manifest(text: str, source: str) -> list[ManifestRow]:
    """The rows of a manifest's text, fields checked (``clean_fields``). Every mistake found
    (up to a few) is named with its line in one ``InputError``: nothing is imported from a
    manifest that needs fixing."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = {"record_id", "path"} - {(name or "").strip() for name in reader.fieldnames or ()}
    if missing:
        raise InputError(f"manifest {source} lacks column(s): {', '.join(sorted(missing))}")
    rows, errors = [], []
    try:
        for line, raw in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in raw.items()}
            record_id, path = row.get("record_id", ""), row.get("path", "")
            if not record_id or not path:
                errors.append(f"line {line}: record_id and path are required")
                continue
            try:
                rows.append(ManifestRow(line, record_id, path, clean_fields(row), parse_given_age(row.get("age"), row.get("year_taken"))))
            except ValueError as exc:
                errors.append(f"line {line}: {exc}")
            except InvalidFieldError as exc:
                errors.append(f"line {line}: {exc.message}")
    except csv.Error as exc:
        errors.append(f"line {reader.line_num}: {exc}")
    if errors:
        more = f" (and {len(errors) - MAX_LISTED_ERRORS} more)" if len(errors) > MAX_LISTED_ERRORS else ""
        raise InputError(f"manifest {source}: {'; '.join(errors[:MAX_LISTED_ERRORS])}{more}")
    return rows


def clean_fields(row: dict) -> dict:
    """The optional manifest columns that hold a value, checked and normalised (``F`` ->
    ``female``; an unknown sex is left out). Raises ValueError naming the first bad one."""
    out = {}
    for key in MANIFEST_FIELDS:
        value = (row.get(key) or "").strip()
        if not value:
            continue
        if key in FIELD_LENGTHS and len(value) > FIELD_LENGTHS[key]:
            raise ValueError(f"{key} is longer than {FIELD_LENGTHS[key]} characters")
        if key == "sex":
            word = value.lower()
            if word in UNKNOWN_WORDS:
                continue
            if word not in SEX_WORDS:
                raise ValueError(f"sex '{value}' is not female, male or unknown")
            value = SEX_WORDS[word]
        elif key == "birth_year":
            if not value.isdigit() or not BIRTH_YEARS[0] <= int(value) <= BIRTH_YEARS[1]:
                raise ValueError(f"birth_year '{value}' is not a 4-digit year")
        elif key == "found_on":
            try:
                value = dt.date.fromisoformat(value).isoformat()
            except ValueError:
                raise ValueError(f"found_on '{value}' is not a date written YYYY-MM-DD") from None
        out[key] = value
    return out


def record_fields(fields: dict) -> dict:
    """Manifest columns -> Record columns (found_on/at are the record's event date/place)."""
    from matcher.store.repo import parse_date

    out: dict = {}
    for key in ("name", "sex", "shelter", "notes"):
        if key in fields:
            out[key] = fields[key]
    if "birth_year" in fields:
        out["birth_year"] = int(fields["birth_year"])
    if "found_on" in fields:
        out["event_on"] = parse_date(fields["found_on"])
    if "found_at" in fields:
        out["event_at"] = fields["found_at"]
    return out
