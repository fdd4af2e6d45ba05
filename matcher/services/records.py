"""Records as people use them: create, read with visibility rules, upload media, pick a
face, status, erasure. Every method takes the acting ``Principal``; the API stays thin.

Visibility (invariant 4, docs/architecture.md): a family sees only reports it created (anything else answers
404, so it cannot even learn that a record exists); shelter staff see children;
reviewers and admins see both. Candidates and scores are never shown to families.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from matcher.errors import (
    ConflictError,
    CorruptImageError,
    CorruptVideoError,
    EmptyFileError,
    FileTooLargeError,
    ForbiddenError,
    ImageTooLargeError,
    InputError,
    MatcherError,
    MediaPurgedError,
    NotFoundError,
    UnsupportedMediaError,
)
from matcher.faces.analyzer import Analyzer
from matcher.faces.capacity import ModelCapacity
from matcher.imaging import strip_metadata
from matcher.index.manager import IndexManager
from matcher.ingest.analysis import PhotoResult, analyze_media, video_options
from matcher.ingest.match_batcher import MatchBatcher
from matcher.ingest.persist import MediaWriter, store_media
from matcher.review.normalization import CohortSizes
from matcher.services.access import SIDE_ROLES, WRITE_ROLES, load_record
from matcher.services.erasure import erase_record
from matcher.store import index_state, repo
from matcher.store.blobs import BlobStore
from matcher.store.db import is_busy
from matcher.store.tables import (
    Face,
    Media,
    Record,
    utcnow,
)
from matcher.types import FamilyStatus, Principal, RecordStatus, Role, Side

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadOutcome:
    media_id: int
    kind: str
    faces: list[dict]
    needs_pick: bool
    warnings: tuple[str, ...]
    age_at_photo: float | None = None  # the child's age in this photo, as given (years)


def report_status(session: Session, record: Record) -> str:
    """What a family is told: received, under review, or closed — never more."""
    if record.status in (RecordStatus.CLOSED, RecordStatus.WITHDRAWN):
        return FamilyStatus.CLOSED
    indexed = session.scalar(select(func.count()).select_from(Face).join(Media).where(Media.record_id == record.id, Face.selected.is_(True)))
    return FamilyStatus.UNDER_REVIEW if indexed else FamilyStatus.RECEIVED


def public_record(session: Session, record: Record, principal: Principal) -> dict:
    out = {
        "id": record.id,
        "number": record.external_id,
        "side": record.side,
        "name": record.name,
        "sex": record.sex,
        "birth_year": record.birth_year,
        "birth_date": record.birth_date.isoformat() if record.birth_date else None,
        "event_on": record.event_on.isoformat() if record.event_on else None,
        "event_at": record.event_at,
        "languages": record.languages,
        "notes": record.notes,
        "created_at": record.created_at.isoformat(),
    }
    if record.side == Side.CHILD:
        out["shelter"] = record.shelter
    if record.side == Side.REPORT:
        out["status"] = report_status(session, record)
        if principal.role in ("family", "admin"):
            out["contact"] = record.contact  # staff-only contact: the family's own data
    else:
        out["status"] = record.status
    out["media"] = [
        {
            "id": m.id,
            "kind": m.kind,
            "original_name": m.original_name,
            "faces": m.face_count,
            "received_at": m.received_at.isoformat(),
            "age_at_photo": m.age_at_photo,
        }
        for m in sorted(record.media, key=lambda m: m.id)
    ]
    return out


class RecordService:
    """``match_after_upload(record_id)``: matching once a photo's faces are committed
    (``deferrable_match`` in the wiring); ``log_erasures()``: the tombstones copied outside
    DATA_DIR after each erasure (``DataProtection.log_erasures``)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        analyzer: Analyzer,
        indexes: IndexManager,
        writer: MediaWriter,
        match_after_upload: Callable[[int], None],
        log_erasures: Callable[[], int],
        cohort_sizes: CohortSizes,
    ) -> None:
        self._sessions = sessions
        self._cohort_sizes = cohort_sizes
        self._blobs = blobs
        self._analyzer = analyzer
        self._indexes = indexes
        self._writer = writer
        self._match = match_after_upload
        self._log_erasures = log_erasures

    def get(self, record_id: int, principal: Principal, side: str) -> dict:
        with self._sessions() as session:
            record = load_record(session, record_id, principal)
            if record.side != side:
                raise NotFoundError(f"no {side} {record_id}")
            return public_record(session, record, principal)

    def list(self, principal: Principal, side: str, limit: int = 50, offset: int = 0, owned_by: int | None = None, query: str | None = None) -> list[dict]:
        """``owned_by``: only records that account created (a shelter's own children);
        ``query``: number or name contains it, ignoring case."""
        if principal.role not in SIDE_ROLES[side]:
            raise ForbiddenError(f"a {principal.role} account cannot list {side} records")
        with self._sessions() as session:
            select_ = select(Record).where(Record.side == side, Record.status != "withdrawn").order_by(Record.id)
            if principal.role == "family":
                select_ = select_.where(Record.owner_id == principal.user_id)
            if owned_by is not None:
                select_ = select_.where(Record.owner_id == owned_by)
            if query and query.strip():
                pattern = "%" + query.strip().replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"  # % and _ as typed
                select_ = select_.where(or_(Record.external_id.ilike(pattern, escape="!"), Record.name.ilike(pattern, escape="!")))
            return [public_record(session, r, principal) for r in session.scalars(select_.offset(offset).limit(limit))]

    # ---- create / update ----
    def create(self, principal: Principal, side: str, fields: dict) -> dict:
        if principal.role not in WRITE_ROLES[side]:
            raise ForbiddenError(f"a {principal.role} account cannot create {side} records")
        number = fields.pop("number", None) or f"{'R' if side == Side.REPORT else 'C'}-{dt.date.today():%Y%m%d}-{secrets.token_hex(3)}"
        with self._sessions.begin() as session:
            if repo.get_record(session, side, number) is not None:
                raise ConflictError(f"a {side} record numbered {number} already exists")
            record = repo.upsert_record(session, side, number, fields)
            if side == Side.REPORT or principal.role == Role.SHELTER:  # a family's report; a shelter's own child
                record.owner_id = principal.user_id
            repo.audit(session, principal.actor, principal.role, "record_create", side, str(record.id))
            session.flush()
            return public_record(session, record, principal)

    def update(self, principal: Principal, record_id: int, side: str, fields: dict) -> dict:
        with self._sessions.begin() as session:
            record = load_record(session, record_id, principal, write=True)
            if record.side != side:
                raise NotFoundError(f"no {side} {record_id}")
            for key, value in fields.items():
                if key in repo.RECORD_FIELDS:
                    setattr(record, key, value)
            repo.audit(session, principal.actor, principal.role, "record_update", side, str(record.id), fields=sorted(fields))
            return public_record(session, record, principal)

    def check_writable(self, principal: Principal, record_id: int, side: str) -> None:
        with self._sessions() as session:
            record = load_record(session, record_id, principal, write=True)
            if record.side != side:
                raise NotFoundError(f"no {side} {record_id}")

    # ---- media ----
    def upload(self, principal: Principal, record_id: int, side: str, data: bytes, filename: str | None, given=None) -> UploadOutcome:
        """Analyse, then store blobs and rows in one transaction, then index and match.
        Anything that fails before the commit leaves no row behind (blobs are content-
        addressed; an unreferenced one is removed here). ``given``: the child's age in this
        photo as someone gave it (``services.uploads.GivenAge``), checked before any work."""
        with self._sessions() as session:
            record = load_record(session, record_id, principal, write=True)
            if record.side != side:
                raise NotFoundError(f"no {side} {record_id}")
            if record.status != "open":
                raise InputError("this record is closed; it takes no new photos")
            known = repo.known_media(session, side, record.external_id)
            age_at_photo, dated = given.resolve(record.known_birth_year) if given else (None, None)
        pack = self._analyzer.pack_info()
        models = self._analyzer
        result = analyze_media(data, filename or "upload", models.pipeline(), models.limits, video_options(models.settings, pack.name))
        if result.error_code is not None:
            raise _typed_error(result)
        if result.sha256 in known:
            raise InputError("this file is already part of the record")
        auto = side == Side.CHILD or result.kind == "video" or len(result.faces) == 1

        def rows(session: Session) -> tuple[tuple[int, list[dict]], list[tuple[int, bytes]]]:
            record = session.get(Record, record_id)
            if record is None or record.status != "open":  # erased or closed while the photo was analysed
                raise NotFoundError(f"no record {record_id}") if record is None else InputError("this record is closed; it takes no new photos")
            media, templates = store_media(session, record, result, pack.name, filename, auto_select=auto, age_at_photo=age_at_photo)
            if dated is not None and media.taken_at is None:
                media.taken_at = dated  # the year given dates a photo that carries no date itself
            repo.audit(session, principal.actor, principal.role, "media_upload", "media", str(media.id), record=record.id, faces=len(result.faces))
            return (media.id, _faces_of(session, media.id)), templates

        # a process killed before the commit: its blobs go at the next start; a failure: at once
        (media_id, faces), templates = self._writer.write([result], rows, cleanup=True)
        self._writer.index(side, pack.name, pack.embedding_dim, templates)
        if templates:
            self._match(record_id)
        return UploadOutcome(media_id, result.kind, faces, needs_pick=not auto and len(result.faces) > 1, warnings=result.warnings, age_at_photo=age_at_photo)

    def media_faces(self, principal: Principal, record_id: int, media_id: int) -> list[dict]:
        with self._sessions() as session:
            record = load_record(session, record_id, principal)
            media = session.get(Media, media_id)
            if media is None or media.record_id != record.id:
                raise NotFoundError(f"no media {media_id} in this record")
            return _faces_of(session, media_id)

    def pick_face(self, principal: Principal, record_id: int, face_id: int) -> dict:
        """The family says which face in their photo is their child."""
        info = self._analyzer.pack_info()
        pack = info.name
        with self._sessions.begin() as session:
            record = load_record(session, record_id, principal, write=True)
            face = session.get(Face, face_id)
            if face is None or face.media.record_id != record.id:
                raise NotFoundError(f"no face {face_id} in this record")
            side = record.side
            siblings = session.scalars(select(Face).where(Face.media_id == face.media_id)).all()
            # every other face of the photo, whatever it was read as: a pick at the same moment may have chosen one
            dropped = [f.id for f in siblings if f.id != face.id]
            # not an append: other processes apply it before their next search (first: lock order, see store.index_state)
            index_state.bump(session, side, pack, removed=dropped, added=[face.id])
            # one statement, not one flag per loaded row: two picks at the same moment leave exactly one chosen face
            session.execute(
                update(Face)
                .where(Face.media_id == face.media_id)
                .values(selected=case((Face.id == face.id, True), else_=False))
                .execution_options(synchronize_session=False)
            )
            repo.audit(session, principal.actor, principal.role, "face_pick", "face", str(face.id), record=record.id)
        # not remove/add by hand: a concurrent pick's changes must apply in commit order, which
        # catching up with the database's change log does (index.manager); then saved
        self._indexes.get(side, pack, info.embedding_dim)
        self._indexes.save(side, pack)
        self._match(record_id)
        return {"face_id": face.id, "selected": True}

    def crop(self, principal: Principal, face_id: int) -> bytes:
        with self._sessions() as session:
            face = session.get(Face, face_id)
            if face is None:
                raise NotFoundError(f"no face {face_id}")
            if principal.role not in ("reviewer", "admin"):
                load_record(session, face.media.record_id, principal)  # family: own report; shelter: children
            if principal.role in ("reviewer", "admin"):
                repo.audit(session, principal.actor, principal.role, "crop_view", "face", str(face_id))
                session.commit()
            return self._blobs.get(face.crop_sha256)

    def image(self, principal: Principal, media_id: int) -> bytes:
        """An original photo with all metadata (EXIF, GPS) stripped."""
        with self._sessions() as session:
            media = session.get(Media, media_id)
            if media is None:
                raise NotFoundError(f"no media {media_id}")
            load_record(session, media.record_id, principal)
            if media.kind != "photo":
                raise InputError("only photos can be viewed; videos are shown as face crops")
            if media.purged_at is not None:
                raise MediaPurgedError("this original was removed under the retention policy; its face crops remain")
            if principal.role in ("reviewer", "admin"):
                repo.audit(session, principal.actor, principal.role, "media_view", "media", str(media_id))
                session.commit()
            return strip_metadata(self._blobs.get(media.sha256), self._analyzer.limits)

    # ---- queries for staff tools ----
    def with_media_since(self, side: str, since: dt.datetime) -> list[int]:
        """Ids of one side's records that received media at or after ``since`` (to match them)."""
        with self._sessions() as session:
            return list(session.scalars(select(Record.id).join(Media).where(Record.side == side, Media.received_at >= since).distinct()))

    def erase_target(self, record_id: int) -> dict | None:
        """What the admin erase form shows of a record (any side, withdrawn included; the caller
        has checked the admin role), or None."""
        with self._sessions() as session:
            r = session.get(Record, record_id)
            if r is None:
                return None
            return {"id": r.id, "side": r.side, "number": r.external_id, "name": r.name, "media": len(r.media), "status": r.status}

    # ---- erasure (services.erasure) ----
    def erase(self, principal: Principal, record_id: int, reason: str = "erased") -> dict:
        """Remove media files, faces, embeddings, index entries and candidates; keep a tombstone."""
        out = erase_record(self._sessions, self._indexes, self._writer, self._analyzer.pack_info(), self._cohort_sizes, principal, record_id, reason)
        self._log_erasures()  # the tombstone outside DATA_DIR, re-applied by a restore
        return out


def deferrable_match(capacity: ModelCapacity, batcher: MatchBatcher, record_id: int) -> None:
    """Match a record whose photo is committed. When a concurrent matcher collided with this
    one (unique constraint) or the database stayed busy, the upload still succeeded: the
    record stays marked ``needs_match`` and the next matching run finishes it."""
    capacity.release_early()  # the model work is done; matching does not hold a model slot
    try:
        batcher.match([record_id])  # now, or right after the run in progress (ingest.match_batcher)
    except Exception as exc:
        if not (isinstance(exc, IntegrityError) or is_busy(exc)):
            raise
        log.warning("matching of record %d deferred to the next run (%s)", record_id, type(exc).__name__)


def _faces_of(session: Session, media_id: int) -> list[dict]:
    faces = session.scalars(select(Face).where(Face.media_id == media_id).order_by(Face.id)).all()
    return [
        {
            "id": f.id,
            "box": [round(v, 1) for v in (f.x1, f.y1, f.x2, f.y2)],
            "quality": round(f.quality, 3),
            "selected": f.selected,
            "time": f.frame_time,
            "track": f.track,
            "crop_url": f"/v1/faces/{f.id}/crop",
        }
        for f in faces
    ]


# a failed analysis's error code -> its typed error (each has its own HTTP status)
MEDIA_ERRORS = {cls.code: cls for cls in (EmptyFileError, FileTooLargeError, ImageTooLargeError, UnsupportedMediaError, CorruptImageError, CorruptVideoError)}


def _typed_error(result: PhotoResult) -> MatcherError:
    return MEDIA_ERRORS.get(result.error_code, InputError)(result.error_message or "this file could not be used")


__all__ = ["RecordService", "UploadOutcome", "load_record", "report_status", "utcnow"]
