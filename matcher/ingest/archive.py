"""What is in a shelter archive: a folder per record, or a CSV manifest. Pure listing, no I/O
beyond reading the folder and the CSV."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from matcher.errors import InputError

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".avif", ".bmp", ".tif", ".tiff", ".gif"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".avi", ".3gp", ".mkv", ".m4v"}
MEDIA_SUFFIXES = PHOTO_SUFFIXES | VIDEO_SUFFIXES  # listing only: the content decides photo or video
MANIFEST_FIELDS = ("name", "sex", "birth_year", "shelter", "found_on", "found_at", "notes")


@dataclass(frozen=True)
class ArchiveItem:
    record_id: str
    path: Path
    fields: dict = field(default_factory=dict, hash=False, compare=False)


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
    """``record_id,path`` plus optional ``name,sex,birth_year,shelter,found_on,found_at,notes``;
    relative paths are relative to the manifest's folder (or ``base``)."""
    base = base or manifest.parent
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = {"record_id", "path"} - set(reader.fieldnames or ())
            if missing:
                raise InputError(f"manifest {manifest} lacks column(s): {', '.join(sorted(missing))}")
            items = []
            for line, row in enumerate(reader, start=2):
                record_id, raw = (row.get("record_id") or "").strip(), (row.get("path") or "").strip()
                if not record_id or not raw:
                    raise InputError(f"manifest {manifest} line {line}: record_id and path are required")
                fields = {k: row[k].strip() for k in MANIFEST_FIELDS if row.get(k) and row[k].strip()}
                path = Path(raw)
                items.append(ArchiveItem(record_id, path if path.is_absolute() else base / path, fields))
            return items
    except OSError as exc:
        raise InputError(f"cannot read manifest {manifest}: {exc.strerror}") from exc


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
