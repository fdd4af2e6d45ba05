"""Signed requests and answers between instances (pure: no I/O but the nonce store).

Every request carries six headers; the signature (Ed25519, the sender's key) covers one
canonical text of the method, the path with its query string, the sha256 of the body, the
timestamp, the nonce, the sender's key id and the recipient's key id::

    matcher-peer-request-v1\\n{METHOD}\\n{path?query}\\n{body sha256}\\n{unix seconds}\\n{nonce}\\n{sender}\\n{recipient}

Naming the recipient stops a peer from replaying a request it received to a third
instance that trusts the same sender. An answer is signed the same way over its status,
the request's nonce (so it cannot stand for another request's answer) and its body.

``verify_request`` refuses, in this order and each with its own error (401): missing
headers (``UnsignedRequest``), malformed headers or a signature that does not verify —
wrong key, altered method, path, body, or another recipient (``BadSignature``), a key
id no peer has (``UnknownPeer``), a timestamp outside the clock window
(``StaleRequest``), a nonce already seen (``ReplayedRequest``). The nonce is recorded
only once everything else holds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from matcher.errors import BadSignature, ReplayedRequest, StaleRequest, UnknownPeer, UnsignedRequest
from matcher.federation.keys import PublicKey, SigningKey
from matcher.federation.nonces import NonceStore

H_KEY = "X-Matcher-Key"
H_TO = "X-Matcher-To"
H_TIME = "X-Matcher-Timestamp"
H_NONCE = "X-Matcher-Nonce"
H_DIGEST = "X-Matcher-Content-SHA256"
H_SIGNATURE = "X-Matcher-Signature"
REQUEST_HEADERS = (H_KEY, H_TO, H_TIME, H_NONCE, H_DIGEST, H_SIGNATURE)
RESPONSE_HEADERS = (H_KEY, H_TO, H_TIME, H_DIGEST, H_SIGNATURE)

_KEY_ID = re.compile(r"[0-9a-f]{32}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TIME = re.compile(r"[0-9]{1,12}")
SIGNATURE_BYTES = 64

PeerKeys = Callable[[str], PublicKey | None]


@dataclass(frozen=True)
class Verified:
    """What a verified request (or answer) proves: who sent it, when, under which nonce."""

    sender: str
    timestamp: int
    nonce: str
    body_sha256: str


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(18)  # 24 characters, 144 random bits


def request_text(method: str, target: str, digest: str, timestamp: int, nonce: str, sender: str, recipient: str) -> bytes:
    return "\n".join(("matcher-peer-request-v1", method.upper(), target, digest, str(timestamp), nonce, sender, recipient)).encode()


def response_text(status: int, request_nonce: str, digest: str, timestamp: int, sender: str, recipient: str) -> bytes:
    return "\n".join(("matcher-peer-response-v1", str(status), request_nonce, digest, str(timestamp), sender, recipient)).encode()


def target_of(path: str, query: str = "") -> str:
    """The signed request target: the path, and ``?query`` exactly as sent when there is one."""
    return f"{path}?{query}" if query else path


def sign_request(key: SigningKey, recipient: str, method: str, target: str, body: bytes, now: float | None = None, nonce: str | None = None) -> dict[str, str]:
    """The headers that make ``method target`` with ``body`` a signed request to ``recipient``
    (its key id)."""
    timestamp = int(time.time() if now is None else now)
    nonce = nonce or new_nonce()
    digest = body_digest(body)
    signature = key.sign(request_text(method, target, digest, timestamp, nonce, key.key_id, recipient))
    return {
        H_KEY: key.key_id,
        H_TO: recipient,
        H_TIME: str(timestamp),
        H_NONCE: nonce,
        H_DIGEST: digest,
        H_SIGNATURE: base64.b64encode(signature).decode(),
    }


def sign_response(key: SigningKey, recipient: str, request_nonce: str, status: int, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    digest = body_digest(body)
    signature = key.sign(response_text(status, request_nonce, digest, timestamp, key.key_id, recipient))
    return {H_KEY: key.key_id, H_TO: recipient, H_TIME: str(timestamp), H_DIGEST: digest, H_SIGNATURE: base64.b64encode(signature).decode()}


def _headers(headers: Mapping[str, str], names: tuple[str, ...], what: str) -> dict[str, str]:
    lower = {k.lower(): v for k, v in headers.items()}
    missing = [n for n in names if not lower.get(n.lower())]
    if len(missing) == len(names):
        raise UnsignedRequest(f"the {what} is not signed: it carries none of the {', '.join(names)} headers")
    if missing:
        raise UnsignedRequest(f"the {what} lacks the signature headers {', '.join(missing)}")
    values = {n: lower[n.lower()].strip() for n in names}
    for name, pattern in ((H_KEY, _KEY_ID), (H_TO, _KEY_ID), (H_DIGEST, _DIGEST), (H_TIME, _TIME), (H_NONCE, _NONCE)):
        if name in values and not pattern.fullmatch(values[name]):
            raise BadSignature(f"the {name} header of the {what} is malformed")
    return values


def _signature(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != SIGNATURE_BYTES:
        raise BadSignature(f"the {H_SIGNATURE} header of the {what} is not a base64 Ed25519 signature")
    return raw


def _check_time(timestamp: int, now: float, window_s: float, what: str) -> None:
    skew = now - timestamp
    if skew > window_s:
        raise StaleRequest(f"the {what} was signed {int(skew)} s ago; peers' clocks must agree within {int(window_s)} s and requests are not kept")
    if -skew > window_s:
        raise StaleRequest(f"the {what} is dated {int(-skew)} s in the future; peers' clocks must agree within {int(window_s)} s")


def verify_request(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    own_key_id: str,
    peer_keys: PeerKeys,
    nonces: NonceStore,
    window_s: float,
    now: float | None = None,
) -> Verified:
    """Check a signed request addressed to us; raise a ``PeerAuthError`` subclass otherwise."""
    now = time.time() if now is None else now
    h = _headers(headers, REQUEST_HEADERS, "request")
    signature = _signature(h[H_SIGNATURE], "request")
    sender, timestamp = h[H_KEY], int(h[H_TIME])
    key = peer_keys(sender)
    if key is None:
        raise UnknownPeer(f"no peer has the signing key {sender}; an admin must add it first")
    if h[H_TO] != own_key_id:
        raise BadSignature("the request is addressed to another instance")
    if h[H_DIGEST] != body_digest(body):
        raise BadSignature("the body does not match its signed digest")
    if not key.verify(signature, request_text(method, target, h[H_DIGEST], timestamp, h[H_NONCE], sender, h[H_TO])):
        raise BadSignature("the signature does not verify with the peer's key (altered method, path, body or headers, or another key)")
    _check_time(timestamp, now, window_s, "request")
    if not nonces.add(sender, h[H_NONCE], expires_at=timestamp + window_s, now=now):
        raise ReplayedRequest("this signed request was already received once; a peer never sends the same nonce twice")
    return Verified(sender, timestamp, h[H_NONCE], h[H_DIGEST])


def verify_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    peer: PublicKey,
    own_key_id: str,
    request_nonce: str,
    window_s: float,
    now: float | None = None,
) -> Verified:
    """Check that an answer comes from ``peer``, for the request we signed with ``request_nonce``."""
    now = time.time() if now is None else now
    h = _headers(headers, RESPONSE_HEADERS, "answer")
    signature = _signature(h[H_SIGNATURE], "answer")
    if h[H_KEY] != peer.key_id:
        raise BadSignature("the answer is signed by another key than the peer's")
    if h[H_TO] != own_key_id:
        raise BadSignature("the answer is addressed to another instance")
    if h[H_DIGEST] != body_digest(body):
        raise BadSignature("the answer's body does not match its signed digest")
    timestamp = int(h[H_TIME])
    if not peer.verify(signature, response_text(status, request_nonce, h[H_DIGEST], timestamp, h[H_KEY], h[H_TO])):
        raise BadSignature("the answer's signature does not verify with the peer's key, or it answers another request")
    _check_time(timestamp, now, window_s, "answer")
    return Verified(h[H_KEY], timestamp, request_nonce, h[H_DIGEST])
