"""Encryption at rest of blobs: AES-256-GCM from ``cryptography``, never hand-rolled.

A sealed blob is ``MAGIC | version | key id | nonce | ciphertext+tag``:

* ``MAGIC`` = ``b"MTCB"`` (4 bytes), ``version`` = 1 (1 byte);
* ``key id`` (8 bytes): the first 8 bytes of sha256("matcher-data-key" + key), so a blob
  names the key that opens it and rotation can keep several keys readable at once;
* ``nonce`` (12 bytes, random per blob: one key seals at most ~2^32 blobs before the
  nonce-collision bound matters; rotation resets the count);
* associated data = the header (magic, version, key id) + the blob's plaintext sha256 in
  hex: a blob moved to another name, or its header edited, fails to open.

The key file (``MATCHER_DATA_KEY_FILE``) is JSON, mode 0600: ``{"version": 1, "active":
"<id>", "keys": {"<id>": "<base64 key>", ...}}``. It lives outside ``DATA_DIR`` so that a
copied data folder or a backup is unreadable without it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from matcher.errors import BlobIntegrityError, DataKeyError
from matcher.files import atomic_write

MAGIC = b"MTCB"
VERSION = 1
KEY_ID_BYTES = 8
NONCE_BYTES = 12
HEADER_BYTES = len(MAGIC) + 1 + KEY_ID_BYTES
PREFIX_BYTES = HEADER_BYTES + NONCE_BYTES
KEY_BYTES = 32


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"matcher-data-key" + key).digest()[:KEY_ID_BYTES].hex()


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=8 * KEY_BYTES)


def _header(kid: str) -> bytes:
    return MAGIC + bytes([VERSION]) + bytes.fromhex(kid)


def sealed_key_id(blob: bytes) -> str | None:
    """The key id of a sealed blob, or None when ``blob`` does not carry our header."""
    if len(blob) < PREFIX_BYTES + 16 or blob[:4] != MAGIC or blob[4] != VERSION:
        return None
    return blob[5:HEADER_BYTES].hex()


def seal(plaintext: bytes, sha256: str, key: bytes) -> bytes:
    """Encrypt one blob under ``key``, bound to its plaintext ``sha256`` (hex)."""
    header = _header(key_id(key))
    nonce = os.urandom(NONCE_BYTES)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + sha256.encode())


def open_sealed(blob: bytes, sha256: str, key: bytes) -> bytes:
    header, nonce = blob[:HEADER_BYTES], blob[HEADER_BYTES:PREFIX_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[PREFIX_BYTES:], header + sha256.encode())
    except InvalidTag:
        raise BlobIntegrityError(f"blob {sha256[:12]}… fails authentication: it was altered, truncated or stored under another name") from None


@dataclass
class KeyRing:
    """The data keys by id; ``active`` seals new blobs, the others only open old ones
    (during a rotation). ``path`` is where it was read from (None: in memory only)."""

    active: str
    keys: dict[str, bytes]
    path: Path | None = None
    mtime_ns: int = field(default=0, compare=False)

    @classmethod
    def generate(cls) -> KeyRing:
        key = new_key()
        return cls(key_id(key), {key_id(key): key})

    @property
    def active_key(self) -> bytes:
        return self.keys[self.active]

    def key(self, kid: str) -> bytes:
        try:
            return self.keys[kid]
        except KeyError:
            raise DataKeyError(f"a blob is sealed with data key {kid}, which the key file does not hold; restore that key file") from None

    def to_json(self) -> bytes:
        body = {"version": 1, "active": self.active, "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()}}
        return json.dumps(body, indent=1).encode() + b"\n"

    @classmethod
    def from_json(cls, text: bytes, path: Path | None = None) -> KeyRing:
        try:
            body = json.loads(text)
            keys = {k: base64.b64decode(v, validate=True) for k, v in body["keys"].items()}
            active = body["active"]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataKeyError(f"the data key file {path} is not readable as a matcher key file ({type(exc).__name__})") from None
        for kid, key in keys.items():
            if len(key) != KEY_BYTES or key_id(key) != kid:
                raise DataKeyError(f"the data key file {path} holds a damaged key ({kid})")
        if active not in keys:
            raise DataKeyError(f"the data key file {path} names an active key it does not hold")
        return cls(active, keys, path)

    # ---- the file ----
    def save(self, path: Path | None = None) -> None:
        """Write atomically with mode 0600 (``atomic_write``'s temp file is created 0600)."""
        target = path or self.path
        if target is None:
            raise ValueError("no key file path")
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, self.to_json())
        os.chmod(target, 0o600)
        self.path = target
        self.mtime_ns = target.stat().st_mtime_ns


def load_keyring(path: Path) -> KeyRing:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise DataKeyError(f"the data key file {path} is readable by others (mode {mode:o}); chmod 600 it")
    ring = KeyRing.from_json(path.read_bytes(), path)
    ring.mtime_ns = path.stat().st_mtime_ns
    return ring


def load_or_create_keyring(path: Path) -> KeyRing:
    """The key ring at ``path``, created (mode 0600) when the file is absent."""
    if path.exists():
        return load_keyring(path)
    ring = KeyRing.generate()
    # written to a temp file, then hard-linked into place: the link fails when another
    # process created the file first (it then wins), and a reader never sees half a file
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(ring.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return load_keyring(path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    ring.path = path
    ring.mtime_ns = path.stat().st_mtime_ns
    return ring


class KeyFile:
    """The key ring of one key file, read on first use and re-read whenever the file
    changes (``matcher keys rotate`` in another process adds a key and makes it active;
    a running service must seal with it and open what it re-sealed)."""

    def __init__(self, path: Path, create: bool = True) -> None:
        self.path = path
        self.create = create
        self._ring: KeyRing | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def ring(self) -> KeyRing:
        ring = self._ring
        if ring is not None:
            try:
                if self.path.stat().st_mtime_ns == ring.mtime_ns:
                    return ring
            except FileNotFoundError:
                raise DataKeyError(f"the data key file {self.path} has disappeared; restore it") from None
        if self.create:
            self._ring = load_or_create_keyring(self.path)
        elif self.path.exists():
            self._ring = load_keyring(self.path)
        else:
            raise DataKeyError(f"blobs are encrypted but the data key file {self.path} does not exist; set MATCHER_DATA_KEY_FILE to it")
        return self._ring

    def save(self, ring: KeyRing) -> None:
        ring.save(self.path)
        self._ring = ring
