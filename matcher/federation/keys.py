"""The instance's own Ed25519 signing key, and peers' public keys (``cryptography``, never
hand-rolled).

The private key file is PEM (PKCS#8), mode 0600, created at first start in the data key's
folder (``Settings.federation_key_path``) and never inside ``DATA_DIR``, so that a copy of
the data folder or a backup cannot speak for the organisation. Like the data key file, it
is refused when others can read it.

A public key travels out of band (e-mail, a signed letter, a call) as raw base64 (32 bytes)
or PEM; both sides then read its *fingerprint* to each other: the first 16 bytes of
sha256(raw key) in groups of four hex digits. The same 32 hex digits without spaces are the
``key id`` that names the sender in every signed request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from matcher.errors import InvalidPeerKey, SigningKeyError

RAW_KEY_BYTES = 32
KEY_ID_BYTES = 16


@dataclass(frozen=True)
class PublicKey:
    """A peer's (or our own) Ed25519 public key, by its 32 raw bytes."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != RAW_KEY_BYTES:
            raise InvalidPeerKey(f"an Ed25519 public key has {RAW_KEY_BYTES} bytes, not {len(self.raw)}")

    @property
    def key_id(self) -> str:
        """32 hex digits naming the key in signed requests."""
        return hashlib.sha256(self.raw).digest()[:KEY_ID_BYTES].hex()

    @property
    def fingerprint(self) -> str:
        """The key id in groups of four, for reading aloud: ``3f2a 91bc …`` (8 groups)."""
        kid = self.key_id
        return " ".join(kid[i : i + 4] for i in range(0, len(kid), 4))

    def to_base64(self) -> str:
        return base64.b64encode(self.raw).decode()

    def to_pem(self) -> str:
        key = Ed25519PublicKey.from_public_bytes(self.raw)
        return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def parse_public_key(text: str) -> PublicKey:
    """A public key as an admin pastes it: raw base64 (44 characters) or a PEM block."""
    text = text.strip()
    if not text:
        raise InvalidPeerKey("the public key is empty")
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except (ValueError, TypeError):
            raise InvalidPeerKey("the PEM block is not a readable public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidPeerKey(f"the PEM block holds a {type(key).__name__.removeprefix('_')}, not an Ed25519 public key")
        return PublicKey(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPeerKey("the public key is neither base64 nor a PEM block") from None
    return PublicKey(raw)


@dataclass(frozen=True)
class SigningKey:
    """This instance's private key. ``path`` is where it was read from (None: in memory)."""

    private: Ed25519PrivateKey
    path: Path | None = None

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    def to_pem(self) -> bytes:
        return self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def load_signing_key(path: Path) -> SigningKey:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SigningKeyError(f"the signing key file {path} is readable by others (mode {mode:o}); chmod 600 it")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise SigningKeyError(f"the signing key file {path} is not a readable PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"the signing key file {path} does not hold an Ed25519 key")
    return SigningKey(key, path)


def load_or_create_signing_key(path: Path, data_dir: Path) -> SigningKey:
    """The key at ``path``, created (mode 0600) when absent. ``path`` must lie outside
    ``data_dir``. Two processes starting at once end with one key: the file is written
    to a temp file and hard-linked into place, and the loser reads the winner's."""
    if _inside(path, data_dir):
        raise SigningKeyError(f"the signing key file {path} is inside DATA_DIR {data_dir}; keep it beside the data key, outside the data folder")
    if path.exists():
        return load_signing_key(path)
    key = SigningKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.to_pem())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return load_signing_key(path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return SigningKey(key.private, path)
