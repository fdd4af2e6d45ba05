"""A journal of uploads in flight, so a process killed between writing an upload's blobs
and committing its rows leaves nothing behind once the service starts again.

Blobs are written before the rows that point at them (invariant 2, docs/architecture.md). A SIGKILL in between
leaves blobs no row points at. Before writing them, an upload writes a small journal file
(``DATA_DIR/inflight/<host>-<pidns>-<pid>-<start>-<random>.json``) naming their hashes, and
removes it once its transaction committed or it cleaned up after a failure. At start-up
(``recover``), journals whose process is gone are replayed: their blobs that no row (and no
queued job) points at are deleted, with any temp file ``files.atomic_write`` left for them,
then the journal. A journal of a live process — another API worker — is left alone, so
recovery never races an upload in flight; journals of other machines (a shared folder) too.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from matcher.files import atomic_write

log = logging.getLogger(__name__)


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "-"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks (tells a reused pid apart), '-' if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "-"


def _here() -> str:
    return f"{socket.gethostname()}/{_pid_namespace()}"


def _alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start == "-" or _start_time(pid) in (start, "-")


class UploadJournal:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @contextmanager
    def holding(self, hashes: Iterable[str]) -> Iterator[None]:
        """Journal ``hashes`` for the block (write blobs and commit rows inside it)."""
        pid = os.getpid()
        entry = {"machine": _here(), "pid": pid, "start": _start_time(pid), "blobs": sorted(set(hashes))}
        path = self.folder / f"{pid}-{secrets.token_hex(8)}.json"
        atomic_write(path, json.dumps(entry).encode())
        try:
            yield
        finally:
            path.unlink(missing_ok=True)

    def abandoned(self) -> list[tuple[Path, list[str]]]:
        """Journals of processes of this machine that no longer run, with their blob hashes."""
        if not self.folder.is_dir():
            return []
        here, found = _here(), []
        for path in sorted(self.folder.glob("*.json")):
            try:
                entry = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # being written (atomic rename pending) or unreadable: next start
            if entry.get("machine") != here or _alive(int(entry.get("pid", 0)), str(entry.get("start", "-"))):
                continue
            found.append((path, [str(h) for h in entry.get("blobs", [])]))
        return found


def recover(journal: UploadJournal, blobs, referenced) -> dict:
    """Delete the unreferenced blobs (and their temp files) of uploads whose process died.
    ``referenced(hashes) -> set`` says which of them rows or queued jobs still point at."""
    journals = blobs_deleted = temps = 0
    for path, hashes in journal.abandoned():
        keep = referenced(set(hashes))
        for sha in hashes:
            if sha in keep:
                continue
            blobs_deleted += bool(blobs.delete(sha))
            folder = blobs.path(sha).parent
            if folder.is_dir():
                for tmp in folder.glob(f".{sha}.*.tmp"):
                    tmp.unlink(missing_ok=True)
                    temps += 1
        path.unlink(missing_ok=True)
        journals += 1
    if journals:
        log.warning("recovered %d interrupted upload(s): %d unreferenced blob(s) and %d temp file(s) removed", journals, blobs_deleted, temps)
    return {"journals": journals, "blobs_deleted": blobs_deleted, "temp_files": temps}
