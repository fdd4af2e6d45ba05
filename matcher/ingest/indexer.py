"""Batch indexing of a shelter archive (flow b): resumable, chunked, never duplicating.

* Files already stored for the same record (same sha256) are skipped, so a re-run after an
  interruption continues where it stopped.
* Photos are embedded in this process or in ``workers`` processes; results are committed in
  chunks, one transaction per chunk (blobs first, then rows), then added to the index. A
  crash loses at most the chunk in flight, which the next run redoes.
* Decode errors and photos without a face go to a CSV report (and ``IndexSummary.problems``);
  the run continues.
* Items that carry a ``read`` (members of an uploaded ZIP, ``ingest.zip_archive``) are read
  through it, in this process: nothing of them is written to disk.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from matcher.errors import InvalidFieldError, MatcherError
from matcher.files import sha256_file
from matcher.ingest.analysis import (
    PhotoResult,
    analyze,
    analyze_media,
    analyze_path,
    init_worker,
    video_options,
)
from matcher.ingest.archive import ArchiveItem, record_fields
from matcher.ingest.persist import MediaWriter, store_media
from matcher.store import repo
from matcher.types import Role

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from matcher.faces.pipeline import Pipeline
    from matcher.imaging import ImageLimits
    from matcher.index.faiss_index import FaceIndex
    from matcher.index.manager import IndexManager
    from matcher.settings import Settings

log = logging.getLogger(__name__)
REPORT_COLUMNS = ("path", "record_id", "status", "code", "message")


@dataclass(frozen=True)
class IndexSummary:
    photos: int
    new_media: int
    faces: int
    records: int
    skipped: int
    failed: int
    no_face: int
    seconds: float
    report: str | None
    created: int = 0  # records this run created (the others existed and got more photos)
    problems: tuple[dict, ...] = field(default=(), repr=False)  # the report's rows (REPORT_COLUMNS)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "problems"}


class IndexerServices(Protocol):
    """What the batch indexer uses of the wiring (``matcher.container.Services`` has it)."""

    settings: Settings

    @property
    def sessions(self) -> sessionmaker[Session]: ...
    @property
    def limits(self) -> ImageLimits: ...
    @property
    def indexes(self) -> IndexManager: ...
    @property
    def media_writer(self) -> MediaWriter: ...
    def pipeline(self, pack: str | None = None) -> Pipeline: ...
    def index(self, side: str, pack: str | None = None) -> FaceIndex: ...


def _sha256_or_none(item: ArchiveItem) -> str | None:
    """None for an unreadable file: the analysis step reports it with its reason."""
    try:
        return hashlib.sha256(item.read()).hexdigest() if item.read is not None else sha256_file(Path(item.path))
    except (OSError, MatcherError):
        return None


def _read_failure(item: ArchiveItem, exc: MatcherError) -> PhotoResult:
    code = "unreadable_file" if exc.code == "bad_input" else exc.code
    return PhotoResult(str(item.path), "", 0, error_code=code, error_message=exc.message)


class ArchiveIndexer:
    def __init__(
        self,
        services: IndexerServices,
        side: str,
        pack: str | None = None,
        workers: int = 1,
        chunk: int = 32,
        report_path: Path | None = None,
        actor: str = "cli",
        allow_erased: bool = False,
        *,
        role: str = Role.STAFF,
        owner_id: int | None = None,
        write_report: bool = True,
    ) -> None:
        """``actor``/``role``: who the audit names; ``owner_id``: the account that owns the
        records this run creates (existing ones keep theirs); ``write_report``: False keeps
        the problems in the summary only (an upload's report must not land in DATA_DIR)."""
        self.services = services
        self.allow_erased = allow_erased
        self.role = role
        self.owner_id = owner_id
        self.write_report = write_report
        self.side = side
        self.pack = pack or services.settings.pack
        self.workers = max(1, workers)
        self.chunk = max(1, chunk)
        self.report_path = report_path
        self.actor = actor

    def plan(self, items: list[ArchiveItem]) -> tuple[list[ArchiveItem], int, list[ArchiveItem]]:
        """Items still to do (not stored for their record, not repeated in this run), the
        skip count, and the items skipped because their record was erased with this very
        file (invariant 5, docs/architecture.md: an erased record is not resurrected unless a person asks)."""
        with self.services.sessions() as session:
            known = repo.known_media_by_record(session, self.side)
            erased = {} if self.allow_erased else repo.erased_media_by_record(session, self.side)
        todo, seen, skipped, refused = [], set(), 0, []
        for item in items:
            sha = _sha256_or_none(item)
            key = (item.record_id, sha)
            if sha is not None and (sha in known.get(item.record_id, ()) or key in seen):
                skipped += 1
                continue
            if sha is not None and sha in erased.get(item.record_id, ()):
                skipped += 1
                refused.append(item)
                continue
            seen.add(key)
            todo.append(item)
        return todo, skipped, refused

    def run(self, items: list[ArchiveItem], progress: Callable[[int, int], None] | None = None) -> IndexSummary:
        start = time.perf_counter()
        todo, skipped, refused = self.plan(items)
        index = self.services.index(self.side, self.pack)
        report_rows: list[dict] = [
            {
                "path": str(i.path),
                "record_id": i.record_id,
                "status": "skipped",
                "code": "erased_record",
                "message": "this file belonged to an erased record; re-import with --allow-erased only if a person asked for it",
            }
            for i in refused
        ]
        totals = {"new_media": 0, "faces": 0, "failed": 0, "no_face": 0, "created": 0}
        records: set[str] = set()
        last_save = time.monotonic()
        batch: list[tuple[ArchiveItem, PhotoResult]] = []
        # results come in the order of ``todo`` (one path may be listed for two records)
        for done, (item, result) in enumerate(zip(todo, self._results(todo), strict=True), start=1):
            batch.append((item, result))
            if len(batch) >= self.chunk:
                self._commit(batch, index, totals, records, report_rows)
                batch = []
                if time.monotonic() - last_save > 60:
                    self.services.indexes.save(self.side, self.pack)
                    last_save = time.monotonic()
            if progress:
                progress(done, len(todo))
        if batch:
            self._commit(batch, index, totals, records, report_rows)
        self.services.indexes.save(self.side, self.pack)
        report = self._write_report(report_rows) if self.write_report else None
        with self.services.sessions.begin() as session:
            repo.audit(session, self.actor, self.role, "index_archive", "archive", None, side=self.side, photos=len(items), new_media=totals["new_media"])
        return IndexSummary(
            photos=len(items),
            new_media=totals["new_media"],
            faces=totals["faces"],
            records=len(records),
            skipped=skipped,
            failed=totals["failed"],
            no_face=totals["no_face"],
            seconds=round(time.perf_counter() - start, 2),
            report=str(report) if report else None,
            created=totals["created"],
            problems=tuple(report_rows),
        )

    def _results(self, todo: list[ArchiveItem]) -> Iterator[PhotoResult]:
        if self.workers == 1 or len(todo) < 2 or any(i.read is not None for i in todo):
            pipeline = self.services.pipeline(self.pack)
            video = video_options(self.services.settings, self.pack)
            for item in todo:
                if item.read is None:
                    yield analyze(Path(item.path), pipeline, self.services.limits, video)
                    continue
                try:
                    data = item.read()
                except MatcherError as exc:
                    yield _read_failure(item, exc)
                    continue
                yield analyze_media(data, str(item.path), pipeline, self.services.limits, video)
            return
        settings = self.services.settings
        per_worker = max(1, settings.threads // self.workers)
        worker_settings = settings.model_copy(update={"ort_threads": per_worker}).model_dump_json()
        with ProcessPoolExecutor(self.workers, initializer=init_worker, initargs=(worker_settings, self.pack)) as pool:
            yield from pool.map(analyze_path, [str(i.path) for i in todo], chunksize=2)

    def _commit(self, batch, index, totals: dict, records: set[str], report_rows: list[dict]) -> None:
        good = [(item, r) for item, r in batch if r.error_code is None]
        for item, r in batch:
            if r.error_code is not None:
                totals["failed"] += 1
                report_rows.append({"path": str(item.path), "record_id": item.record_id, "status": "failed", "code": r.error_code, "message": r.error_message})

        def rows(session) -> tuple[None, list[tuple[int, bytes]]]:
            templates: list[tuple[int, bytes]] = []
            for item, r in good:
                created = repo.get_record(session, self.side, item.record_id) is None
                record = repo.upsert_record(session, self.side, item.record_id, record_fields(item.fields))
                if created:
                    totals["created"] += 1
                    record.owner_id = self.owner_id
                age_at_photo, dated = None, None
                if item.given is not None:  # the manifest's age / year_taken for this photo
                    try:
                        age_at_photo, dated = item.given.resolve(record.known_birth_year)
                    except InvalidFieldError as exc:
                        message = f"{exc.message} (the photo was imported without it)"
                        report_rows.append(
                            {"path": str(item.path), "record_id": item.record_id, "status": "warning", "code": "age_ignored", "message": message}
                        )
                media, stored = store_media(session, record, r, self.pack, item.path.name, age_at_photo=age_at_photo)
                if dated is not None and media.taken_at is None:
                    media.taken_at = dated  # the year given dates a photo that carries no date itself
                templates += stored
                records.add(item.record_id)
                for warning in r.warnings:  # a truncated video (its readable part was indexed); a face found only in an enhanced photo
                    code = "partial_video" if r.kind == "video" else "enhanced_photo"
                    report_rows.append({"path": str(item.path), "record_id": item.record_id, "status": "warning", "code": code, "message": warning})
                totals["new_media"] += 1
                totals["faces"] += len(r.faces)
                if not r.faces:
                    totals["no_face"] += 1
                    report_rows.append(
                        {"path": str(item.path), "record_id": item.record_id, "status": "no_face", "code": "no_face", "message": "no face found"}
                    )
            return None, templates

        # one transaction per chunk; a failure leaves its blobs for the re-run (resumable)
        _, templates = self.services.media_writer.write([r for _, r in good], rows)
        self.services.media_writer.index(self.side, self.pack, index.dim, templates, save=False)

    def _write_report(self, rows: list[dict]) -> Path | None:
        if not rows:
            return None
        path = self.report_path or self.services.settings.data_dir / "reports" / f"index-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=REPORT_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        return path
