"""File helpers shared by the blob store, model packs, indexes and indexing.

``atomic_write``: temp file in the same folder, fsync, rename, fsync the folder. A reader sees
the old file or the new one, never half of one; a crash leaves at most a ``.tmp`` file
behind, and once it returns the new file survives a power cut (so a database row written
after it never points at a file that is not there).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

Buffer = bytes | bytearray | memoryview


def atomic_write(path: Path, *chunks: Buffer) -> None:
    """Write ``chunks`` one after the other as the new content of ``path``. Several chunks
    let a caller write large parts (an index's sections) without joining them in memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself is durable only once the folder is synced
    finally:
        os.close(dir_fd)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file, read in chunks (model files and archive photos can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
