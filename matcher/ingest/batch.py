"""Import an archive end to end (flow b): list it, index it, match the records that got new
photos. The one implementation behind ``matcher index`` and the API's archive import job."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from matcher.ingest.archive import scan_folder, scan_manifest
from matcher.ingest.indexer import ArchiveIndexer, IndexerServices, IndexSummary


class BatchServices(IndexerServices, Protocol):
    """The batch indexer's needs, and matching the records that got new photos."""

    def match_records(self, record_ids: list[int], pack: str | None = None) -> int: ...
    def records_with_media_since(self, side: str, since: dt.datetime) -> list[int]: ...


@dataclass(frozen=True)
class ImportResult:
    summary: IndexSummary
    candidates_touched: int  # candidates created or updated by matching (0 when not asked)

    def as_dict(self) -> dict:
        return {**self.summary.as_dict(), "candidates_touched": self.candidates_touched}


def import_archive(
    services: BatchServices,
    source: Path,
    side: str,
    actor: str,
    *,
    manifest: bool = False,
    pack: str | None = None,
    workers: int = 1,
    chunk: int = 32,
    report_path: Path | None = None,
    allow_erased: bool = False,
    match: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Index ``source`` into ``side`` and (``match``) match what is new against the other side.

    ``source`` is a folder with one sub-folder per record, or with ``manifest=True`` a CSV of
    ``record_id,path[,...]`` (see ``ingest.archive``). Safe to re-run: stored files are skipped.
    ``progress(done, total)`` is called after each photo.
    """
    items = scan_manifest(source) if manifest else scan_folder(source)
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    indexer = ArchiveIndexer(services, side, pack, workers, chunk, report_path, actor=actor, allow_erased=allow_erased)
    summary = indexer.run(items, progress)
    touched = services.match_records(services.records_with_media_since(side, started), pack) if match else 0
    return ImportResult(summary, touched)
