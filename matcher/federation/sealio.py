"""SEAL objects to bytes and back.

TenSEAL's bindings of SEAL (``tenseal.sealapi``) save and load through a file path only.
On Linux the path is an anonymous in-memory file (``memfd_create``, seen as
``/proc/self/fd/N``): nothing touches a disk. Elsewhere a temp file in a private folder
(mode 0700) is used and removed at once; what passes through it is ciphertexts and public
rotation keys, never a secret key.

Loading checks what SEAL checks (the object must be valid for the context: parameters,
sizes, coefficients below their moduli) and turns any failure into
``FederationPayloadError``: these bytes come from another instance.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from matcher.errors import FederationPayloadError


@contextmanager
def _scratch_path():
    if hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir():
        fd = os.memfd_create("matcher-ckks", os.MFD_CLOEXEC)
        try:
            yield f"/proc/self/fd/{fd}", fd
        finally:
            os.close(fd)
        return
    folder = tempfile.mkdtemp(prefix="matcher-ckks-")  # mode 0700
    try:
        yield str(Path(folder) / "object"), None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def dump(obj: Any) -> bytes:
    """The bytes of a SEAL object (or a seeded ``Serializable*``) as SEAL saves it."""
    with _scratch_path() as (path, fd):
        obj.save(path)
        if fd is None:
            return Path(path).read_bytes()
        size = os.lseek(fd, 0, os.SEEK_END)
        os.lseek(fd, 0, os.SEEK_SET)
        chunks, left = [], size
        while left:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


def load(make: Callable[[], Any], context: Any, data: bytes, what: str) -> Any:
    """A fresh object from ``make()`` loaded from ``data`` under ``context``."""
    obj = make()
    with _scratch_path() as (path, fd):
        if fd is None:
            Path(path).write_bytes(data)
        else:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        try:
            obj.load(context, path)
        except Exception as exc:  # SEAL raises std::logic_error / invalid_argument as several Python types
            raise FederationPayloadError(f"the {what} is not a valid SEAL object for this scheme ({type(exc).__name__})") from None
    return obj
