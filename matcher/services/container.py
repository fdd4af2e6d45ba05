"""Composition root: everything the CLI and the API call, built once from Settings.

Models load lazily (first use) and exactly once per process; nothing here is global:
the entry point builds ``Services(settings)`` and passes it down.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from matcher.errors import FileTooLargeError, InputError
from matcher.faces.pipeline import Pipeline
from matcher.faces.types import Face
from matcher.imaging import DecodedImage, ImageLimits, decode_image
from matcher.settings import Settings


@dataclass(frozen=True)
class AnalyzedImage:
    image: DecodedImage
    faces: list[Face]


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._pipelines: dict[str, Pipeline] = {}

    # ---- storage (created on first use, migrated to the latest schema) ----
    @cached_property
    def engine(self):
        from matcher.store.db import make_engine, migrate

        engine = make_engine(self.settings.sqlalchemy_url)
        migrate(engine)
        return engine

    @cached_property
    def sessions(self):
        from matcher.store.db import session_factory

        return session_factory(self.engine)

    @cached_property
    def blobs(self):
        from matcher.store.blobs import BlobStore

        return BlobStore(self.settings.data_dir / "blobs")

    @cached_property
    def indexes(self):
        from matcher.index.faiss_index import set_faiss_threads
        from matcher.index.manager import IndexManager

        set_faiss_threads(self.settings.threads)
        return IndexManager(self.settings.data_dir / "indexes", self.sessions, mode=self.settings.index_mode)

    def pack_info(self, pack: str | None = None):
        from matcher.faces.packs import get_pack

        return get_pack(self.settings.models_dir, pack or self.settings.pack)

    def index(self, side: str, pack: str | None = None):
        info = self.pack_info(pack)
        return self.indexes.get(side, info.name, info.embedding_dim)

    def search_photo(self, data: bytes, side: str, top_k: int, actor: str, role: str, pack: str | None = None, request_id: str | None = None):
        """Faces of one photo searched against one side; audited (invariant 4)."""
        from matcher.services.search import search_records
        from matcher.store import repo

        if top_k < 1 or top_k > 1000:
            raise InputError("top must be between 1 and 1000")
        analyzed = self.analyze_bytes(data, pack)
        queries = np.stack([f.embedding for f in analyzed.faces]) if analyzed.faces else np.zeros((0, 1), np.float32)
        index = self.index(side, pack)
        with self.sessions.begin() as session:
            candidates = search_records(session, index, queries, top_k)
            repo.audit(
                session, actor, role, "search", "side", side, request_id,
                faces=len(analyzed.faces), results=[c.record_id for c in candidates],
            )
        return analyzed, candidates

    @cached_property
    def records(self):
        from matcher.services.records import RecordService

        return RecordService(self)

    @cached_property
    def jobs(self):
        from matcher.services.jobs import JobRunner

        return JobRunner()

    # ---- users and tokens ----
    def add_user(self, name: str, role: str, actor: str) -> dict:
        from matcher.services.accounts import create_user
        from matcher.store import repo

        with self.sessions.begin() as session:
            user = create_user(session, name, role)
            repo.audit(session, actor, "admin", "user_create", "user", name, granted_role=role)
            return {"id": user.id, "name": user.name, "role": user.role}

    def list_users(self) -> list[dict]:
        from sqlalchemy import select

        from matcher.store.models import User

        with self.sessions() as session:
            return [{"id": u.id, "name": u.name, "role": u.role, "disabled": u.disabled} for u in session.scalars(select(User).order_by(User.id))]

    def create_token(self, user_name: str, days: float | None, actor: str) -> dict:
        from sqlalchemy import select

        from matcher.services.accounts import create_token
        from matcher.services.records import NotFoundError
        from matcher.store import repo
        from matcher.store.models import User

        with self.sessions.begin() as session:
            user = session.scalar(select(User).where(User.name == user_name))
            if user is None:
                raise NotFoundError(f"no user '{user_name}'")
            token, row = create_token(session, user, days or self.settings.token_days)
            repo.audit(session, actor, "admin", "token_create", "user", user_name, token_id=row.id)
            return {"token": token, "id": row.id, "user": user.name, "role": user.role, "expires_at": row.expires_at.isoformat() if row.expires_at else None}

    def revoke_token(self, token_id: int, actor: str) -> dict:
        from matcher.services.records import NotFoundError
        from matcher.store import repo
        from matcher.store.models import Token

        with self.sessions.begin() as session:
            row = session.get(Token, token_id)
            if row is None:
                raise NotFoundError(f"no token {token_id}")
            row.revoked = True
            repo.audit(session, actor, "admin", "token_revoke", "token", str(token_id))
            return {"id": token_id, "revoked": True}

    def import_archive(self, folder: Path, actor: str) -> dict:
        import datetime as dt

        from matcher.ingest.archive import scan_folder
        from matcher.ingest.indexer import ArchiveIndexer

        started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        summary = ArchiveIndexer(self, "child", actor=actor).run(scan_folder(folder))
        touched = self.match_records(self.records_with_media_since("child", started))
        return {**summary.as_dict(), "report": None, "candidates_touched": touched}

    def export_case(self, candidate_id: int, actor: str, role: str, request_id: str | None = None) -> bytes:
        """ZIP with case.json (both records, evidence, decisions) and the evidence crops."""
        import io
        import json
        import zipfile

        from matcher.errors import InputError
        from matcher.store import repo
        from matcher.store.models import Face

        case = self.candidate(candidate_id, actor, role, request_id)
        if case["status"] != "confirmed":
            raise InputError("only confirmed candidates can be exported for verification")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("case.json", json.dumps(case, indent=2, default=str))
            with self.sessions.begin() as session:
                for pair in case["evidence"].get("pairs", []):
                    for key in ("report_face", "child_face"):
                        face = session.get(Face, pair[key])
                        if face is not None and face.crop_sha256:
                            archive.writestr(f"crops/{key}-{face.id}.jpg", self.blobs.get(face.crop_sha256))
                repo.audit(session, actor, role, "export", "candidate", str(candidate_id), request_id)
        return buf.getvalue()

    # ---- review ----
    def match_records(self, record_ids: list[int], pack: str | None = None) -> int:
        """Match records that got new faces against the other side (and their own, for duplicates)."""
        from matcher.review.matching import Matcher

        matcher = Matcher(self, pack)
        with self.sessions.begin() as session:
            return len(matcher.match(session, record_ids))

    def records_with_media_since(self, side: str, since) -> list[int]:
        from sqlalchemy import select

        from matcher.store.models import Media, Record

        with self.sessions() as session:
            return list(session.scalars(select(Record.id).join(Media).where(Record.side == side, Media.received_at >= since).distinct()))

    def queue(self, status: str | None = "open", limit: int = 50, kind: str | None = None) -> list[dict]:
        from sqlalchemy import select

        from matcher.review.matching import strength_key
        from matcher.store.models import Candidate

        with self.sessions() as session:
            query = select(Candidate)
            if status:
                query = query.where(Candidate.status == status)
            if kind:
                query = query.where(Candidate.kind == kind)
            rows = sorted(session.scalars(query), key=strength_key)[:limit]
            return [self._candidate_dict(session, c) for c in rows]

    def candidate(self, candidate_id: int, actor: str, role: str, request_id: str | None = None) -> dict:
        """One candidate with both records' details; the view is audited."""
        from matcher.review.decisions import CandidateNotFound
        from matcher.store import repo
        from matcher.store.models import Candidate, Decision, Record

        with self.sessions.begin() as session:
            c = session.get(Candidate, candidate_id)
            if c is None:
                raise CandidateNotFound(f"no candidate {candidate_id}")
            out = self._candidate_dict(session, c)
            out["records"] = {key: _record_dict(session.get(Record, rid)) for key, rid in (("report", c.report_id), ("child", c.child_id))}
            out["decisions"] = [
                {"verdict": d.verdict, "reviewer": d.reviewer, "note": d.note, "at": d.decided_at.isoformat()}
                for d in session.query(Decision).filter(Decision.candidate_id == c.id).order_by(Decision.id)
            ]
            repo.audit(session, actor, role, "candidate_view", "candidate", str(c.id), request_id)
            return out

    def decide(self, candidate_id: int, verdict: str, reviewer: str, note: str | None, role: str = "reviewer", request_id: str | None = None) -> dict:
        from matcher.review.decisions import decide

        with self.sessions.begin() as session:
            c = decide(session, candidate_id, verdict, reviewer, note, self.settings.two_person_rule, role, request_id)
            return self._candidate_dict(session, c)

    def audit_events(self, since=None, limit: int = 1000) -> list[dict]:
        from sqlalchemy import select

        from matcher.store.models import AuditEvent

        with self.sessions() as session:
            query = select(AuditEvent).order_by(AuditEvent.id)
            if since is not None:
                query = query.where(AuditEvent.at >= since)
            return [
                {"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "role": e.role, "action": e.action, "object_type": e.object_type, "object_id": e.object_id, "request_id": e.request_id, "details": e.details}
                for e in session.scalars(query.limit(limit))
            ]

    @staticmethod
    def _candidate_dict(session, c) -> dict:
        from matcher.store.models import Record

        report, child = session.get(Record, c.report_id), session.get(Record, c.child_id)
        return {"id": c.id, "kind": c.kind, "report_id": report.external_id, "child_id": child.external_id, "score": round(c.score, 4), "fmr": c.fmr, "status": c.status, "evidence": c.evidence}

    @cached_property
    def limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.settings.max_upload_bytes, max_pixels=self.settings.max_pixels)

    def pipeline(self, pack: str | None = None) -> Pipeline:
        name = pack or self.settings.pack
        with self._lock:
            if name not in self._pipelines:
                from matcher.faces.loader import load_pipeline

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


def _record_dict(record) -> dict:
    """What a reviewer sees of a record (the family contact stays with staff)."""
    fields = ("side", "external_id", "name", "sex", "birth_year", "shelter", "event_on", "event_at", "languages", "notes", "status")
    return {f: (str(getattr(record, f)) if f == "event_on" and getattr(record, f) else getattr(record, f)) for f in fields}
