"""What the sightings work uses of the wiring (``matcher.container.Services`` has it): the
database and blobs, the models (``analyze_bytes``, the pack), the indexes and the search
ranking, the job queue, and this package's own use case (the ``sweep`` job calls it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from matcher.faces.analyzer import AnalyzedImage
    from matcher.faces.packs import Pack
    from matcher.faces.pipeline import Pipeline
    from matcher.imaging import ImageLimits
    from matcher.index.faiss_index import FaceIndex
    from matcher.jobs.queue import JobService
    from matcher.services.search import SearchService
    from matcher.settings import Settings
    from matcher.sightings.service import SightingService
    from matcher.store.blobs import BlobStore


class SightingServices(Protocol):
    settings: Settings

    @property
    def sessions(self) -> sessionmaker[Session]: ...
    @property
    def blobs(self) -> BlobStore: ...
    @property
    def jobs(self) -> JobService: ...
    @property
    def limits(self) -> ImageLimits: ...
    @property
    def search(self) -> SearchService: ...
    @property
    def sightings(self) -> SightingService: ...
    def pack_info(self, pack: str | None = None) -> Pack: ...
    def pipeline(self, pack: str | None = None) -> Pipeline: ...
    def index(self, side: str, pack: str | None = None) -> FaceIndex: ...
    def analyze_bytes(self, data: bytes, pack: str | None = None) -> AnalyzedImage: ...
