"""The instance's signing key file and peers' public keys."""

from __future__ import annotations

import os
import re
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from matcher.errors import InvalidPeerKey, SigningKeyError
from matcher.federation.keys import SigningKey, load_or_create_signing_key, parse_public_key
from tests.conftest import make_settings


def test_key_is_created_once_mode_0600_beside_the_data_key_and_read_back(tmp_path):
    settings = make_settings(tmp_path / "var")
    path = settings.federation_key_path
    assert path.parent == settings.data_key_path.parent and path != settings.data_key_path
    assert not path.resolve().is_relative_to(settings.data_dir.resolve())
    first = load_or_create_signing_key(path, settings.data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_signing_key(path, settings.data_dir)
    assert again.public == first.public and again.path == path
    assert first.public.verify(again.sign(b"hello"), b"hello")


def test_key_file_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "var.signing.key"
    load_or_create_signing_key(path, tmp_path / "var")
    os.chmod(path, 0o640)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        load_or_create_signing_key(path, tmp_path / "var")


def test_key_file_inside_the_data_folder_is_refused(tmp_path):
    with pytest.raises(SigningKeyError, match="inside DATA_DIR"):
        load_or_create_signing_key(tmp_path / "var" / "signing.key", tmp_path / "var")
    assert not (tmp_path / "var" / "signing.key").exists()


def test_damaged_or_foreign_key_file_is_refused(tmp_path):
    path = tmp_path / "k.signing.key"
    path.write_bytes(b"not a key")
    os.chmod(path, 0o600)
    with pytest.raises(SigningKeyError, match="not a readable PEM"):
        load_or_create_signing_key(path, tmp_path / "var")
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(ec_pem)
    with pytest.raises(SigningKeyError, match="Ed25519"):
        load_or_create_signing_key(path, tmp_path / "var")


def test_public_key_exports_round_trip_and_fingerprint_is_grouped_hex_of_the_key_id():
    key = SigningKey.generate().public
    assert parse_public_key(key.to_base64()) == key
    assert parse_public_key(key.to_pem()) == key
    assert parse_public_key("  " + key.to_base64() + "\n") == key
    assert re.fullmatch(r"([0-9a-f]{4} ){7}[0-9a-f]{4}", key.fingerprint)
    assert key.fingerprint.replace(" ", "") == key.key_id
    assert SigningKey.generate().public.key_id != key.key_id


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("not base64!", "neither base64 nor a PEM"),
        ("AAAA", "32 bytes, not 3"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "not a readable public key"),
    ],
)
def test_unreadable_public_keys_are_refused_with_a_reason(text, message):
    with pytest.raises(InvalidPeerKey, match=message):
        parse_public_key(text)


def test_a_non_ed25519_pem_public_key_is_refused():
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(InvalidPeerKey, match="not an Ed25519"):
        parse_public_key(pem.decode())
