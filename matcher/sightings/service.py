"""The sightings use case (``services.sightings``): sweep a file, list and open sightings,
decide, and serve a sighting's crops and source video to reviewers.

A sweep (``sweep``) reads the file into probes in memory (``sightings.probes``), then in one
transaction searches them (``sightings.sweep``), writes the sightings that are new
(``sightings.persist``) and audits it as a search; when a concurrent sweep of the same file
committed first (a unique source or sighting), the transaction runs again and finds what that
one stored, and blobs are only deleted when no row uses them. Callers (CLI, API, pages, the ``sweep`` job)
have checked the role: sightings, like candidates, are for reviewers and admins only
(invariant 4, docs/architecture.md), and every view and decision is audited.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from matcher.errors import InputError, NotFoundError
from matcher.imaging import strip_metadata
from matcher.review.ranking import queue_key
from matcher.services.review import record_dict
from matcher.sightings import persist
from matcher.sightings.decisions import decide_sighting
from matcher.sightings.needs import SightingServices
from matcher.sightings.persist import SourceMeta
from matcher.sightings.probes import Footage, check_upload, read_footage
from matcher.sightings.sweep import ProbeResult, make_gate, plan_sightings, search_probes
from matcher.store import repo
from matcher.store.db import is_busy
from matcher.store.tables import Record, Sighting, SightingDecision, SightingFace, SightingSource
from matcher.types import CandidateKind, CandidateStatus, MediaKind, Role, Side

SIDES = {"reports": [Side.REPORT], "children": [Side.CHILD], "both": [Side.REPORT, Side.CHILD]}
VIDEO_TYPES = {"mp4": "video/mp4", "mov": "video/mp4", "webm": "video/webm", "matroska": "video/webm", "avi": "video/x-msvideo"}


STORE_ATTEMPTS = 3  # a sweep's search-and-store transaction, run again after a collision


def collided(exc: BaseException) -> bool:
    """A concurrent transaction got there first: a unique row (the same file's source or
    sighting) or a database busy past its wait. Nothing was committed: running it again is safe."""
    return isinstance(exc, IntegrityError) or is_busy(exc)


def sides_of(choice: str) -> list[Side]:
    """``--side`` / ``side=``: ``reports``, ``children`` or ``both``."""
    try:
        return SIDES[choice]
    except KeyError:
        raise InputError("side must be reports, children or both") from None


@dataclass(frozen=True)
class SweepOutcome:
    """What one swept file gave: counts, every probe with its best candidates, the sightings."""

    sha256: str
    kind: str
    duration: float | None
    frames_sampled: int
    tracks_seen: int
    tracks_searched: int
    tracks_kept: int
    probes: list[dict]
    sightings: list[dict]
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "sha256": self.sha256,
            "kind": self.kind,
            "duration": self.duration,
            "frames_sampled": self.frames_sampled,
            "tracks": {"seen": self.tracks_seen, "searched": self.tracks_searched, "kept": self.tracks_kept},
            "sightings": self.sightings,
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 2),
            "timings": self.timings,
        }


def probe_dict(result: ProbeResult, kept: set[int]) -> dict:
    """One JSON object per track or face: when it was seen and its best candidates per side."""
    return {
        **result.probe.summary(),
        "searched": result.searched,
        "sighting": result.probe.id in kept,
        "candidates": {str(side): [h.as_dict() for h in hits] for side, hits in result.hits.items()},
    }


def span_of(s: Sighting) -> list[float | None]:
    """Seconds into the video, to the hundredth (as the probes print them); photos: None."""
    return [None if v is None else round(v, 2) for v in (s.span_start, s.span_end)]


def sighting_dict(s: Sighting, record: Record, source: SightingSource | None) -> dict:
    """A sighting as reviewers see it in lists (no file name: the page shows it)."""
    return {
        "id": s.id,
        "kind": s.kind,
        "record": record.external_id,
        "record_id": record.id,
        "side": s.side,
        "status": s.status,
        "score": round(s.score, 4),
        "rank_score": round(record_rank(s), 4),
        "raw_score": round(s.raw_score, 4),
        "fmr": s.fmr,
        "fpir": s.fpir,
        "plausible": s.plausible,
        "track": s.track,
        "span": span_of(s),
        "source": {
            "id": source.id,
            "kind": source.kind,
            "sha256": source.sha256,
            "duration": source.duration,
            "taken_on": source.taken_on.isoformat() if source.taken_on else None,
            "place": source.place,
        }
        if source is not None
        else None,
        "source_sha256": s.source_sha256,
        "swept_by": s.swept_by,
        "created_at": s.created_at.isoformat(),
    }


def queue_row(s: Sighting, record: Record, source: SightingSource | None) -> dict:
    """A sighting as a row of the reviewers' queue (``GET /v1/queue``, ``matcher queue``):
    the fields every queue row has (``id``, ``kind``, ``report_id``, ``child_id``, ``score``,
    ``fmr``, ``status``, ``evidence``; the side it is not of is None), the list's fields
    (``sighting_dict``) and where to open it. Numbers and times only, like the candidates'
    rows: no crop, no file name (the sighting's own page shows them, audited)."""
    return {
        **sighting_dict(s, record, source),
        "report_id": record.external_id if s.side == Side.REPORT else None,
        "child_id": record.external_id if s.side == Side.CHILD else None,
        "evidence": s.evidence or {},
        "url": f"/v1/sightings/{s.id}",
        "page": f"/review/sightings/{s.id}",
    }


def strength(s: Sighting) -> tuple:
    """Queue order (``review.ranking.queue_key``; a sighting has no name: unknown)."""
    return queue_key(s.plausible, None, s.fmr, s.score, CandidateKind.SIGHTING, s.id)


def record_rank(s: Sighting) -> float:
    """What orders one record's sightings (``MATCHER_RANK_SCORE`` on the footage's own
    cohort, kept in the evidence); the cross-record score for sightings stored without it."""
    value = ((s.evidence or {}).get("rank_score") or {}).get("value")
    return float(value) if value is not None else float(s.score)


def in_record_order(s: Sighting) -> tuple:
    """One record's sightings: plausible first, then the rank score."""
    return (s.plausible is False, -record_rank(s), s.id)


class SightingService:
    def __init__(self, services: SightingServices) -> None:
        self.services = services

    # ---- sweeping ----
    def sweep(
        self,
        data: bytes,
        file_name: str | None,
        sides: list[str],
        actor: str,
        role: str,
        top_k: int = 5,
        taken_on: dt.date | None = None,
        place: str | None = None,
        request_id: str | None = None,
        pack: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> SweepOutcome:
        """Sweep one file against ``sides``; new sightings are stored, nothing else is."""
        if not 1 <= top_k <= 100:
            raise InputError("top must be between 1 and 100")
        svc = self.services
        started = time.perf_counter()
        footage = read_footage(svc, data, pack, progress)
        analysed = time.perf_counter()
        meta = SourceMeta(actor, file_name, taken_on, place)
        for attempt in range(1, STORE_ATTEMPTS + 1):
            new_blobs: list[str] = []
            try:
                with svc.sessions.begin() as session:
                    outcome = self._search_and_store(session, footage, data, sides, top_k, meta, pack, new_blobs)
                    repo.audit(
                        session,
                        actor,
                        role,
                        "search",
                        "sweep",
                        footage.sha256,
                        request_id,
                        kind=str(footage.kind),
                        sides=[str(s) for s in sides],
                        faces=outcome["seen"],
                        searched=outcome["searched"],
                        results=[s["record"] for s in outcome["sightings"]],
                        sightings=[s["id"] for s in outcome["sightings"]],
                        facts_given=sorted(k for k, v in (("taken_on", taken_on), ("place", place)) if v),
                    )
                break
            except BaseException as exc:
                self._discard(new_blobs)
                if attempt == STORE_ATTEMPTS or not collided(exc):
                    raise
                # a concurrent sweep of the same file committed its source or sightings first:
                # searched again, this transaction finds them (and stores nothing twice)
                time.sleep(0.05 * attempt)
        done = time.perf_counter()
        return SweepOutcome(
            footage.sha256,
            str(footage.kind),
            footage.duration,
            footage.frames_sampled,
            outcome["seen"],
            outcome["searched"],
            outcome["kept"],
            outcome["probes"],
            outcome["sightings"],
            footage.warnings,
            done - started,
            {"analyse_s": round(analysed - started, 3), "search_store_s": round(done - analysed, 3)},
        )

    def _discard(self, hashes: list[str]) -> None:
        """Blobs an uncommitted attempt wrote, unless a row or a queued job now uses them (a
        concurrent sweep of the same file, or an upload, may have committed the same bytes)."""
        if not hashes:
            return
        with self.services.sessions() as session:
            gone = persist.unreferenced(session, hashes)
        for sha in gone:
            self.services.blobs.delete(sha)

    def _search_and_store(
        self, session, footage: Footage, data: bytes, sides: list[str], top_k: int, meta: SourceMeta, pack: str | None, new_blobs: list[str]
    ) -> dict:
        svc = self.services
        info = svc.pack_info(pack)
        gate = make_gate(session, svc, sides, pack)
        results = search_probes(
            session, svc, footage.probes, sides, top_k, gate, meta.taken_on or (footage.taken_at.date() if footage.taken_at else None), pack
        )
        plans = plan_sightings(results)
        known = persist.existing(session, footage.sha256, (p.record_id for p in plans))
        fresh = [p for p in plans if p.record_id not in known]
        numbers = {p.record_id: p.number for p in plans}
        sightings = [{**self._brief(s, numbers[s.record_id]), "new": False} for s in known.values()]
        if fresh:
            crops = {p.record_id: persist.choose_crops(session, p, info.name, info.embedding_dim) for p in fresh}
            _, created = persist.put_blobs(svc.blobs, [data])  # the original first, then the crops (invariant 2, docs/architecture.md)
            new_blobs += created
            source = persist.source_row(session, footage, meta)
            source_info = persist.source_dict(footage, meta)
            for plan in fresh:
                hashes, created = persist.put_blobs(svc.blobs, [c.jpeg for c in crops[plan.record_id]])
                new_blobs += created
                row = persist.add_sighting(session, source, plan, gate, crops[plan.record_id], hashes, meta, source_info)
                sightings.append({**self._brief(row, plan.number), "new": True})
        kept = {p.id for plan in plans for p, _ in plan.matches}
        return {
            "seen": len(footage.probes),
            "searched": sum(r.searched for r in results),
            "kept": len(kept),
            "probes": [probe_dict(r, kept) for r in results],
            "sightings": sorted(sightings, key=lambda s: s["id"]),
        }

    @staticmethod
    def _brief(s: Sighting, number: str) -> dict:
        return {
            "id": s.id,
            "record_id": s.record_id,
            "record": number,
            "side": s.side,
            "status": s.status,
            "span": span_of(s),
            "score": round(s.score, 4),
            "fpir": s.fpir,
        }

    def submit(self, who, data: bytes, file_name: str | None, side: str, top_k: int = 5, taken_on: dt.date | None = None, place: str | None = None):
        """A sweep as background work: the file is stored as a blob first, then the job is queued
        (``jobs.queue``; the ``sweep`` kind in ``jobs.kinds``). The blob is deleted
        after the sweep unless a sighting keeps it."""
        sides_of(side)
        check_upload(data, self.services.settings)  # a wrong file is refused now, not in the job
        sha = self.services.blobs.put(data)
        payload = {"blob": sha, "filename": file_name, "side": side, "top": top_k, "taken_on": taken_on.isoformat() if taken_on else None, "place": place}
        return self.services.jobs.submit("sweep", who.user_id, payload)

    # ---- reading ----
    def list(self, status: str | None = CandidateStatus.OPEN, limit: int = 200, record: str | None = None) -> list[dict]:
        """Sightings, strongest first (plausible before implausible, then lower rate, then
        score); one ``record``'s in that record's order (plausible first, then rank score)."""
        return [sighting_dict(s, rec, src) for s, rec, src in self._strongest(status, limit, record)]

    def queue(self, status: str | None = CandidateStatus.OPEN, limit: int = 200) -> list[dict]:
        """Sightings as queue rows (``queue_row``), strongest first; read like the candidates'
        queue (not audited: opening one is)."""
        return [queue_row(s, rec, src) for s, rec, src in self._strongest(status, limit)]

    def _strongest(self, status: str | None, limit: int, record: str | None = None) -> list[tuple]:
        with self.services.sessions() as session:
            query = (
                select(Sighting, Record, SightingSource)
                .join(Record, Record.id == Sighting.record_id)
                .outerjoin(SightingSource, SightingSource.id == Sighting.source_id)
            )
            if status:
                query = query.where(Sighting.status == status)
            if record:
                query = query.where(Record.external_id == record)
            rows = session.execute(query).all()
        rows.sort(key=lambda r: in_record_order(r[0]) if record else strength(r[0]))
        return [tuple(r) for r in rows[:limit]]

    def get(self, sighting_id: int, actor: str, role: str, request_id: str | None = None) -> dict:
        """One sighting with its record, source, evidence, crops and decisions; the view is audited."""
        with self.services.sessions.begin() as session:
            s = session.get(Sighting, sighting_id)
            if s is None:
                raise NotFoundError(f"no sighting {sighting_id}")
            record = session.get(Record, s.record_id)
            source = session.get(SightingSource, s.source_id) if s.source_id is not None else None
            out = sighting_dict(s, record, source)
            if source is not None:
                out["source"]["file_name"] = source.file_name
                out["source"]["swept_at"] = source.swept_at.isoformat()
            out["evidence"] = s.evidence
            out["record_details"] = record_dict(record)
            out["faces"] = [
                {
                    "id": f.id,
                    "track": f.track,
                    "time": f.frame_time,
                    "quality": round(f.quality, 3),
                    "score": round(f.score, 4),
                    "box": [round(v, 1) for v in (f.x1, f.y1, f.x2, f.y2)],
                }
                for f in s.faces
            ]
            out["decisions"] = [
                {"verdict": d.verdict, "reviewer": d.reviewer, "note": d.note, "at": d.decided_at.isoformat()}
                for d in session.scalars(select(SightingDecision).where(SightingDecision.sighting_id == s.id).order_by(SightingDecision.id))
            ]
            out["playable"] = source is not None and source.kind == MediaKind.VIDEO
            repo.audit(session, actor, role, "sighting_view", "sighting", str(s.id), request_id)
            return out

    def open_count(self) -> int:
        """How many sightings wait for a decision (one count, for the queue pages' link)."""
        with self.services.sessions() as session:
            return session.scalar(select(func.count()).select_from(Sighting).where(Sighting.status == CandidateStatus.OPEN)) or 0

    def open_ids(self, limit: int = 500) -> list[int]:
        return [s["id"] for s in self.list(CandidateStatus.OPEN, limit)]

    # ---- deciding ----
    def decide(self, sighting_id: int, verdict: str, reviewer: str, note: str | None, role: str = Role.REVIEWER, request_id: str | None = None) -> dict:
        svc = self.services
        with svc.sessions.begin() as session:
            s, erase = decide_sighting(session, sighting_id, verdict, reviewer, note, svc.settings.two_person_rule, role, request_id)
            record = session.get(Record, s.record_id)
            source = session.get(SightingSource, s.source_id) if s.source_id is not None else None
            out = sighting_dict(s, record, source)
        for sha in erase:  # after the commit: a crash here leaves orphans for `matcher fsck`
            svc.blobs.delete(sha)
        out["erased_blobs"] = len(erase)
        return out

    # ---- what reviewers look at (audited) ----
    def crop(self, face_id: int, actor: str, role: str) -> bytes:
        with self.services.sessions.begin() as session:
            face = session.get(SightingFace, face_id)
            if face is None:
                raise NotFoundError(f"no sighting face {face_id}")
            repo.audit(session, actor, role, "crop_view", "sighting_face", str(face_id), sighting=face.sighting_id)
            sha = face.crop_sha256
        return self.services.blobs.get(sha)

    def video(self, sighting_id: int, actor: str, role: str, audit: bool = True, request_id: str | None = None) -> tuple[bytes, str]:
        """The stored original of a sighting's source (decrypted) and its content type.
        ``audit``: once per viewing (the player's further range requests are not)."""
        with self.services.sessions.begin() as session:
            s = session.get(Sighting, sighting_id)
            source = session.get(SightingSource, s.source_id) if s is not None and s.source_id is not None else None
            if source is None:
                raise NotFoundError(f"no stored source for sighting {sighting_id}")
            if audit:
                repo.audit(session, actor, role, "media_view", "sighting_source", str(source.id), request_id, sighting=sighting_id)
            sha, kind, fmt = source.sha256, source.kind, (source.format or "").split(",")[0]
        data = self.services.blobs.get(sha)
        if kind != MediaKind.VIDEO:  # a field photo: served without its metadata (EXIF, GPS)
            data = strip_metadata(data, self.services.limits)
            return data, "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
        return data, VIDEO_TYPES.get(fmt, "video/mp4")
