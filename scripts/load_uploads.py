"""Load test: N families filing reports and uploading photos, plus reviewers reading the queue,
against a ``matcher serve`` this script starts on loopback with its own temporary DATA_DIR.

Usage::

    python scripts/load_uploads.py --clients 50 --seconds 60
    python scripts/load_uploads.py --clients 8 --seconds 30 --think 0.5      # one point of the knee
    python scripts/load_uploads.py --knee 1,2,4,8,16 --seconds 30            # find the knee

What it does: creates an admin with the CLI, the other accounts through the admin API;
seeds ``--children`` children with a photo each (so reports find candidates); then for
``--seconds`` every family, in a loop, files a report (``POST /v1/reports``) and uploads 1-3
photos to it (``POST /v1/reports/{id}/media``), pausing ``--think`` seconds between
actions; reviewers list the queue and open a candidate. A 503 from back-pressure is
counted and retried after ``min(Retry-After, --retry-cap)`` seconds, as a page would.

Photos: the shared labelled photos (``../shared/data/faces``) when present, else
scikit-image's astronaut; every upload's bytes differ (JPEG quality and a pixel), so none
is refused as "already part of the record".

Afterwards it checks every acknowledged (2xx) upload: its media row is in the database,
its original and face crops are in the blob store, its template face is in the server's
saved index file, and the service still answers ``/health`` and ``/health/ready``.

The last line of stdout is one JSON object: requests, codes, p50/p95/p99 per route (all
answers, and 2xx only), 5xx split into back-pressure 503s (with Retry-After) and any other,
uploads acknowledged/stored/missing, throughput, health, and the machine's load average
(the figures mean little when other work shares the cores).
Rate limits are raised for the run (this measures capacity, not the per-token limit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MATCHER = [sys.executable, "-m", "matcher"]
NAMES = ["Amal", "Bilal", "Lina", "Omar", "Sara", "Yusuf", "Hana", "Karim", "Maya", "Sami"]


def load_photos(limit: int = 60) -> list[np.ndarray]:
    shared = Path(os.environ.get("MATCHER_TEST_DATA") or ROOT.parent / "shared" / "data") / "faces"
    paths = sorted(p for p in shared.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:limit] if shared.is_dir() else []
    photos = []
    for p in paths:
        img = cv2.imread(str(p))
        if img is not None:
            scale = 800 / max(img.shape[:2])
            photos.append(cv2.resize(img, None, fx=scale, fy=scale) if scale < 1 else img)
    if not photos:
        from skimage import data

        photos = [cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)]
    return photos


class Photos:
    """Distinct JPEG bytes on every call (quality and one pixel vary)."""

    def __init__(self, images: list[np.ndarray]) -> None:
        self.images = images
        self.n = 0

    def next(self) -> bytes:
        self.n += 1
        img = self.images[self.n % len(self.images)].copy()
        img[0, 0] = (self.n % 256, (self.n // 256) % 256, 7)
        return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80 + self.n % 15])[1].tobytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path, workers: int, extra_env: dict) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHER_")}
        self.env.update({"MATCHER_DATA_DIR": str(data_dir), "MATCHER_RATE_UPLOADS_PER_MINUTE": "1000000", "MATCHER_RATE_SEARCHES_PER_MINUTE": "1000000"})
        self.env.update(extra_env)
        self.workers = workers
        self.log = data_dir.parent / "serve.log"
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> str:
        done = subprocess.run([*MATCHER, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise RuntimeError(done.stderr)
        return done.stdout

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*MATCHER, "serve", "--port", str(self.port), "--workers", str(self.workers)], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"matcher serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("matcher serve did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Recorder:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.latency_ok: dict[str, list[float]] = defaultdict(list)  # 2xx answers only
        self.codes: dict[str, Counter] = defaultdict(Counter)
        self.acked: list[dict] = []  # 2xx uploads: media id, report id, faces
        self.busy = 0

    async def call(self, client: httpx.AsyncClient, route: str, method: str, url: str, retry_cap: float, **kw) -> httpx.Response | None:
        """One request; a 503 busy is retried after min(Retry-After, retry_cap) seconds."""
        while True:
            started = time.perf_counter()
            try:
                r = await client.request(method, url, **kw)
            except httpx.HTTPError as exc:
                self.codes[route][type(exc).__name__] += 1
                return None
            self.latency[route].append(time.perf_counter() - started)
            if 200 <= r.status_code < 300:
                self.latency_ok[route].append(self.latency[route][-1])
            self.codes[route][r.status_code] += 1
            if r.status_code == 503 and r.headers.get("retry-after"):
                self.busy += 1
                await asyncio.sleep(min(float(r.headers["retry-after"]), retry_cap) * (0.5 + random.random()))
                continue
            return r


async def family(rec: Recorder, client: httpx.AsyncClient, token: str, photos: Photos, deadline: float, args) -> None:
    h = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < deadline:
        body = {"name": random.choice(NAMES), "birth_year": random.randint(2008, 2020), "notes": "load test"}
        r = await rec.call(client, "POST /v1/reports", "POST", "/v1/reports", args.retry_cap, json=body, headers=h)
        if r is None or r.status_code != 201:
            await asyncio.sleep(1)
            continue
        rid = r.json()["id"]
        for _ in range(random.randint(1, args.max_photos)):
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(args.think * random.random() * 2)
            u = await rec.call(
                client,
                "POST /v1/reports/{report_id}/media",
                "POST",
                f"/v1/reports/{rid}/media",
                args.retry_cap,
                files={"file": ("photo.jpg", photos.next(), "image/jpeg")},
                headers=h,
            )
            if u is not None and 200 <= u.status_code < 300:
                out = u.json()
                rec.acked.append(
                    {
                        "media_id": out["media_id"],
                        "report_id": rid,
                        "faces": [f["id"] for f in out["faces"]],
                        "selected": [f["id"] for f in out["faces"] if f["selected"]],
                    }
                )
        await asyncio.sleep(args.think * random.random() * 2)


async def reviewer(rec: Recorder, client: httpx.AsyncClient, token: str, deadline: float, args) -> None:
    h = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < deadline:
        q = await rec.call(client, "GET /v1/queue", "GET", "/v1/queue", args.retry_cap, params={"limit": 50}, headers=h)
        if q is not None and q.status_code == 200 and q.json():
            cand = random.choice(q.json())
            await rec.call(client, "GET /v1/candidates/{candidate_id}", "GET", f"/v1/candidates/{cand['id']}", args.retry_cap, headers=h)
        await asyncio.sleep(0.5 + random.random())


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    v = np.array(values)
    return {
        "n": len(v),
        "p50_s": round(float(np.percentile(v, 50)), 3),
        "p95_s": round(float(np.percentile(v, 95)), 3),
        "p99_s": round(float(np.percentile(v, 99)), 3),
        "max_s": round(float(v.max()), 3),
    }


def server_means(text: str) -> dict:
    """Mean seconds per call from the server's own /metrics: model stages, waiting for a model slot."""
    from prometheus_client.parser import text_string_to_metric_families

    sums: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for smp in family.samples:
            key = {"matcher_model_stage_seconds": f"model_{smp.labels.get('stage')}", "matcher_model_pool_wait_seconds": "pool_wait"}.get(family.name)
            if key and smp.name.endswith(("_sum", "_count")):
                sums[key + smp.name[smp.name.rfind("_") :]] += smp.value
    keys = {k.rsplit("_", 1)[0] for k in sums}
    return {f"{k}_mean_s": round(sums[k + "_sum"] / sums[k + "_count"], 4) for k in sorted(keys) if sums.get(k + "_count")} | {
        f"{k}_calls": int(sums[k + "_count"]) for k in sorted(keys)
    }


async def setup_accounts(server: Server, clients: int, reviewers: int) -> dict:
    server.cli("users", "add", "load-admin", "--role", "admin")
    admin = server.cli("tokens", "create", "load-admin").strip().splitlines()[-1]
    out: dict = {"families": [], "reviewers": []}
    async with httpx.AsyncClient(base_url=server.base, headers={"Authorization": f"Bearer {admin}"}, timeout=60) as c:
        for name, role, key in [
            *[(f"fam{i}", "family", "families") for i in range(clients)],
            *[(f"rev{i}", "reviewer", "reviewers") for i in range(reviewers)],
            ("shelter", "shelter", None),
        ]:
            (await c.post("/v1/admin/users", json={"name": name, "role": role})).raise_for_status()
            token = (await c.post("/v1/admin/tokens", json={"user": name})).json()["token"]
            if key:
                out[key].append(token)
            else:
                out["shelter"] = token
    out["admin"] = admin
    return out


async def seed_children(server: Server, token: str, photos: Photos, n: int) -> None:
    async with httpx.AsyncClient(base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
        for i in range(n):
            child = (await c.post("/v1/children", json={"number": f"LOAD-{i}", "birth_year": random.randint(2008, 2020)})).json()
            await c.post(f"/v1/children/{child['id']}/media", files={"file": ("c.jpg", photos.next(), "image/jpeg")})


def verify(data_dir: Path, acked: list[dict]) -> dict:
    """Every acknowledged upload: row in the database, blobs in the store, template in the saved index."""
    from sqlalchemy import select

    from matcher.container import Services
    from matcher.index.faiss_index import FaceIndex
    from matcher.settings import Settings
    from matcher.store.tables import Face, Media

    svc = Services(Settings(data_dir=data_dir))
    media_ids = [a["media_id"] for a in acked]
    with svc.sessions() as session:
        rows = {m.id: m.sha256 for m in session.scalars(select(Media).where(Media.id.in_(media_ids)))} if media_ids else {}
        crops = {fid: sha for fid, sha in session.execute(select(Face.id, Face.crop_sha256).where(Face.media_id.in_(media_ids)))} if media_ids else {}  # noqa: C416 - a Result has keys()
    missing_rows = [m for m in media_ids if m not in rows]
    missing_blobs = [sha for sha in [*rows.values(), *crops.values()] if sha and not svc.blobs.exists(sha)]
    path = svc.indexes.path("report", svc.settings.pack)
    indexed = set(FaceIndex.load(path, pack=svc.settings.pack, dim=svc.pack_info().embedding_dim).ids().tolist()) if path.is_file() else set()
    templates = [f for a in acked for f in a["selected"]]
    not_indexed = [f for f in templates if f not in indexed]
    return {
        "acknowledged": len(acked),
        "in_database": len(media_ids) - len(missing_rows),
        "missing_rows": len(missing_rows),
        "missing_blobs": len(missing_blobs),
        "template_faces": len(templates),
        "not_in_saved_index": len(not_indexed),
    }


async def run_once(args, clients: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="matcher-load-"))
    extra = dict(kv.split("=", 1) for kv in args.env)
    server = Server(tmp / "var", args.workers, extra)
    photos = Photos(load_photos())
    try:
        server.start()
        accounts = await setup_accounts(server, clients, args.reviewers if args.reviewers is not None else max(2, clients // 10))
        await seed_children(server, accounts["shelter"], photos, args.children)
        rec = Recorder()
        limits = httpx.Limits(max_connections=clients + 50, max_keepalive_connections=clients + 50)
        async with httpx.AsyncClient(base_url=server.base, timeout=httpx.Timeout(300), limits=limits) as client:
            load_before = os.getloadavg()[0]
            started = time.monotonic()
            deadline = started + args.seconds
            tasks = [family(rec, client, t, photos, deadline, args) for t in accounts["families"]]
            tasks += [reviewer(rec, client, t, deadline, args) for t in accounts["reviewers"]]
            await asyncio.gather(*tasks)
            elapsed = time.monotonic() - started
            health = (await client.get("/health")).status_code
            ready = await client.get("/health/ready", timeout=120)
            scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {accounts['admin']}"})
        server.stop()
        checks = verify(tmp / "var", rec.acked)
        all_codes = Counter()
        for c in rec.codes.values():
            all_codes.update(c)
        five = sum(n for code, n in all_codes.items() if isinstance(code, int) and code >= 500)
        busy = all_codes.get(503, 0)
        upload_route = "POST /v1/reports/{report_id}/media"
        return {
            "clients": clients,
            "reviewers": len(accounts["reviewers"]),
            "seconds": round(elapsed, 1),
            "think_s": args.think,
            "requests": sum(all_codes.values()),
            "codes": {str(k): v for k, v in sorted(all_codes.items(), key=lambda kv: str(kv[0]))},
            "codes_per_route": {route: {str(k): v for k, v in c.items()} for route, c in rec.codes.items()},
            "5xx": five,
            "5xx_busy_503_with_retry_after": busy,
            "5xx_other": five - busy,
            "busy_503_retried": rec.busy,
            "latency_all": {route: percentiles(v) for route, v in rec.latency.items()},
            "latency_2xx": {route: percentiles(v) for route, v in rec.latency_ok.items()},
            "uploads_per_s": round(len(rec.acked) / elapsed, 2),
            "upload_p95_s": percentiles(rec.latency_ok[upload_route]).get("p95_s"),
            "load_average_1m": {"before": round(load_before, 1), "after": round(os.getloadavg()[0], 1)},
            "uploads": checks,
            "health": health,
            "ready": ready.status_code,
            "ready_detail": ready.json().get("checks"),
            "server_metrics": server_means(scraped.text) if scraped.status_code == 200 else None,
            "server": {"workers": args.workers, "env": extra, "cores": os.cpu_count()},
        }
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}", file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=50, help="concurrent families")
    p.add_argument("--reviewers", type=int, default=None, help="concurrent reviewers (default clients/10, at least 2)")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--think", type=float, default=1.0, help="mean pause between a family's actions, seconds")
    p.add_argument("--max-photos", type=int, default=3, help="photos per report, 1 to this")
    p.add_argument("--children", type=int, default=20, help="children seeded before the run")
    p.add_argument("--retry-cap", type=float, default=5.0, help="longest wait after a 503 (Retry-After is 60)")
    p.add_argument("--workers", type=int, default=1, help="matcher serve --workers")
    p.add_argument("--env", action="append", default=[], help="MATCHER_X=value for the server (repeatable)")
    p.add_argument("--knee", default="", help="comma-separated client counts: run each and report uploads/s and p95")
    p.add_argument("--keep", action="store_true", help="keep the temporary DATA_DIR")
    args = p.parse_args()
    if args.knee:
        points = []
        for n in (int(x) for x in args.knee.split(",")):
            r = asyncio.run(run_once(args, n))
            points.append(
                {k: r[k] for k in ("clients", "uploads_per_s", "upload_p95_s", "5xx_other", "5xx_busy_503_with_retry_after", "requests", "load_average_1m")}
            )
            print(json.dumps(points[-1]), file=sys.stderr)
        ok = [pt for pt in points if pt["upload_p95_s"] is not None and pt["upload_p95_s"] <= 2.0]
        print(
            json.dumps({"knee": max(ok, key=lambda pt: pt["uploads_per_s"]) if ok else None, "points": points, "think_s": args.think, "seconds": args.seconds})
        )
        return
    print(json.dumps(asyncio.run(run_once(args, args.clients))))


if __name__ == "__main__":
    main()
