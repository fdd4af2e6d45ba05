"""What a remote search costs: milliseconds and bytes per remote query per template face,
encrypted (CKKS) and plain side by side, for synthetic galleries of 10^3, 10^4 and 10^5
L2-normalised 128-d records; the largest |decrypted - plaintext| score; and the packing
layouts that were compared before the one in ``matcher.federation.ckks`` was kept.

Usage::

    python scripts/bench_federation.py                    # 1e3, 1e4, 1e5 (if within the budget), 3 repeats
    python scripts/bench_federation.py --sizes 1000,10000 --repeat 5 --no-layouts

Everything runs in one process on this machine (no network): "sent" is the signed body of
the request (``messages.encode_request``), "received" the body of the answer. Times are
medians over the repeats, wall clock and process CPU; the machine is shared, so the load
average is printed beside every section. The last line of stdout is one JSON object::

    {"config": {...}, "loadavg": {...}, "keys": {...},
     "sizes": [{"rows", "encrypted": {"ms_per_face", "ms_encrypt", "ms_holder", "ms_decrypt",
                "cpu_ms_per_face", "bytes_sent", "bytes_rotation_key", "bytes_received",
                "max_abs_error"}, "plain": {"ms_per_face", "bytes_sent", "bytes_received"}}, ...],
     "multi_face": {...}, "layouts": [{"layout", "rows", "ms", "bytes_sent", "bytes_received", "max_abs_error"}, ...]}
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matcher.settings import apply_privacy_env  # noqa: E402

apply_privacy_env()

from matcher.evaluation.synthetic import impostor_vectors, mate_of  # noqa: E402
from matcher.federation import ckks, holder, packing, requester, sealio  # noqa: E402
from matcher.federation import handles as fh  # noqa: E402
from matcher.federation import messages as fm  # noqa: E402
from matcher.federation.gallery import Gallery  # noqa: E402
from matcher.federation.policy import PeerPolicy  # noqa: E402
from matcher.types import SearchMode, Side  # noqa: E402

PEER = "0" * 32
POLICY = PeerPolicy(sides=frozenset({Side.CHILD}), modes=frozenset({SearchMode.ENCRYPTED, SearchMode.PLAIN}), max_faces=8)
PLAIN_K = 50


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def synthetic(n: int, faces: int, seed: int) -> tuple[Gallery, np.ndarray]:
    """One face per record, impostor-matched (the default pack's cosine spread); the probes
    are mates of the first ``faces`` records."""
    emb = impostor_vectors(n, 128, 0.147, 0.098, seed=seed)
    probes = mate_of(emb[:faces], 0.6, seed=seed + 1)
    return Gallery(Side.CHILD, np.arange(1, n + 1), emb), probes


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, (time.perf_counter() - w) * 1e3, (time.process_time() - c) * 1e3


def bench_encrypted(gallery: Gallery, probes: np.ndarray, repeat: int, scheme=ckks.SCHEME, schemes=ckks.SCHEMES) -> dict:
    faces = probes.shape[0]
    rows: dict[str, list[float]] = {k: [] for k in ("enc", "hold", "dec", "cpu")}
    err, sent, received, key_bytes = 0.0, 0, 0, 0
    for _ in range(repeat):
        store = fh.MemoryHandleStore()
        (search, body), t_enc, c_enc = timed(lambda: (s := requester.EncryptedSearch(probes, Side.CHILD, scheme=scheme), fm.encode_request(s.request)))

        def hold(body=body, store=store):
            req = fm.decode_request(body)
            if schemes is ckks.SCHEMES:
                ans = holder.answer(req, gallery, policy=POLICY, peer=PEER, handles=store, now=0, ttl_s=3600)
            else:  # a layout variant: the same steps with its own scheme registry
                records, counts, matrix = gallery.shuffled_by_record(np.random.default_rng())
                scores = ckks.score(req.probe, matrix, schemes=schemes)
                ans = fm.EncryptedAnswer(fh.grant(store, PEER, records.tolist(), 0, 3600), tuple(int(c) for c in counts), scores)
            return fm.encode_encrypted_answer(ans)

        reply, t_hold, c_hold = timed(hold)
        (answer, scores), t_dec, c_dec = timed(lambda reply=reply, search=search: (a := fm.decode_encrypted_answer(reply), search.scores(a)))
        rows["enc"].append(t_enc)
        rows["hold"].append(t_hold)
        rows["dec"].append(t_dec)
        rows["cpu"].append(c_enc + c_hold + c_dec)
        ids = np.array([fh.resolve(store, h, PEER, 1) for h in answer.handles]) - 1  # one row per record here
        plain = probes.astype(np.float64) @ gallery.embeddings[ids].astype(np.float64).T
        err = max(err, float(np.abs(scores - plain).max()))
        sent, received, key_bytes = len(body), len(reply), len(search.request.probe.rotation_keys)
    med = {k: statistics.median(v) for k, v in rows.items()}
    return {
        "ms_per_face": round((med["enc"] + med["hold"] + med["dec"]) / faces, 1),
        "ms_encrypt": round(med["enc"] / faces, 1),
        "ms_holder": round(med["hold"] / faces, 1),
        "ms_decrypt": round(med["dec"] / faces, 1),
        "cpu_ms_per_face": round(med["cpu"] / faces, 1),
        "ms_all_repeats": [round((a + b + c) / faces, 1) for a, b, c in zip(rows["enc"], rows["hold"], rows["dec"], strict=True)],
        "bytes_sent": sent,
        "bytes_sent_per_face": round((sent - key_bytes) / faces),
        "bytes_rotation_key": key_bytes,
        "bytes_received": received,
        "bytes_received_per_face": round(received / faces),
        "max_abs_error": float(f"{err:.3g}"),
    }


def bench_plain(gallery: Gallery, probes: np.ndarray, repeat: int) -> dict:
    faces = probes.shape[0]
    times, sent, received = [], 0, 0
    for _ in range(repeat):
        store = fh.MemoryHandleStore()

        def once(store=store):
            body = fm.encode_request(requester.plain_request(probes, Side.CHILD, PLAIN_K))
            ans = holder.answer(fm.decode_request(body), gallery, policy=POLICY, peer=PEER, handles=store, now=0, ttl_s=3600)
            reply = fm.encode_plain_answer(ans)
            requester.plain_leads(fm.decode_plain_answer(reply), PLAIN_K)
            return body, reply

        (body, reply), t, _ = timed(once)
        times.append(t)
        sent, received = len(body), len(reply)
    return {"ms_per_face": round(statistics.median(times) / faces, 2), "k": PLAIN_K, "bytes_sent": sent, "bytes_received": received}


# ---- the layouts compared before choosing (each measured on the same gallery) ----


def _engine(poly: int, bits: list[int]):
    import tenseal.sealapi as seal

    p = seal.EncryptionParameters(seal.SCHEME_TYPE.CKKS)
    p.set_poly_modulus_degree(poly)
    p.set_coeff_modulus(seal.CoeffModulus.Create(poly, bits))
    ctx = seal.SEALContext(p, True, seal.SEC_LEVEL_TYPE.TC128)
    kg = seal.KeyGenerator(ctx)
    sk = kg.secret_key()
    return seal, ctx, kg, seal.Encryptor(ctx, sk), seal.Decryptor(ctx, sk), seal.Evaluator(ctx), seal.CKKSEncoder(ctx)


def layout_holder_rotates(emb: np.ndarray, q: np.ndarray) -> dict:
    """The diagonal layout with ONE probe ciphertext: the holder makes the 16 baby steps
    itself with power-of-two rotation keys (fewer bytes sent, but every rotation at the
    probe's small scale adds noise)."""
    seal, _ctx, kg, enc, dec, ev, ce = _engine(4096, [54, 55])
    slots, baby, qs, gs = 2048, 16, 2.0**30, 2.0**21
    steps = [1, 2, 4, 8, 16]
    elts = [ckks.galois_element(s, 4096) for s in steps]
    key_bytes = len(sealio.dump(kg.create_galois_keys(elts)))
    keys = seal.GaloisKeys()
    kg.create_galois_keys(elts, keys)
    pt = seal.Plaintext()
    ce.encode(np.tile(q.astype(np.float64), slots // 128).tolist(), qs, pt)
    sent = len(sealio.dump(enc.encrypt_symmetric(pt))) + key_bytes
    ct = seal.Ciphertext()
    enc.encrypt_symmetric(pt, ct)
    t0 = time.perf_counter()
    u = [ct]
    for t in range(1, baby):
        hb = 1 << (t.bit_length() - 1)
        r = seal.Ciphertext()
        ev.rotate_vector(u[t - hb], hb, keys, r)
        u.append(r)
    outs = []
    for start in range(0, emb.shape[0], 2 * slots):
        planes = packing.diagonal_planes(emb[start : start + 2 * slots], slots, baby)
        acc = None
        for j in reversed(range(128 // baby)):
            w = None
            for t in range(baby):
                p = seal.Plaintext()
                ce.encode(planes[baby * j + t].tolist(), gs, p)
                m = seal.Ciphertext()
                ev.multiply_plain(u[t], p, m)
                w = m if w is None else (ev.add_inplace(w, m) or w)
            if acc is not None:
                r = seal.Ciphertext()
                ev.rotate_vector(acc, baby, keys, r)
                ev.add_inplace(w, r)
            acc = w
        outs.append(acc)
    ms = (time.perf_counter() - t0) * 1e3
    received = sum(len(sealio.dump(o)) for o in outs)
    decoded = []
    for o in outs:
        p = seal.Plaintext()
        dec.decrypt(o, p)
        decoded.append(np.asarray(ce.decode_complex(p)))
    got = packing.unpack_scores(decoded, emb.shape[0])
    return {"ms": round(ms, 1), "bytes_sent": sent, "bytes_received": received, "max_abs_error": float(f"{np.abs(got - emb @ q).max():.3g}")}


def layout_rotate_and_sum(emb: np.ndarray, q: np.ndarray) -> dict:
    """Row-major: the probe replicated 16 times, 16 gallery rows per plaintext, then
    log2(128) = 7 rotations and additions per product; one score every 128 slots."""
    seal, _ctx, kg, enc, dec, ev, ce = _engine(4096, [59, 50])
    slots, qs, gs = 2048, 2.0**30, 2.0**26
    elts = [ckks.galois_element(1 << i, 4096) for i in range(7)]
    key_bytes = len(sealio.dump(kg.create_galois_keys(elts)))
    keys = seal.GaloisKeys()
    kg.create_galois_keys(elts, keys)
    pt = seal.Plaintext()
    ce.encode(np.tile(q.astype(np.float64), slots // 128).tolist(), qs, pt)
    sent = len(sealio.dump(enc.encrypt_symmetric(pt))) + key_bytes
    ct = seal.Ciphertext()
    enc.encrypt_symmetric(pt, ct)
    per = slots // 128
    t0 = time.perf_counter()
    outs = []
    for start in range(0, emb.shape[0], per):
        block = np.zeros((per, 128))
        part = emb[start : start + per]
        block[: part.shape[0]] = part
        p = seal.Plaintext()
        ce.encode(block.ravel().tolist(), gs, p)
        acc = seal.Ciphertext()
        ev.multiply_plain(ct, p, acc)
        for i in range(7):
            r = seal.Ciphertext()
            ev.rotate_vector(acc, 1 << i, keys, r)
            ev.add_inplace(acc, r)
        outs.append(acc)
    ms = (time.perf_counter() - t0) * 1e3
    received = sum(len(sealio.dump(o)) for o in outs)
    got = []
    for o in outs:
        p = seal.Plaintext()
        dec.decrypt(o, p)
        got.append(np.asarray(ce.decode_double(p))[::128])
    got = np.concatenate(got)[: emb.shape[0]]
    return {"ms": round(ms, 1), "bytes_sent": sent, "bytes_received": received, "max_abs_error": float(f"{np.abs(got - emb @ q).max():.3g}")}


def layout_tenseal_matmul(emb: np.ndarray, q: np.ndarray) -> dict:
    """TenSEAL's own vector x plaintext-matrix product (N = 8192, 4096 columns per call)."""
    import tenseal as ts

    ctx = ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 40, 60])
    ctx.global_scale = 2.0**40
    ctx.generate_galois_keys()
    vec = ts.ckks_vector(ctx, q.astype(np.float64).tolist())
    sent = len(vec.serialize()) + len(ctx.serialize(save_public_key=False, save_secret_key=False, save_galois_keys=True, save_relin_keys=True))
    t0 = time.perf_counter()
    outs = [vec.matmul(emb[s : s + 4096].T.astype(np.float64).tolist()) for s in range(0, emb.shape[0], 4096)]
    ms = (time.perf_counter() - t0) * 1e3
    received = sum(len(o.serialize()) for o in outs)
    got = np.concatenate([np.asarray(o.decrypt()) for o in outs])
    return {"ms": round(ms, 1), "bytes_sent": sent, "bytes_received": received, "max_abs_error": float(f"{np.abs(got - emb @ q).max():.3g}")}


def bench_layouts(sizes: list[int]) -> list[dict]:
    out = []
    for n in sizes:
        gallery, probes = synthetic(n, 1, seed=7)
        emb, q = gallery.embeddings.astype(np.float64), probes[0].astype(np.float64)
        for baby in (1, 2, 4, 8, 16, 128):
            scheme = ckks.CkksScheme(f"bench-b{baby}", 4096, (59, 50), 30, 26, baby)
            r = bench_encrypted(gallery, probes, 1, scheme=scheme, schemes={scheme.name: scheme})
            name = "diagonal, probe sent as 128 rotations (no key)" if baby == 128 else f"diagonal, {baby} baby step(s) sent + 1 rotation key"
            out.append(
                {
                    "layout": name,
                    "rows": n,
                    "ms": r["ms_holder"],
                    "bytes_sent": r["bytes_sent"],
                    "bytes_received": r["bytes_received"],
                    "max_abs_error": r["max_abs_error"],
                    "loadavg": loadavg(),
                }
            )
            log(f"  {out[-1]}")
        for name, fn in (
            ("diagonal, 1 ciphertext, holder rotates (power-of-two keys)", layout_holder_rotates),
            ("row-major, rotate-and-sum", layout_rotate_and_sum),
            ("TenSEAL CKKSVector.matmul, N=8192", layout_tenseal_matmul),
        ):
            out.append({"layout": name, "rows": n, **fn(emb, q), "loadavg": loadavg()})
            log(f"  {out[-1]}")
    return out


def key_sizes() -> dict:
    keys = ckks.ProbeKeys()
    probe = keys.encrypt(synthetic(10, 1, 3)[1])
    from matcher.federation.keys import SigningKey

    signing = SigningKey.generate()
    return {
        "ckks_rotation_key_bytes": len(probe.rotation_keys),
        "ckks_probe_ciphertext_bytes": len(probe.faces[0][0]),
        "ckks_probe_ciphertexts_per_face": len(probe.faces[0]),
        "ed25519_public_key_bytes": len(signing.public.raw),
        "ed25519_private_key_pem_bytes": len(signing.to_pem()),
        "ed25519_signature_bytes": 64,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--faces", type=int, default=4, help="template faces of the multi-face run (at 10^4 rows)")
    ap.add_argument("--budget-s", type=float, default=600, help="sizes projected to run past this are skipped")
    ap.add_argument("--no-layouts", action="store_true")
    ap.add_argument("--layout-sizes", default="1000,10000")
    args = ap.parse_args()
    started = time.perf_counter()
    report: dict = {
        "config": {"repeat": args.repeat, "scheme": ckks.SCHEME.name, "cpus": os.cpu_count(), "plain_k": PLAIN_K},
        "loadavg": {"start": loadavg()},
        "keys": key_sizes(),
        "sizes": [],
    }
    per_row_s = None
    for n in (int(s) for s in args.sizes.split(",")):
        if per_row_s is not None and per_row_s * n * args.repeat * 1.5 > args.budget_s - (time.perf_counter() - started):
            report["sizes"].append({"rows": n, "skipped": f"projected past the {args.budget_s:.0f} s budget"})
            continue
        gallery, probes = synthetic(n, 1, seed=n)
        log(f"{n} rows, loadavg {loadavg()}")
        t = time.perf_counter()
        enc = bench_encrypted(gallery, probes, args.repeat)
        per_row_s = (time.perf_counter() - t) / args.repeat / n
        plain = bench_plain(gallery, probes, args.repeat)
        report["sizes"].append({"rows": n, "encrypted": enc, "plain": plain, "loadavg": loadavg()})
        log(f"  encrypted {enc}\n  plain {plain}")
    if args.faces > 1:
        gallery, probes = synthetic(10_000, args.faces, seed=11)
        report["multi_face"] = {"rows": 10_000, "faces": args.faces, "encrypted": bench_encrypted(gallery, probes, args.repeat), "loadavg": loadavg()}
        log(f"multi-face {report['multi_face']}")
    if not args.no_layouts:
        log("layouts")
        report["layouts"] = bench_layouts([int(s) for s in args.layout_sizes.split(",")])
    report["loadavg"]["end"] = loadavg()
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
