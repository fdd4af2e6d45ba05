"""What an operator needs to run the service (the API's ``/health/ready`` and ``/metrics``): readiness checks and the numbers behind
``/metrics`` (read from the database when Prometheus scrapes, so every worker agrees).

Readiness (``GET /health/ready``) answers "can this process do its work now?":

* ``database``: a query answers and the schema is at the newest migration;
* ``blobs``: a random probe is written through the blob store (sealed like any blob),
  read back, compared and deleted;
* ``model_pack``: the pack's files are present with their sha256 (re-hashed only when a
  file's size or modification time changed) and the pipeline is loaded;
* ``index``: each side's index of the pack holds as many faces as the database's
  template faces (after it caught up with the database, as before every search).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from dataclasses import dataclass, field

from matcher.container import Services
from matcher.errors import MatcherError
from matcher.faces.packs import verify_file
from matcher.store import stats
from matcher.store.base import utcnow
from matcher.store.db import schema_revision
from matcher.types import Side


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict:
        return {
            "status": "ready" if self.ready else "not ready",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail, "ms": round(c.seconds * 1000, 1)} for c in self.checks},
        }


@dataclass
class Gauges:
    """Numbers read at scrape time (see ``api.metrics``)."""

    candidates: dict[str, int] = field(default_factory=dict)  # status -> count
    oldest_open_age_s: float = 0.0
    template_faces: dict[tuple[str, str], int] = field(default_factory=dict)  # (side, pack) -> in the database
    index_faces: dict[tuple[str, str], int] = field(default_factory=dict)  # (side, pack) -> in this process's index
    records: dict[str, int] = field(default_factory=dict)  # side -> count
    jobs: dict[str, int] = field(default_factory=dict)  # state -> count
    calibration_age_s: dict[str, float] = field(default_factory=dict)  # pack -> seconds since the latest calibration


def _timed(name: str, work) -> Check:
    started = time.monotonic()
    try:
        detail = work()
        return Check(name, True, detail, time.monotonic() - started)
    except MatcherError as exc:
        return Check(name, False, exc.message, time.monotonic() - started)
    except Exception as exc:  # a check reports what went wrong; it never raises
        return Check(name, False, f"{type(exc).__name__}: {str(exc)[:200]}", time.monotonic() - started)


class Operations:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._verified: dict[str, tuple[int, int]] = {}  # model file -> (size, mtime_ns) last verified
        self._head: str | None = None
        self._lock = threading.Lock()

    # ---- readiness ----
    def readiness(self) -> Readiness:
        return Readiness(
            (
                _timed("database", self._database),
                _timed("blobs", self._blobs),
                _timed("model_pack", self._model_pack),
                _timed("index", self._index),
            )
        )

    def _database(self) -> str:
        engine = self.services.engine
        current, self._head = schema_revision(engine, self._head)
        if current != self._head:
            raise RuntimeError(f"schema at revision {current}, this code needs {self._head}")
        return f"{engine.dialect.name}, schema {current}"

    def _blobs(self) -> str:
        blobs = self.services.blobs
        probe = b"matcher readiness probe " + secrets.token_bytes(16)
        sha = blobs.put(probe)
        try:
            if blobs.get(sha) != probe:
                raise RuntimeError("the probe read back differs from what was written")
        finally:
            blobs.delete(sha)
        return "probe written, read back and deleted" + (" (sealed)" if blobs.encrypt else "")

    def _model_pack(self) -> str:
        pack = self.services.pack_info()
        for model in (pack.detector, pack.recognizer):
            path = pack.resolve(model)
            st = path.stat()
            stamp = (st.st_size, st.st_mtime_ns)
            with self._lock:
                known = self._verified.get(str(path)) == stamp
            if not known:
                verify_file(path, model.sha256)
                with self._lock:
                    self._verified[str(path)] = stamp
        self.services.pipeline()  # loads once; a broken converted model fails here
        return f"{pack.name}: files verified, pipeline loaded"

    def _index(self) -> str:
        info = self.services.pack_info()
        parts = []
        for side in (Side.CHILD, Side.REPORT):
            before = self._db_templates(side, info.name)
            held = len(self.services.index(side, info.name))  # caught up with the database first
            after = self._db_templates(side, info.name)
            if not min(before, after) <= held <= max(before, after):
                raise RuntimeError(f"index {side}-{info.name} holds {held} faces, the database has {after}")
            parts.append(f"{side}: {held}")
        return ", ".join(parts) + " faces, in line with the database"

    def _db_templates(self, side: str, pack: str) -> int:
        with self.services.sessions() as session:
            return stats.template_counts(session).get((side, pack), 0)

    # ---- numbers for /metrics ----
    def gauges(self) -> Gauges:
        g = Gauges()
        now = utcnow()
        pack = self.services.settings.pack
        with self.services.sessions() as session:
            g.candidates = stats.candidates_by_status(session)
            oldest = stats.oldest_open_candidate(session)
            g.oldest_open_age_s = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
            g.template_faces = stats.template_counts(session)
            g.records = stats.records_by_side(session)
            g.jobs = stats.jobs_by_state(session)
            g.calibration_age_s = {p: max(0.0, (now - at).total_seconds()) for p, at in stats.latest_calibrations(session).items()}
        for side in (Side.CHILD, Side.REPORT):
            with contextlib.suppress(MatcherError):  # readiness reports why
                g.index_faces[(str(side), pack)] = len(self.services.index(side, pack))
        return g
