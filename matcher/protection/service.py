"""Data protection as one use case (docs/data-protection.md): the audit chain's
verification, data key rotation, the start-up sweep and its daily timer, and the entry
points of ``fsck``, ``backup``/``restore`` and ``retention`` (each in its own module).
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select

from matcher.errors import DataProtectionError
from matcher.protection import fsck as checks
from matcher.protection.backup import restore_backup, write_backup
from matcher.protection.needs import ProtectionServices
from matcher.protection.retention import apply_retention
from matcher.store import auditchain, inflight
from matcher.store.crypto import KeyRing, key_id, new_key
from matcher.store.tables import AuditChain, AuditEvent

log = logging.getLogger(__name__)


class DataProtection:
    def __init__(self, services: ProtectionServices) -> None:
        self.services = services
        self._timer: threading.Thread | None = None
        self._stop = threading.Event()
        self._chain_lock = threading.Lock()
        self._chain: tuple[auditchain.ChainReport | None, float] = (None, 0.0)

    # ---- audit chain ----
    def verify_audit(self, after: auditchain.ChainReport | None = None) -> auditchain.ChainReport:
        """Walk the audit log in id order (streamed; a few 10^4 rows a second on 2 cores).
        ``after``: a verified report whose rows are not walked again (only the newer ones)."""
        events = AuditEvent.__table__
        columns = [events.c.id, *(events.c[f] for f in auditchain.FIELDS), events.c.prev_hash, events.c.hash]
        start = (after.head, after.rows, after.last_id) if after is not None and after.ok else (auditchain.GENESIS, 0, 0)
        with self.services.engine.connect() as connection:
            head = connection.execute(select(AuditChain.hash, AuditChain.rows).where(AuditChain.id == 1)).first()
            query = select(*columns).where(events.c.id > start[2]).order_by(events.c.id)
            result = connection.execution_options(stream_results=True, yield_per=2000).execute(query)
            rows = ((m["id"], {f: m[f] for f in auditchain.FIELDS}, m["prev_hash"], m["hash"]) for m in result.mappings())
            return auditchain.verify(rows, None if head is None else (head.hash, head.rows), start)

    def audit_status(self, max_age_s: float = 300.0) -> auditchain.ChainReport:
        """The admin page's line: the whole chain re-walked at most every ``max_age_s``, and
        in between only the rows added since (``matcher audit verify`` always walks it all)."""
        with self._chain_lock:
            last, at = self._chain
            fresh = last is not None and last.ok and time.monotonic() - at < max_age_s
            report = self.verify_audit(after=last if fresh else None)
            self._chain = (report, at if fresh else time.monotonic())
            return report

    # ---- keys ----
    def rotate_keys(self, keep_old: bool = False) -> dict:
        """Seal every blob under a new data key. Resumable: while the key file holds more
        than one key a rotation is under way, and a re-run continues it rather than
        starting another. Old keys stay readable until every blob is re-sealed, then
        leave the key file (``keep_old``: stay, for backups made before the rotation)."""
        store = self.services.blobs
        if not store.encrypt:
            raise DataProtectionError("blob encryption is off (MATCHER_ENCRYPT_BLOBS=false): there is nothing to rotate")
        keys = store.keys
        ring = keys.ring()
        started = len(ring.keys) == 1
        if started:
            key = new_key()
            keys.save(KeyRing(key_id(key), {**ring.keys, key_id(key): key}))
        resealed = total = 0
        for _ in range(5):  # a blob sealed meanwhile by a process still on the old key is caught by the next pass
            done, total = store.seal_all()
            resealed += done
            if not done:
                break
        else:
            raise DataProtectionError("blobs keep appearing under an old key; stop other matcher processes and run `matcher keys rotate` again")
        ring = keys.ring()
        retired = sorted(k for k in ring.keys if k != ring.active)
        if retired and not keep_old:
            keys.save(KeyRing(ring.active, {ring.active: ring.active_key}))
        log.warning("data key rotation: %d of %d blob(s) re-sealed under key %s", resealed, total, ring.active)
        return {
            "active": ring.active,
            "started": started,
            "resealed": resealed,
            "blobs": total,
            "retired": [] if keep_old else retired,
            "kept": retired if keep_old else [],
        }

    def key_status(self) -> dict:
        store = self.services.blobs
        keys = store.keys
        ring = keys.ring() if keys is not None and keys.exists() else None
        by_key: dict[str, int] = {}
        for sha in store.hashes():
            kid = store.key_id(sha) or "clear"
            by_key[kid] = by_key.get(kid, 0) + 1
        return {
            "encrypt": store.encrypt,
            "key_file": str(keys.path) if keys is not None else None,
            "active": ring.active if ring else None,
            "keys": sorted(ring.keys) if ring else [],
            "rotation_in_progress": bool(ring and len(ring.keys) > 1),
            "blobs_by_key": by_key,
        }

    # ---- sweeps ----
    def log_erasures(self) -> int:
        """Copy new tombstones to the erasure log outside DATA_DIR (after each erasure)."""
        try:
            return checks.sync_erasure_log(self.services)
        except OSError as exc:
            log.error("cannot write the erasure log %s: %s; the start-up sweep will retry", self.services.settings.erasure_log_path, exc.strerror)
            return 0

    def recover_uploads(self) -> dict:
        """Remove what uploads killed before their commit left (``store.inflight``)."""
        return inflight.recover(self.services.upload_journal, self.services.blobs, lambda hashes: hashes & checks.references(self.services).all)

    def startup_sweep(self) -> dict:
        return checks.startup_sweep(self.services)

    def fsck(self, dry_run: bool = False, deep: bool = False, grace_s: float | None = None):
        return checks.fsck(self.services, dry_run=dry_run, deep=deep, grace_s=checks.GRACE_S if grace_s is None else grace_s)

    def retention(self, dry_run: bool = False) -> dict:
        return apply_retention(self.services, dry_run=dry_run)

    # ---- backup ----
    def backup(self, out, actor: str) -> dict:
        return write_backup(self.services, out, actor)

    def restore(self, source, actor: str) -> dict:
        return restore_backup(self.services, source, actor)

    # ---- the service's timer ----
    def start_timer(self) -> threading.Thread:
        """A daemon thread (``matcher serve``): the start-up sweep at once, then every
        ``MATCHER_RETENTION_SWEEP_HOURS`` the sweep again and retention. Errors are logged
        and the timer goes on."""
        if self._timer is not None and self._timer.is_alive():
            return self._timer
        period = self.services.settings.retention_sweep_hours * 3600

        def run() -> None:
            first = True
            while not self._stop.is_set():
                try:
                    self.startup_sweep()
                    if not first:
                        self.fsck(dry_run=False)
                    self.retention()
                except Exception:
                    log.exception("data protection sweep failed; retrying in %.0f h", period / 3600)
                first = False
                self._stop.wait(period)

        self._stop.clear()
        self._timer = threading.Thread(target=run, name="matcher-protection-sweep", daemon=True)
        self._timer.start()
        return self._timer

    def stop_timer(self) -> None:
        self._stop.set()
