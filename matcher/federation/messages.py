"""The messages between instances and their bytes on the wire (the body that is signed).

A frame is ``b"MFD1" | kind (1 byte) | header length (4) | header JSON | blob count (4) |
(length (4) | blob)*``, integers big-endian; ciphertexts travel as raw blobs (base64 in
JSON would add a third). Decoding checks every length and field and raises
``FederationPayloadError`` (400) for anything else: a peer's bytes are untrusted.

* ``SearchRequest``: the side searched, the facts (``QueryFacts``) and the probe, either
  ``EncryptedProbe`` (one rotation key + ciphertexts per face) or ``PlainProbe`` (float32
  embeddings in clear and how many results per face).
* ``EncryptedAnswer``: the answer id, how many rows each handle has (uint16 each), and the
  encrypted scores per face. ``PlainAnswer``: per face, the best (handle position, score).
  Both may carry the holder's gallery generation.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from matcher.errors import FederationPayloadError
from matcher.federation import handles as _handles
from matcher.federation.ckks import EncryptedProbe, EncryptedScores
from matcher.federation.policy import MAX_FACES_LIMIT, QueryFacts
from matcher.types import SearchMode, Side

MAGIC = b"MFD1"
KIND_REQUEST, KIND_ENCRYPTED_ANSWER, KIND_PLAIN_ANSWER = 1, 2, 3
MAX_HEADER_BYTES = 4 << 20  # a plain answer lists its results in the header
MAX_REQUEST_BYTES = 16 << 20  # 32 faces x 4 ciphertexts and a key are about 4 MB
MAX_ANSWER_BYTES = 1 << 30  # encrypted scores: about 16 bytes a row per face
MAX_PLAIN_K = 500
MAX_ROWS_PER_HANDLE = 65_535


@dataclass(frozen=True, eq=False)
class PlainProbe:
    embeddings: np.ndarray  # (faces, dim) float32, L2-normalised, in clear
    k: int  # results per face

    @property
    def faces(self) -> int:
        return int(self.embeddings.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.embeddings.nbytes)


@dataclass(frozen=True, eq=False)
class SearchRequest:
    side: Side  # the holder's side to search
    facts: QueryFacts
    probe: EncryptedProbe | PlainProbe

    @property
    def mode(self) -> SearchMode:
        return SearchMode.PLAIN if isinstance(self.probe, PlainProbe) else SearchMode.ENCRYPTED

    @property
    def faces(self) -> int:
        return self.probe.faces if isinstance(self.probe, PlainProbe) else len(self.probe.faces)


@dataclass(frozen=True)
class EncryptedAnswer:
    answer_id: str
    rows_per_handle: tuple[int, ...]  # the rows of handle i follow those of handle i - 1
    scores: EncryptedScores
    generation: int | None = None

    @property
    def rows(self) -> int:
        return sum(self.rows_per_handle)

    @property
    def handles(self) -> list[str]:
        return _handles.handles_of(self.answer_id, len(self.rows_per_handle))

    def row_handles(self) -> np.ndarray:
        """For each score row, the position of its handle."""
        return np.repeat(np.arange(len(self.rows_per_handle)), self.rows_per_handle)


@dataclass(frozen=True)
class PlainAnswer:
    answer_id: str
    records: int  # handles granted (the union of every face's results)
    faces: tuple[tuple[tuple[int, float], ...], ...]  # per face: (handle position, score), best first
    generation: int | None = None

    def handle(self, position: int) -> str:
        return _handles.handle_name(self.answer_id, position)


# ---- framing ----


def _frame(kind: int, header: dict[str, Any], blobs: list[bytes]) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    parts = [MAGIC, bytes([kind]), struct.pack(">I", len(head)), head, struct.pack(">I", len(blobs))]
    for blob in blobs:
        parts += [struct.pack(">I", len(blob)), blob]
    return b"".join(parts)


def _unframe(data: bytes, kind: int, max_bytes: int) -> tuple[dict[str, Any], list[bytes]]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise FederationPayloadError("a federation message is bytes")
    data = bytes(data)
    if len(data) > max_bytes:
        raise FederationPayloadError(f"the message has {len(data)} bytes; at most {max_bytes} are accepted")
    if len(data) < 13 or data[:4] != MAGIC:
        raise FederationPayloadError("not a matcher federation message")
    if data[4] != kind:
        raise FederationPayloadError(f"a message of kind {data[4]} where kind {kind} was expected")
    (head_len,) = struct.unpack_from(">I", data, 5)
    if head_len > MAX_HEADER_BYTES or 9 + head_len + 4 > len(data):
        raise FederationPayloadError("the message's header length is wrong")
    try:
        header = json.loads(data[9 : 9 + head_len])
    except (ValueError, UnicodeDecodeError):
        raise FederationPayloadError("the message's header is not JSON") from None
    if not isinstance(header, dict):
        raise FederationPayloadError("the message's header is not a JSON object")
    pos = 9 + head_len
    (count,) = struct.unpack_from(">I", data, pos)
    pos += 4
    if count > (len(data) - pos) // 4:
        raise FederationPayloadError("the message announces more parts than it holds")
    blobs = []
    for _ in range(count):
        if pos + 4 > len(data):
            raise FederationPayloadError("the message is truncated")
        (n,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if pos + n > len(data):
            raise FederationPayloadError("the message is truncated")
        blobs.append(data[pos : pos + n])
        pos += n
    if pos != len(data):
        raise FederationPayloadError("the message has trailing bytes")
    return header, blobs


def _int(header: dict[str, Any], key: str, lo: int, hi: int) -> int:
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise FederationPayloadError(f"the message's {key} must be a whole number from {lo} to {hi}")
    return value


def _str(header: dict[str, Any], key: str, max_len: int = 64) -> str:
    value = header.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise FederationPayloadError(f"the message's {key} must be a short string")
    return value


def _generation(header: dict[str, Any]) -> int | None:
    return None if header.get("generation") is None else _int(header, "generation", 0, 2**62)


def _answer_id(header: dict[str, Any]) -> str:
    value = _str(header, "answer", 22)
    if not _handles.ANSWER_ID.fullmatch(value):
        raise FederationPayloadError("the answer id is malformed")
    return value


# ---- requests ----


def encode_request(request: SearchRequest) -> bytes:
    header: dict[str, Any] = {"side": str(request.side), "mode": str(request.mode), "facts": request.facts.to_mapping(), "faces": request.faces}
    probe = request.probe
    if isinstance(probe, PlainProbe):
        emb = np.ascontiguousarray(probe.embeddings, dtype="<f4")
        header |= {"dim": int(emb.shape[1]), "k": probe.k}
        return _frame(KIND_REQUEST, header, [emb.tobytes()])
    header["scheme"] = probe.scheme
    per_face = {len(face) for face in probe.faces}
    if len(per_face) != 1:
        raise ValueError("every face carries the same number of ciphertexts")
    header["per_face"] = per_face.pop()
    return _frame(KIND_REQUEST, header, [probe.rotation_keys] + [c for face in probe.faces for c in face])


def decode_request(data: bytes, max_bytes: int = MAX_REQUEST_BYTES) -> SearchRequest:
    header, blobs = _unframe(data, KIND_REQUEST, max_bytes)
    try:
        side = Side(header.get("side"))
        mode = SearchMode(header.get("mode"))
    except ValueError:
        raise FederationPayloadError("the request's side or mode is not one this instance knows") from None
    facts = QueryFacts.from_mapping(header.get("facts", {}))
    faces = _int(header, "faces", 1, MAX_FACES_LIMIT)
    if mode is SearchMode.PLAIN:
        dim = _int(header, "dim", 1, 4096)
        k = _int(header, "k", 1, MAX_PLAIN_K)
        if len(blobs) != 1 or len(blobs[0]) != faces * dim * 4:
            raise FederationPayloadError(f"a plain probe is {faces} x {dim} float32 values")
        emb = np.frombuffer(blobs[0], dtype="<f4").reshape(faces, dim).astype(np.float32)
        if not np.all(np.isfinite(emb)) or np.any(np.abs(np.linalg.norm(emb, axis=1) - 1) > 1e-3):
            raise FederationPayloadError("a plain probe's embeddings must be finite and L2-normalised")
        return SearchRequest(side, facts, PlainProbe(emb, k))
    scheme = _str(header, "scheme")
    per_face = _int(header, "per_face", 1, 4096)
    if len(blobs) != 1 + faces * per_face:
        raise FederationPayloadError(f"an encrypted probe of {faces} faces carries a rotation key and {faces * per_face} ciphertexts, not {len(blobs)} parts")
    cts = blobs[1:]
    probe = EncryptedProbe(scheme, blobs[0], tuple(tuple(cts[i * per_face : (i + 1) * per_face]) for i in range(faces)))
    return SearchRequest(side, facts, probe)


# ---- answers ----


def encode_encrypted_answer(answer: EncryptedAnswer) -> bytes:
    counts = np.asarray(answer.rows_per_handle, dtype="<u2")
    faces = answer.scores.faces
    header = {
        "answer": answer.answer_id,
        "scheme": answer.scores.scheme,
        "records": len(answer.rows_per_handle),
        "faces": len(faces),
        "per_face": len(faces[0]) if faces else 0,
        "generation": answer.generation,
    }
    return _frame(KIND_ENCRYPTED_ANSWER, header, [counts.tobytes()] + [c for face in faces for c in face])


def decode_encrypted_answer(data: bytes, max_bytes: int = MAX_ANSWER_BYTES) -> EncryptedAnswer:
    header, blobs = _unframe(data, KIND_ENCRYPTED_ANSWER, max_bytes)
    answer_id, scheme = _answer_id(header), _str(header, "scheme")
    records = _int(header, "records", 0, 10**8)
    faces = _int(header, "faces", 1, MAX_FACES_LIMIT)
    per_face = _int(header, "per_face", 0, 10**6)
    if len(blobs) != 1 + faces * per_face or len(blobs[0]) != 2 * records:
        raise FederationPayloadError("the encrypted answer's parts do not match its header")
    counts = np.frombuffer(blobs[0], dtype="<u2")
    if records and counts.min() == 0:
        raise FederationPayloadError("every handle in an answer has at least one row")
    cts = blobs[1:]
    scores = EncryptedScores(scheme, tuple(tuple(cts[i * per_face : (i + 1) * per_face]) for i in range(faces)))
    return EncryptedAnswer(answer_id, tuple(int(c) for c in counts), scores, _generation(header))


def encode_plain_answer(answer: PlainAnswer) -> bytes:
    header = {
        "answer": answer.answer_id,
        "records": answer.records,
        "faces": [[[int(p), round(float(s), 7)] for p, s in face] for face in answer.faces],
        "generation": answer.generation,
    }
    return _frame(KIND_PLAIN_ANSWER, header, [])


def decode_plain_answer(data: bytes, max_bytes: int = MAX_ANSWER_BYTES) -> PlainAnswer:
    header, blobs = _unframe(data, KIND_PLAIN_ANSWER, max_bytes)
    answer_id = _answer_id(header)
    records = _int(header, "records", 0, MAX_FACES_LIMIT * MAX_PLAIN_K)
    raw = header.get("faces")
    if blobs or not isinstance(raw, list) or not 1 <= len(raw) <= MAX_FACES_LIMIT:
        raise FederationPayloadError("a plain answer lists 1 to 32 faces of results")
    faces = []
    for face in raw:
        if not isinstance(face, list) or len(face) > MAX_PLAIN_K:
            raise FederationPayloadError(f"a face's results are a list of at most {MAX_PLAIN_K}")
        hits = []
        for hit in face:
            ok = isinstance(hit, list) and len(hit) == 2 and isinstance(hit[0], int) and not isinstance(hit[0], bool)
            if not ok or not 0 <= hit[0] < records or not isinstance(hit[1], int | float) or not math.isfinite(hit[1]):
                raise FederationPayloadError("a result is [handle position, score] with a position below the answer's record count")
            hits.append((hit[0], float(hit[1])))
        faces.append(tuple(hits))
    return PlainAnswer(answer_id, records, tuple(faces), _generation(header))
