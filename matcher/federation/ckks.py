"""Encrypted inner products between a requester's probe and a holder's gallery (CKKS).

The requester makes a fresh secret key for each search (``ProbeKeys``: never serialised,
never stored), encrypts each template embedding as the scheme's baby-step vectors
(``packing``) and sends them with one public rotation key. The holder (``score``)
multiplies them by its gallery's diagonals in plaintext and returns one ciphertext per
``2 * slots`` rows per face; only the requester can decrypt them.

The scheme is fixed by name: the holder never takes parameters from a request, so a peer
cannot make it work under weak or oversized parameters. ``ckks-n4096-b4-v1``: ring degree
4096, coefficient modulus 59 + 50 bits (109, the 128-bit security bound that SEAL enforces
for this degree), probe scale 2^30, gallery scale 2^26 (their product 2^56 leaves 3 bits
above scores of magnitude <= 1), four baby steps. Measured errors against plaintext inner
products: about 1e-6 (scripts/bench_federation.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tenseal.sealapi as seal

from matcher.errors import FederationPayloadError
from matcher.federation import packing, sealio


@dataclass(frozen=True)
class CkksScheme:
    name: str
    poly_degree: int
    coeff_bits: tuple[int, ...]
    probe_scale_bits: int
    gallery_scale_bits: int
    baby_steps: int
    dim: int = 128

    def __post_init__(self) -> None:
        packing.check_layout(self.slots, self.dim, self.baby_steps)
        if self.probe_scale_bits + self.gallery_scale_bits > self.coeff_bits[0] - 3:
            raise ValueError("the product of the two scales must stay 3 bits below the first prime")

    @property
    def slots(self) -> int:
        return self.poly_degree // 2

    @property
    def rows_per_ciphertext(self) -> int:
        return packing.rows_per_ciphertext(self.slots)

    @property
    def max_object_bytes(self) -> int:
        """Upper bound of one serialised ciphertext or rotation key (SEAL's worst case: two
        polynomials per key-switching component, uncompressed) plus its header."""
        return 2 * 2 * 8 * self.poly_degree * len(self.coeff_bits) + 4096


SCHEME = CkksScheme("ckks-n4096-b4-v1", 4096, (59, 50), 30, 26, 4)
SCHEMES = {SCHEME.name: SCHEME}


def scheme_named(name: str, schemes: dict[str, CkksScheme] = SCHEMES) -> CkksScheme:
    try:
        return schemes[name]
    except KeyError:
        raise FederationPayloadError(f"unknown encryption scheme {str(name)[:40]!r}; this instance speaks {', '.join(SCHEMES)}") from None


def galois_element(step: int, poly_degree: int) -> int:
    """SEAL's Galois element for a left rotation by ``step`` slots (``3^step mod 2N``)."""
    half = poly_degree // 2
    if not 0 < abs(step) < half:
        raise ValueError(f"a rotation step is between 1 and {half - 1} slots")
    exponent = half - abs(step) if step < 0 else step
    return pow(3, exponent, 2 * poly_degree)


class _Engine:
    """One SEAL context with its encoder and evaluator (cheap: about a millisecond)."""

    def __init__(self, scheme: CkksScheme) -> None:
        params = seal.EncryptionParameters(seal.SCHEME_TYPE.CKKS)
        params.set_poly_modulus_degree(scheme.poly_degree)
        params.set_coeff_modulus(seal.CoeffModulus.Create(scheme.poly_degree, list(scheme.coeff_bits)))
        self.scheme = scheme
        self.context = seal.SEALContext(params, True, seal.SEC_LEVEL_TYPE.TC128)
        if not self.context.parameters_set():
            raise ValueError(f"SEAL refuses scheme {scheme.name}: {self.context.parameters_error_message()}")
        self.encoder = seal.CKKSEncoder(self.context)
        self.evaluator = seal.Evaluator(self.context)

    def load_ciphertext(self, data: bytes, what: str, scale_bits: int | None) -> seal.Ciphertext:
        if not isinstance(data, bytes | bytearray) or not 0 < len(data) <= self.scheme.max_object_bytes:
            raise FederationPayloadError(f"the {what} has {len(data)} bytes; at most {self.scheme.max_object_bytes} are possible")
        ct = sealio.load(seal.Ciphertext, self.context, bytes(data), what)
        if ct.size() != 2 or not ct.is_ntt_form() or ct.parms_id() != self.context.first_parms_id():
            raise FederationPayloadError(f"the {what} is not a fresh two-part ciphertext of scheme {self.scheme.name}")
        if scale_bits is not None and ct.scale != 2.0**scale_bits:
            raise FederationPayloadError(f"the {what} has scale {ct.scale:.3g}; scheme {self.scheme.name} encrypts probes at 2^{scale_bits}")
        return ct


@dataclass(frozen=True)
class EncryptedProbe:
    """What the requester sends: per template face, ``baby_steps`` ciphertexts; one public
    rotation key (no secret key, no public encryption key, no relinearisation key)."""

    scheme: str
    rotation_keys: bytes
    faces: tuple[tuple[bytes, ...], ...]

    @property
    def nbytes(self) -> int:
        return len(self.rotation_keys) + sum(len(c) for face in self.faces for c in face)


@dataclass(frozen=True)
class EncryptedScores:
    """What the holder returns: per face, one ciphertext per ``rows_per_ciphertext`` rows."""

    scheme: str
    faces: tuple[tuple[bytes, ...], ...]

    @property
    def nbytes(self) -> int:
        return sum(len(c) for face in self.faces for c in face)


def _check_probes(probes: np.ndarray, dim: int) -> np.ndarray:
    probes = np.asarray(probes, np.float32)
    if probes.ndim == 1:
        probes = probes[None, :]
    if probes.ndim != 2 or probes.shape[1] != dim or probes.shape[0] == 0:
        raise ValueError(f"probes are a (faces, {dim}) array, not {probes.shape}")
    norms = np.linalg.norm(probes, axis=1)
    if not np.all(np.isfinite(probes)) or np.any(np.abs(norms - 1) > 1e-3):
        raise ValueError("probe embeddings must be finite and L2-normalised")
    return probes


class ProbeKeys:
    """The requester's side of one search: a fresh secret key, encryption and decryption."""

    def __init__(self, scheme: CkksScheme = SCHEME) -> None:
        self.scheme = scheme
        self._engine = _Engine(scheme)
        self._keygen = seal.KeyGenerator(self._engine.context)
        secret = self._keygen.secret_key()
        self._encryptor = seal.Encryptor(self._engine.context, secret)
        self._decryptor = seal.Decryptor(self._engine.context, secret)

    def _rotation_keys(self) -> bytes:
        if self.scheme.baby_steps >= self.scheme.dim:
            return b""
        # seeded serialisation: half the key's size, expanded by SEAL on load
        element = galois_element(self.scheme.baby_steps, self.scheme.poly_degree)
        return sealio.dump(self._keygen.create_galois_keys([element]))

    def encrypt(self, probes: np.ndarray) -> EncryptedProbe:
        """``probes``: (faces, dim) L2-normalised embeddings (one template face per row)."""
        scheme, enc = self.scheme, self._engine.encoder
        faces = []
        for probe in _check_probes(probes, scheme.dim):
            cts = []
            for vector in packing.baby_step_vectors(probe, scheme.slots, scheme.baby_steps):
                plain = seal.Plaintext()
                enc.encode(vector.tolist(), 2.0**scheme.probe_scale_bits, plain)
                cts.append(sealio.dump(self._encryptor.encrypt_symmetric(plain)))  # seeded: half size
            faces.append(tuple(cts))
        return EncryptedProbe(scheme.name, self._rotation_keys(), tuple(faces))

    def decrypt(self, scores: EncryptedScores, n_rows: int) -> np.ndarray:
        """(faces, n_rows) scores in the answer's row order."""
        if scores.scheme != self.scheme.name:
            raise FederationPayloadError(f"the answer uses scheme {scores.scheme[:40]!r}, not {self.scheme.name}")
        expected = packing.ciphertexts_for(n_rows, self.scheme.slots)
        out = []
        for face in scores.faces:
            if len(face) != expected:
                raise FederationPayloadError(f"the answer carries {len(face)} ciphertexts for a face; {n_rows} rows need {expected}")
            decoded = []
            for data in face:
                ct = self._engine.load_ciphertext(data, "answer ciphertext", None)
                plain = seal.Plaintext()
                self._decryptor.decrypt(ct, plain)
                decoded.append(np.asarray(self._engine.encoder.decode_complex(plain)))
            out.append(packing.unpack_scores(decoded, n_rows))
        return np.stack(out) if out else np.zeros((0, n_rows))


def score(probe: EncryptedProbe, gallery: np.ndarray, max_faces: int = 32, schemes: dict[str, CkksScheme] = SCHEMES) -> EncryptedScores:
    """The holder's side: encrypted ``gallery @ probe`` for each face, without decrypting
    anything. ``gallery``: (rows, dim) float32, rows in the order the answer will list them.
    ``schemes``: the schemes this holder accepts, by name (the benchmark adds variants)."""
    scheme = scheme_named(probe.scheme, schemes)
    gallery = np.asarray(gallery, np.float32)
    if gallery.ndim != 2 or gallery.shape[1] != scheme.dim or gallery.shape[0] == 0:
        raise ValueError(f"the gallery is a non-empty (rows, {scheme.dim}) array, not {gallery.shape}")
    if not 1 <= len(probe.faces) <= max_faces:
        raise FederationPayloadError(f"a query carries 1 to {max_faces} faces, not {len(probe.faces)}")
    engine = _Engine(scheme)
    ev, enc, baby = engine.evaluator, engine.encoder, scheme.baby_steps
    keys = None
    if baby < scheme.dim:
        if not 0 < len(probe.rotation_keys) <= scheme.max_object_bytes:
            raise FederationPayloadError("the query lacks its rotation key, or it is too large")
        keys = sealio.load(seal.GaloisKeys, engine.context, probe.rotation_keys, "rotation key")
        if not keys.has_key(galois_element(baby, scheme.poly_degree)):
            raise FederationPayloadError(f"the rotation key does not rotate by {baby} slots")
    faces = []
    for i, face in enumerate(probe.faces):
        if len(face) != baby:
            raise FederationPayloadError(f"face {i} carries {len(face)} ciphertexts; scheme {scheme.name} takes {baby}")
        faces.append([engine.load_ciphertext(c, f"ciphertext {j} of face {i}", scheme.probe_scale_bits) for j, c in enumerate(face)])
    out: list[list[bytes]] = [[] for _ in faces]
    step = scheme.rows_per_ciphertext
    try:
        for start in range(0, gallery.shape[0], step):
            planes = packing.diagonal_planes(gallery[start : start + step], scheme.slots, baby)
            plains = []
            for plane in planes:  # encoded once, used for every face
                plain = seal.Plaintext()
                enc.encode(plane.tolist(), 2.0**scheme.gallery_scale_bits, plain)
                plains.append(plain)
            for u, dest in zip(faces, out, strict=True):
                acc = None
                for j in reversed(range(scheme.dim // baby)):
                    w = seal.Ciphertext()
                    ev.multiply_plain(u[0], plains[baby * j], w)
                    for t in range(1, baby):
                        term = seal.Ciphertext()
                        ev.multiply_plain(u[t], plains[baby * j + t], term)
                        ev.add_inplace(w, term)
                    if acc is not None:
                        rotated = seal.Ciphertext()
                        ev.rotate_vector(acc, baby, keys, rotated)
                        ev.add_inplace(w, rotated)
                    acc = w
                dest.append(sealio.dump(acc))
    except (ValueError, RuntimeError, IndexError, OverflowError) as exc:  # SEAL's exceptions; e.g. a transparent (all-zero) ciphertext sent on purpose
        raise FederationPayloadError(f"the encrypted query cannot be evaluated ({type(exc).__name__})") from None
    return EncryptedScores(scheme.name, tuple(tuple(f) for f in out))
