"""Composition root: built once from Settings, it wires storage, indexes, model pipelines and
limits, and exposes one object per use case (``records``, ``accounts``, ``review``,
``search``, ``export``, ``audit``, ``health``, ``jobs``, ``imports``). The use cases live in their own
modules of ``matcher.services``; nothing here queries the database.

Models load lazily (first use) and exactly once per process; nothing here is global:
the entry point builds ``Services(settings)`` and passes it down.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from matcher.faces.analyzer import AnalyzedImage, Analyzer
from matcher.faces.capacity import ModelCapacity
from matcher.faces.packs import Pack
from matcher.faces.pipeline import Pipeline, StageObserver
from matcher.imaging import ImageLimits
from matcher.index.faiss_index import FaceIndex, set_faiss_threads
from matcher.index.manager import IndexManager
from matcher.ingest import batch
from matcher.ingest.match_batcher import MatchBatcher
from matcher.ingest.persist import MediaWriter
from matcher.jobs.queue import JobService, worker_identity
from matcher.jobs.worker import Worker
from matcher.protection.service import DataProtection
from matcher.review.normalization import CohortSizes
from matcher.services.accounts import AccountService
from matcher.services.audit import AuditLog
from matcher.services.export import CaseExport
from matcher.services.health import HealthService
from matcher.services.imports import ImportService
from matcher.services.records import RecordService, deferrable_match
from matcher.services.review import ReviewService
from matcher.services.search import SearchService
from matcher.settings import Settings
from matcher.sightings.service import SightingService
from matcher.store.blobs import BlobStore
from matcher.store.crypto import KeyFile
from matcher.store.db import make_engine, migrate, session_factory
from matcher.store.inflight import UploadJournal
from matcher.store.rate_windows import RateLimits
from matcher.store.web_sessions import WebSessions
from matcher.types import Side


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.analyzer = Analyzer(settings)  # the models: one pipeline per pack, loaded on first use

    # ---- storage (created on first use, migrated to the latest schema) ----
    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.settings.sqlalchemy_url, busy_timeout_s=self.settings.sqlite_busy_timeout_s)
        migrate(engine)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @cached_property
    def blobs(self) -> BlobStore:
        """Sealed with the data key (``MATCHER_ENCRYPT_BLOBS``); clear-text blobs from before
        are sealed on first start (``BlobStore.ensure_sealed``)."""
        s = self.settings
        store = BlobStore(s.data_dir / "blobs", KeyFile(s.data_key_path, create=s.encrypt_blobs), s.encrypt_blobs)
        store.ensure_sealed()
        return store

    @cached_property
    def indexes(self) -> IndexManager:
        set_faiss_threads(self.settings.threads)
        return IndexManager(self.settings.data_dir / "indexes", self.sessions, mode=self.settings.index_mode)

    def pack_info(self, pack: str | None = None) -> Pack:
        return self.analyzer.pack_info(pack)

    def index(self, side: str, pack: str | None = None) -> FaceIndex:
        info = self.pack_info(pack)
        return self.indexes.get(side, info.name, info.embedding_dim)

    # ---- use cases (one object each; see their modules) ----
    @cached_property
    def records(self) -> RecordService:
        def match_after_upload(record_id: int) -> None:
            deferrable_match(self.capacity, self.match_batcher, record_id)

        return RecordService(
            self.sessions,
            self.blobs,
            self.analyzer,
            self.indexes,
            self.media_writer,
            match_after_upload,
            self.protection.log_erasures,
            CohortSizes.from_settings(self.settings),
        )

    @cached_property
    def accounts(self) -> AccountService:
        return AccountService(self.sessions, self.settings.token_days)

    @cached_property
    def review(self) -> ReviewService:
        return ReviewService(self)

    @cached_property
    def search(self) -> SearchService:
        return SearchService(self)

    @cached_property
    def export(self) -> CaseExport:
        return CaseExport(self.sessions, self.blobs, self.review)

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.sessions)

    @cached_property
    def protection(self) -> DataProtection:
        return DataProtection(self)

    @cached_property
    def health(self) -> HealthService:
        return HealthService(self.sessions, self.settings.pack, self.settings.queue_fpir)

    @cached_property
    def jobs(self) -> JobService:
        def inprocess_worker() -> Worker:  # the API's thread; job kinds use these services
            return Worker(self, concurrency=1, name=worker_identity(":api"))

        return JobService(self.sessions, self.engine, self.blobs, inprocess_worker if self.settings.inprocess_worker else None)

    @cached_property
    def imports(self) -> ImportService:
        """Shelter archives uploaded as a ZIP: checked, stored sealed, imported by a job."""
        return ImportService(self)

    @cached_property
    def sightings(self) -> SightingService:
        """Sweeps of footage and field photos, and the sightings they make (``matcher.sightings``)."""
        return SightingService(self)

    # ---- operating it: back-pressure, shared request state, readiness and metrics ----
    @cached_property
    def capacity(self) -> ModelCapacity:
        return ModelCapacity(self.settings.model_slots, self.settings.model_waiting)

    @cached_property
    def match_batcher(self) -> MatchBatcher:
        return MatchBatcher(lambda ids: self.review.match(ids))

    @cached_property
    def rate_limits(self) -> RateLimits:
        return RateLimits(self.sessions)

    @cached_property
    def web_sessions(self) -> WebSessions:
        return WebSessions(self.sessions)

    @cached_property
    def upload_journal(self) -> UploadJournal:
        return UploadJournal(self.settings.data_dir / "inflight")

    @cached_property
    def media_writer(self) -> MediaWriter:
        """The one way analysed media are stored: blobs, rows, then the index (``ingest.persist``)."""
        return MediaWriter(self.sessions, self.blobs, self.indexes, self.upload_journal)

    # ---- shortcuts used by ingest/ and the CLI ----
    def match_records(self, record_ids: list[int], pack: str | None = None) -> int:
        return self.review.match(record_ids, pack)

    def records_with_media_since(self, side: str, since: dt.datetime) -> list[int]:
        return self.records.with_media_since(side, since)

    def import_archive(self, folder: Path, actor: str) -> dict:
        """A shelter archive folder imported as children (the API's job); the report path
        is a server path and is not handed out."""
        return {**batch.import_archive(self, folder, Side.CHILD, actor).as_dict(), "report": None}

    # ---- models and limits (``faces.analyzer``) ----
    @property
    def limits(self) -> ImageLimits:
        return self.analyzer.limits

    def pipeline(self, pack: str | None = None) -> Pipeline:
        return self.analyzer.pipeline(pack)

    @property
    def stage_observer(self) -> StageObserver | None:
        """Optional metrics hook for model stages (``api.metrics`` sets it): (stage, seconds) -> None."""
        return self.analyzer.stage_observer

    @stage_observer.setter
    def stage_observer(self, observe: StageObserver | None) -> None:
        self.analyzer.stage_observer = observe

    @property
    def split_cores_between_model_slots(self) -> bool:
        return self.analyzer.split_cores_between_model_slots

    @split_cores_between_model_slots.setter
    def split_cores_between_model_slots(self, split: bool) -> None:
        self.analyzer.split_cores_between_model_slots = split

    def analyze_bytes(self, data: bytes, pack: str | None = None) -> AnalyzedImage:
        """A photo's faces (``Analyzer.photo``); for stored media see ``ingest.analysis.analyze_media``."""
        return self.analyzer.photo(data, pack)

    def read_file(self, path: Path) -> bytes:
        return self.analyzer.read_file(path)

    def analyze_file(self, path: Path, pack: str | None = None) -> AnalyzedImage:
        return self.analyzer.photo_file(path, pack)
