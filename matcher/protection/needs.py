"""What the data protection work uses of the wiring (``matcher.container.Services`` has it):
the database, the blob store, the indexes, the records use case (erasure) and this package's
own use case (the audit chain, the sweeps)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from matcher.index.manager import IndexManager
    from matcher.protection.service import DataProtection
    from matcher.services.records import RecordService
    from matcher.settings import Settings
    from matcher.store.blobs import BlobStore
    from matcher.store.inflight import UploadJournal


class ProtectionServices(Protocol):
    settings: Settings

    @property
    def engine(self) -> Engine: ...
    @property
    def sessions(self) -> sessionmaker[Session]: ...
    @property
    def blobs(self) -> BlobStore: ...
    @property
    def indexes(self) -> IndexManager: ...
    @property
    def upload_journal(self) -> UploadJournal: ...
    @property
    def records(self) -> RecordService: ...
    @property
    def protection(self) -> DataProtection: ...
