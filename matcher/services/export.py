"""Export of a confirmed case for the verification team (e.g. DNA): a ZIP of case.json
(both records, evidence, decisions) and the evidence face crops. Audited (invariant 4, docs/architecture.md)."""

from __future__ import annotations

import io
import json
import zipfile

from sqlalchemy.orm import Session, sessionmaker

from matcher.errors import InputError
from matcher.services.review import ReviewService
from matcher.store import repo
from matcher.store.blobs import BlobStore
from matcher.store.tables import Face
from matcher.types import CandidateStatus


class CaseExport:
    def __init__(self, sessions: sessionmaker[Session], blobs: BlobStore, review: ReviewService) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._review = review

    def case(self, candidate_id: int, actor: str, role: str, request_id: str | None = None) -> bytes:
        """ZIP bytes; only confirmed candidates can be exported."""
        case = self._review.candidate(candidate_id, actor, role, request_id)
        if case["status"] != CandidateStatus.CONFIRMED:
            raise InputError("only confirmed candidates can be exported for verification")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("case.json", json.dumps(case, indent=2, default=str))
            with self._sessions.begin() as session:
                for pair in case["evidence"].get("pairs", []):
                    for key in ("report_face", "child_face"):
                        face = session.get(Face, pair[key])
                        if face is not None and face.crop_sha256:
                            archive.writestr(f"crops/{key}-{face.id}.jpg", self._blobs.get(face.crop_sha256))
                repo.audit(session, actor, role, "export", "candidate", str(candidate_id), request_id)
        return buf.getvalue()
