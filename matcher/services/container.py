"""Composition root: built once from Settings, it wires storage, indexes, model pipelines and
limits, and exposes one object per use case (``records``, ``accounts``, ``review``,
``search``, ``export``, ``audit``, ``health``, ``jobs``). The use cases live in their own
modules of ``matcher.services``; nothing here queries the database.

Models load lazily (first use) and exactly once per process; nothing here is global:
the entry point builds ``Services(settings)`` and passes it down.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from matcher.errors import FileTooLargeError
from matcher.faces.loader import load_pipeline
from matcher.faces.packs import Pack, get_pack
from matcher.faces.pipeline import Pipeline
from matcher.faces.types import DetectedFace
from matcher.imaging import DecodedImage, ImageLimits, decode_image
from matcher.index.faiss_index import FaceIndex, set_faiss_threads
from matcher.index.manager import IndexManager
from matcher.ingest import batch
from matcher.services.accounts import AccountService
from matcher.services.audit import AuditLog
from matcher.services.export import CaseExport
from matcher.services.health import HealthService
from matcher.services.jobs import JobRunner
from matcher.services.records import RecordService
from matcher.services.review import ReviewService
from matcher.services.search import SearchService
from matcher.settings import Settings
from matcher.store.blobs import BlobStore
from matcher.store.db import make_engine, migrate, session_factory
from matcher.types import Side


@dataclass(frozen=True)
class AnalyzedImage:
    image: DecodedImage
    faces: list[DetectedFace]


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._pipelines: dict[str, Pipeline] = {}

    # ---- storage (created on first use, migrated to the latest schema) ----
    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.settings.sqlalchemy_url)
        migrate(engine)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @cached_property
    def blobs(self) -> BlobStore:
        return BlobStore(self.settings.data_dir / "blobs")

    @cached_property
    def indexes(self) -> IndexManager:
        set_faiss_threads(self.settings.threads)
        return IndexManager(self.settings.data_dir / "indexes", self.sessions, mode=self.settings.index_mode)

    def pack_info(self, pack: str | None = None) -> Pack:
        return get_pack(self.settings.models_dir, pack or self.settings.pack)

    def index(self, side: str, pack: str | None = None) -> FaceIndex:
        info = self.pack_info(pack)
        return self.indexes.get(side, info.name, info.embedding_dim)

    # ---- use cases (one object each; see their modules) ----
    @cached_property
    def records(self) -> RecordService:
        return RecordService(self)

    @cached_property
    def accounts(self) -> AccountService:
        return AccountService(self)

    @cached_property
    def review(self) -> ReviewService:
        return ReviewService(self)

    @cached_property
    def search(self) -> SearchService:
        return SearchService(self)

    @cached_property
    def export(self) -> CaseExport:
        return CaseExport(self)

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self)

    @cached_property
    def health(self) -> HealthService:
        return HealthService(self)

    @cached_property
    def jobs(self) -> JobRunner:
        return JobRunner()

    # ---- shortcuts used by ingest/ and the CLI ----
    def match_records(self, record_ids: list[int], pack: str | None = None) -> int:
        return self.review.match(record_ids, pack)

    def records_with_media_since(self, side: str, since: dt.datetime) -> list[int]:
        return self.records.with_media_since(side, since)

    def import_archive(self, folder: Path, actor: str) -> dict:
        """A shelter archive folder imported as children (the API's job); the report path
        is a server path and is not handed out."""
        return {**batch.import_archive(self, folder, Side.CHILD, actor).as_dict(), "report": None}

    # ---- models and limits ----
    @cached_property
    def limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.settings.max_upload_bytes, max_pixels=self.settings.max_pixels)

    def pipeline(self, pack: str | None = None) -> Pipeline:
        name = pack or self.settings.pack
        with self._lock:
            if name not in self._pipelines:
                self._pipelines[name] = load_pipeline(self.settings, name)
            return self._pipelines[name]

    def analyze_bytes(self, data: bytes, pack: str | None = None) -> AnalyzedImage:
        image = decode_image(data, self.limits)
        return AnalyzedImage(image, self.pipeline(pack).analyze_one(image.bgr))

    def read_file(self, path: Path) -> bytes:
        """Read a local file, refusing oversized ones before reading them."""
        size = path.stat().st_size
        if size > self.limits.max_bytes:
            raise FileTooLargeError(
                f"{path.name} is {size / 1e6:.1f} MB; the limit is {self.limits.max_bytes / 1e6:.0f} MB."
            )
        return path.read_bytes()

    def analyze_file(self, path: Path, pack: str | None = None) -> AnalyzedImage:
        return self.analyze_bytes(self.read_file(path), pack)
