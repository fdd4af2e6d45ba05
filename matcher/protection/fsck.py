"""``matcher fsck`` and the start-up sweep: the data folder checked against the database.

* **Unfinished erasures** (a crash between an erasure's commit and its blob deletion): every
  tombstone lists the blobs it removes (``Erasure.blob_sha256``; older tombstones only their
  originals). Such a blob still on disk, pointed at by no row, and not written again since
  the erasure (its modification time, which ``BlobStore.put`` refreshes, is not after the
  erasure) is deleted. Always repaired: it finishes a decision already committed.
* **Orphan blobs** (a crash between writing blobs and committing their rows): unreferenced
  blobs older than a grace period are deleted; younger ones may belong to an upload in
  flight and are left (and reported as such, not as a problem).
* **Missing blobs**: a row whose bytes are gone (an original purged by retention is not
  missing). Cannot be repaired: restore from a backup.
* **Blob sealing**: clear-text blobs with encryption on are sealed; a blob under a key the
  key file lacks, or (``--deep``) one that fails authentication, cannot be repaired.
* **Indexes**: each (side, pack) index file against the database's template faces;
  missing, corrupt or disagreeing files are rebuilt (``services.indexes``).
* **Audit chain**: verified; a break cannot be repaired (it is the evidence).
* **Erasure log**: tombstones missing from the log outside ``DATA_DIR`` are appended.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import inspect, select, text

from matcher.errors import BlobIntegrityError, DataKeyError, IndexCorruptError, IndexMismatchError
from matcher.index.faiss_index import FaceIndex
from matcher.protection.needs import ProtectionServices
from matcher.store import blobrefs, erasurelog, repo
from matcher.store.erasurelog import LoggedErasure
from matcher.store.tables import Embedding, Erasure, Face, Media, Record

log = logging.getLogger(__name__)
GRACE_S = 3600.0


@dataclass
class FsckReport:
    problems: list[dict] = field(default_factory=list)  # {"kind", "count", "repairable", "repaired", "detail"}
    counts: dict = field(default_factory=dict)

    def add(self, kind: str, count: int, repaired: bool, detail: str, repairable: bool = True) -> None:
        if count:
            self.problems.append({"kind": kind, "count": count, "repairable": repairable, "repaired": repaired and repairable, "detail": detail})

    @property
    def unrepaired(self) -> list[dict]:
        """What no run can repair (a dry run's repairable findings are not counted)."""
        return [p for p in self.problems if not p["repairable"]]

    def as_dict(self) -> dict:
        return {"ok": not self.unrepaired, "problems": self.problems, "counts": self.counts}


@dataclass(frozen=True)
class References:
    live: set[str]  # every blob a row points at (store.blobrefs), queued jobs' included
    purged: set[str]  # originals purged by retention
    live_media: dict[str, list[int]]  # original -> media ids (to name what is missing)

    @property
    def all(self) -> set[str]:
        return self.live


def references(services: ProtectionServices) -> References:
    live_media: dict[str, list[int]] = {}
    purged: set[str] = set()
    with services.sessions() as session:
        tables = set(inspect(session.connection()).get_table_names())
        live = blobrefs.referenced(lambda sql: session.execute(text(sql)), tables)
        for media_id, sha, purged_at in session.execute(select(Media.id, Media.sha256, Media.purged_at)):
            if purged_at is None:
                live_media.setdefault(sha, []).append(media_id)
            else:
                purged.add(sha)
    return References(live, purged - live, live_media)


def tombstones(session) -> list[LoggedErasure]:
    rows = session.scalars(select(Erasure).order_by(Erasure.id))
    return [
        LoggedErasure(e.side, e.external_id, e.erased_at, e.erased_by, tuple(e.media_sha256 or ()), tuple(e.blob_sha256 or e.media_sha256 or ())) for e in rows
    ]


def _epoch(at: dt.datetime) -> float:
    return at.replace(tzinfo=dt.UTC).timestamp()


def finish_erasures(services: ProtectionServices, refs: References | None = None, dry_run: bool = False) -> list[str]:
    """Delete blobs of erasures that did not get deleted; returns their hashes."""
    refs = refs or references(services)
    blobs = services.blobs
    with services.sessions() as session:
        stones = tombstones(session)
    done = []
    for stone in stones:
        for sha in stone.blob_sha256:
            if sha in refs.all:
                continue
            mtime = blobs.mtime(sha)
            if mtime is None or mtime > _epoch(stone.erased_at):
                continue  # gone, or stored again after the erasure (then an orphan at most)
            if dry_run or blobs.delete(sha):
                done.append(sha)
    if done and not dry_run:
        log.warning("finished %d blob deletion(s) of committed erasures", len(done))
    return done


def sync_erasure_log(services: ProtectionServices) -> int:
    """Append tombstones the log outside DATA_DIR lacks (after a crash, or a first start)."""
    path = services.settings.erasure_log_path
    logged = {e.key for e in erasurelog.read(path)}
    with services.sessions() as session:
        missing = [e for e in tombstones(session) if e.key not in logged]
    return erasurelog.append(path, missing)


def startup_sweep(services: ProtectionServices) -> dict:
    """What every start does: finish erasures, catch the erasure log up."""
    finished = finish_erasures(services)
    try:
        logged = sync_erasure_log(services)
    except OSError as exc:
        log.error("cannot write the erasure log %s: %s", services.settings.erasure_log_path, exc.strerror)
        logged = 0
    return {"erasures_finished": len(finished), "erasure_log_appended": logged}


def fsck(services: ProtectionServices, dry_run: bool = False, deep: bool = False, grace_s: float = GRACE_S) -> FsckReport:
    report = FsckReport()
    blobs = services.blobs
    refs = references(services)
    act = not dry_run
    finished = finish_erasures(services, refs, dry_run)
    report.add("unfinished_erasure", len(finished), act, "blobs of committed erasures still on disk" + (", deleted" if act else ""))

    stored = set(blobs.hashes())
    report.counts.update(blobs=len(stored), referenced=len(refs.all), purged_originals=len(refs.purged))
    cutoff = time.time() - grace_s
    old, recent = [], 0
    for sha in sorted(stored - refs.all - set(finished)):
        mtime = blobs.mtime(sha)
        if mtime is None:
            continue
        if mtime < cutoff:
            old.append(sha)
        else:
            recent += 1
    if act:
        old = [sha for sha in old if blobs.delete(sha)]
    report.add("orphan_blob", len(old), act, "blobs no row points at" + (", deleted" if act else ""))
    report.counts["recent_unreferenced"] = recent  # may belong to an upload in flight: left alone

    missing = sorted(refs.live - stored)
    media_ids = sorted(i for sha in missing for i in refs.live_media.get(sha, ()))
    report.add(
        "missing_blob",
        len(missing),
        False,
        f"rows point at blobs that are gone (media ids {media_ids[:20]}{'…' if len(media_ids) > 20 else ''}; face crops otherwise): restore them from a backup",
        repairable=False,
    )

    _check_sealing(services, stored & refs.all, report, act, deep)
    check_indexes(services, report, act)
    chain = services.protection.verify_audit()
    if not chain.ok:
        report.add("audit_chain", 1, False, chain.line(), repairable=False)
    report.counts["audit_rows"] = chain.rows
    if act:
        report.counts["erasure_log_appended"] = sync_erasure_log(services)
    return report


def _check_sealing(services: ProtectionServices, hashes: set[str], report: FsckReport, act: bool, deep: bool) -> None:
    blobs = services.blobs
    clear, unknown, damaged = [], [], []
    ring = blobs.keys.ring() if blobs.keys is not None and blobs.keys.exists() else None
    for sha in sorted(hashes):
        try:
            kid = blobs.key_id(sha)
        except FileNotFoundError:
            continue
        if kid is None:
            clear.append(sha)
        elif ring is None or kid not in ring.keys:
            unknown.append(sha)
            continue
        if deep:
            try:
                blobs.get(sha)
            except (BlobIntegrityError, DataKeyError):
                damaged.append(sha)
    if blobs.encrypt:
        if act:
            for sha in clear:
                blobs.reseal(sha)
        report.add("clear_blob", len(clear), act, "blobs stored in clear text" + (", sealed" if act else ""))
    report.add("unknown_key", len(unknown), False, "blobs sealed with a key the key file does not hold: restore the key file that has it", repairable=False)
    report.add("damaged_blob", len(damaged), False, "blobs that fail authentication (altered or truncated): restore them from a backup", repairable=False)


def check_indexes(services: ProtectionServices, report: FsckReport, act: bool) -> None:
    with services.sessions() as session:
        pairs = session.execute(
            select(Record.side, Embedding.pack, Embedding.dim)
            .join(Face, Face.id == Embedding.face_id)
            .join(Media, Media.id == Face.media_id)
            .join(Record, Record.id == Media.record_id)
            .distinct()
        ).all()
        expected = {(side, pack): (dim, repo.side_face_ids(session, side, pack)) for side, pack, dim in pairs}
    bad = []
    for (side, pack), (dim, ids) in sorted(expected.items()):
        path = services.indexes.path(side, pack)
        if not path.is_file():
            if ids.size:
                bad.append(f"{side}-{pack}: missing")
            else:
                continue
        else:
            try:
                if FaceIndex.load(path, pack=pack, dim=dim).agrees_with(ids):
                    continue
                bad.append(f"{side}-{pack}: disagrees with the database")
            except (IndexCorruptError, IndexMismatchError) as exc:
                bad.append(f"{side}-{pack}: {exc.message}")
        if act:
            services.indexes.rebuild(side, pack, dim)
    report.add("index", len(bad), act, "; ".join(bad) + ("; rebuilt from the database" if act else ""))
