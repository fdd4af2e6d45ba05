"""Erasure of a record (invariant 5, docs/architecture.md): media files, faces, embeddings, index entries, candidates,
cohort scores and sightings go; a tombstone and an audit row stay."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from matcher.errors import NotFoundError
from matcher.faces.packs import Pack
from matcher.index.manager import IndexManager
from matcher.ingest.persist import MediaWriter
from matcher.review import cohorts
from matcher.review.normalization import CohortSizes, prior_cohort
from matcher.services.access import load_record
from matcher.sightings.persist import forget_record as forget_sightings
from matcher.store import index_state, repo
from matcher.store.tables import Candidate, Erasure, Face, Media, Record
from matcher.types import Principal


def erase_record(
    sessions: sessionmaker[Session],
    indexes: IndexManager,
    writer: MediaWriter,
    info: Pack,
    sizes: CohortSizes,
    principal: Principal,
    record_id: int,
    reason: str = "erased",
) -> dict:
    """Remove media files, faces, embeddings, index entries and candidates; keep a tombstone.
    ``info``: the service's pack (whose index loses the faces); ``sizes``: the cohorts the
    record's scores leave."""
    with sessions.begin() as session:
        record = load_record(session, record_id, principal, write=True) if principal.role != "admin" else session.get(Record, record_id)
        if record is None:
            raise NotFoundError(f"no record {record_id}")
        side, number = record.side, record.external_id
        face_ids = list(session.scalars(select(Face.id).join(Media).where(Media.record_id == record.id)))
        if face_ids:  # every process drops these faces before its next search; first, so the lock order
            index_state.bump_removals(session, side, [info.name], face_ids)  # is that of uploads (store.index_state)
        media_shas = list(session.scalars(select(Media.sha256).where(Media.record_id == record.id)))
        crop_shas = [s for s in session.scalars(select(Face.crop_sha256).join(Media).where(Media.record_id == record.id)) if s]
        candidates = session.scalars(select(Candidate.id).where((Candidate.report_id == record.id) | (Candidate.child_id == record.id))).all()
        session.query(Candidate).filter(Candidate.id.in_(candidates)).delete(synchronize_session=False) if candidates else None
        cohorts.forget(session, {record.id}, sizes, prior_cohort(*info.impostor_prior))  # its scores leave other records' cohorts too
        crop_shas += sorted(forget_sightings(session, record.id))  # its sightings' crops, sources only they used
        session.delete(record)
        session.add(Erasure(side=side, external_id=number, media_sha256=media_shas, erased_by=principal.actor, blob_sha256=sorted({*media_shas, *crop_shas})))
        repo.audit(
            session,
            principal.actor,
            principal.role,
            reason,
            side,
            str(record_id),
            number=number,
            media=len(media_shas),
            faces=len(face_ids),
            candidates=len(candidates),
        )
    if face_ids:
        indexes.remove(side, info.name, info.embedding_dim, np.array(face_ids, np.int64))
    writer.delete_unreferenced({*media_shas, *crop_shas})  # a crash before this: protection.fsck finishes it
    return {"erased": record_id, "media": len(media_shas), "faces": len(face_ids), "candidates": len(candidates)}
