"""Background work lives in the database. Jobs survive a restart, are
claimed by exactly one worker, come back when their worker dies, and their work is
idempotent (a re-run stores nothing twice). Real processes: `matcher serve` killed with
SIGKILL while a video job is queued or running; two `matcher worker` processes on one
PostgreSQL queue."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from matcher.container import Services
from matcher.errors import InputError
from matcher.jobs.kinds import JobKind
from matcher.jobs.queue import MAX_ATTEMPTS, STALE_S, machine_identity
from matcher.jobs.worker import Worker
from matcher.store.tables import Face, JobRow, Media, Record, utcnow
from matcher.types import Principal
from tests.conftest import ROOT, make_settings
from tests.http_helpers import make_accounts

VIDEO = "WDA_BobMenendez_000.mp4"


@pytest.fixture
def svc(tmp_path, database_url) -> Services:
    """Services on SQLite and (where a server can start) PostgreSQL, without the API's
    in-process worker: the tests run workers themselves."""
    return Services(make_settings(tmp_path / "var", database_url=database_url, inprocess_worker=False))


def _row(svc: Services, job_id: str) -> JobRow:
    with svc.sessions() as session:
        return session.get(JobRow, job_id)


def _set(svc: Services, job_id: str, **values) -> None:
    with svc.sessions.begin() as session:
        session.execute(update(JobRow).where(JobRow.id == job_id).values(**values))


def _kinds(calls: list) -> dict[str, JobKind]:
    def ok(_s, job):
        calls.append(("run", job.id))
        return {"n": job.payload["n"] * 2}

    def refused(_s, _job):
        raise InputError("this file could not be used")

    def broken(_s, _job):
        raise RuntimeError("a bug with /private/name.mp4 in it")

    def cleanup(_s, job):
        calls.append(("cleanup", job.id))

    return {"ok": JobKind(ok, cleanup), "refused": JobKind(refused, cleanup), "broken": JobKind(broken, cleanup)}


# ---- the queue --------------------------------------------------------------------------------


def test_a_queued_job_is_in_the_database_and_outlives_its_process(svc, tmp_path):
    job = svc.jobs.submit("ok", None, {"n": 1})
    fresh = Services(svc.settings)  # another process, as far as the job can tell
    again = fresh.jobs.get(job.id)
    assert again is not None and again.status == "queued" and again.payload == {"n": 1} and again.attempts == 0
    assert fresh.jobs.get("no-such-job") is None


def test_each_queued_job_is_claimed_by_exactly_one_of_many_claimers(svc):
    ids = {svc.jobs.submit("ok", None, {"n": i}).id for i in range(12)}
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while (job := svc.jobs.claim(name)) is not None:
            with lock:
                claimed.append((job.id, name))

    threads = [threading.Thread(target=claimer, args=(f"test/ns/{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(job_id for job_id, _ in claimed) == sorted(ids)  # every job once, none twice
    for job_id, name in claimed:
        row = _row(svc, job_id)
        assert (row.state, row.attempts, row.locked_by) == ("running", 1, name)


def test_worker_runs_each_kind_and_records_results_and_clear_errors(svc):
    calls: list = []
    good = svc.jobs.submit("ok", None, {"n": 21})
    refused = svc.jobs.submit("refused", None, {"n": 0, "filename": "Amal at school.mp4"})
    broken = svc.jobs.submit("broken", None, {"n": 0})
    unknown = svc.jobs.submit("mystery", None, {})
    ended = Worker(svc, kinds=_kinds(calls), name="test/ns/1").run(once=True)
    assert sorted(ended) == sorted([(good.id, "done"), (refused.id, "failed"), (broken.id, "failed"), (unknown.id, "failed")])
    assert svc.jobs.get(good.id).result == {"n": 42}
    assert svc.jobs.get(refused.id).error == {"code": "bad_input", "message": "this file could not be used"}
    assert svc.jobs.get(broken.id).error == {"code": "internal_error", "message": "processing failed: RuntimeError"}  # no paths leak out
    assert svc.jobs.get(unknown.id).error["code"] == "unknown_job_kind"
    assert ("cleanup", refused.id) in calls and ("cleanup", broken.id) in calls and ("cleanup", good.id) not in calls
    row = _row(svc, refused.id)
    assert "filename" not in row.payload  # what a family named is dropped once the job ended
    assert row.finished_at is not None and row.started_at is not None and row.locked_by == "test/ns/1"


def test_job_status_is_shown_to_its_creator_and_admins_only(svc):
    with svc.sessions.begin() as session:
        from matcher.services.accounts import create_user

        users = {name: create_user(session, name, role).id for name, role in (("fam", "family"), ("fam2", "family"), ("boss", "admin"), ("rev", "reviewer"))}
    job = svc.jobs.submit("ok", users["fam"], {"n": 1})
    mine = svc.jobs.status(Principal(users["fam"], "fam", "family", 1), job.id)
    assert mine == {"id": job.id, "kind": "ok", "status": "queued", "result": None, "error": None, "progress": None}
    assert svc.jobs.status(Principal(users["boss"], "boss", "admin", 2), job.id)["id"] == job.id
    for name, role in (("fam2", "family"), ("rev", "reviewer")):
        with pytest.raises(Exception) as caught:
            svc.jobs.status(Principal(users[name], name, role, 3), job.id)
        assert getattr(caught.value, "status", None) == 404


# ---- dead workers -----------------------------------------------------------------------------


def test_a_job_whose_worker_went_silent_is_queued_again_then_given_up_after_three_starts(svc):
    calls: list = []
    job = svc.jobs.submit("ok", None, {"n": 1, "blob": "0" * 64, "filename": "x.mp4"})
    old = utcnow() - dt.timedelta(seconds=STALE_S + 5)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert svc.jobs.claim("far-away-host/1/77").id == job.id
        assert _row(svc, job.id).attempts == attempt
        assert svc.jobs.recover() == []  # its heartbeat is fresh: left alone
        _set(svc, job.id, heartbeat_at=old)  # the worker died silently
        failed = svc.jobs.recover()
        row = _row(svc, job.id)
        if attempt < MAX_ATTEMPTS:
            assert (row.state, row.locked_by, failed) == ("queued", None, [])
    assert row.state == "failed" and row.error_code == "job_interrupted"
    assert f"interrupted {MAX_ATTEMPTS} times" in row.error_message and "filename" not in row.payload
    assert [j.id for j in failed] == [job.id]
    # a worker that finds it given up cleans up after it (the kind's cleanup)
    again = svc.jobs.submit("ok", None, {"n": 2})
    svc.jobs.claim("far-away-host/1/77")
    _set(svc, again.id, heartbeat_at=old, attempts=MAX_ATTEMPTS)
    Worker(svc, kinds=_kinds(calls), name="test/ns/2").run(once=True)
    assert ("cleanup", again.id) in calls and _row(svc, again.id).state == "failed"


def test_a_job_of_a_dead_process_on_this_machine_is_queued_again_at_once(svc):
    job = svc.jobs.submit("ok", None, {"n": 1})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert svc.jobs.claim(f"{machine_identity()}/{dead.pid}").id == job.id  # heartbeat: now
    svc.jobs.recover()
    assert _row(svc, job.id).state == "queued"
    # one of this very process, or of a live one elsewhere, stays with its worker
    svc.jobs.claim(f"{machine_identity()}/{os.getpid()}:api")
    svc.jobs.recover()
    assert _row(svc, job.id).state == "running"


def test_a_worker_that_lost_its_job_does_not_overwrite_the_new_owner(svc):
    job = svc.jobs.submit("ok", None, {"n": 1})
    first = svc.jobs.claim("host-a/1/1")
    _set(svc, job.id, heartbeat_at=utcnow() - dt.timedelta(seconds=STALE_S + 5))
    svc.jobs.recover()
    second = svc.jobs.claim("host-b/1/1")
    assert second.attempts == 2
    assert svc.jobs.finish(first, "host-a/1/1", {"n": "stale"}) is False
    assert svc.jobs.finish(second, "host-b/1/1", {"n": 2}) is True
    assert svc.jobs.get(job.id).result == {"n": 2}


def test_a_worker_heartbeats_while_a_long_job_runs(svc, monkeypatch):
    import matcher.jobs.worker as worker_module

    monkeypatch.setattr(worker_module, "HEARTBEAT_S", 0.05)
    job = svc.jobs.submit("slow", None, {})
    beats: list = []

    def slow(_s, j):
        first = _row(svc, j.id).heartbeat_at
        time.sleep(0.6)
        beats.append((first, _row(svc, j.id).heartbeat_at))
        return {}

    Worker(svc, kinds={"slow": JobKind(slow, lambda *_: None)}).run(once=True)
    ((first, later),) = beats
    assert later > first and svc.jobs.get(job.id).status == "done"


def test_a_clash_with_concurrent_work_runs_the_job_again_up_to_three_starts(svc):
    from sqlalchemy.exc import OperationalError

    starts: dict[str, int] = {}

    def clashing(_s, job):
        starts[job.id] = starts.get(job.id, 0) + 1
        if starts[job.id] <= job.payload["clashes"]:
            raise OperationalError("UPDATE ...", {}, Exception("deadlock detected"))
        return {"starts": starts[job.id]}

    once = svc.jobs.submit("clash", None, {"clashes": 1})
    always = svc.jobs.submit("clash", None, {"clashes": 99})
    Worker(svc, kinds={"clash": JobKind(clashing, lambda *_: None)}).run(once=True)
    assert (svc.jobs.get(once.id).status, svc.jobs.get(once.id).result, svc.jobs.get(once.id).attempts) == ("done", {"starts": 2}, 2)
    given_up = svc.jobs.get(always.id)
    assert (given_up.status, given_up.attempts, starts[always.id]) == ("failed", MAX_ATTEMPTS, MAX_ATTEMPTS)
    assert given_up.error == {"code": "internal_error", "message": "processing failed: OperationalError"}


# ---- real work, real processes ----------------------------------------------------------------


@pytest.fixture(scope="module")
def videos(shared_data) -> Path:
    folder = shared_data / "videos"
    if not (folder / VIDEO).is_file():
        pytest.skip("shared test videos not found")
    return folder


def _media_of(svc: Services, record_id: int) -> list[tuple[int, str, int]]:
    with svc.sessions() as session:
        rows = session.execute(select(Media.id, Media.sha256, Media.face_count).where(Media.record_id == record_id).order_by(Media.id)).all()
        return [tuple(r) for r in rows]


def _face_count(svc: Services, record_id: int) -> int:
    with svc.sessions() as session:
        return session.scalar(select(func.count()).select_from(Face).join(Media).where(Media.record_id == record_id))


@pytest.mark.slow
def test_a_video_job_re_run_after_its_commit_stores_nothing_twice(tmp_path, services, videos):
    svc = Services(make_settings(tmp_path / "var", inprocess_worker=False))
    svc.analyzer.reuse_models(services.analyzer)
    make_accounts(svc, {"fam": "family"})
    with svc.sessions() as session:
        from matcher.store.tables import User

        user = session.scalar(select(User).where(User.name == "fam"))
    fam = Principal(user.id, "fam", "family", 0)
    report = svc.records.create(fam, "report", {"name": "Amal"})
    job = svc.jobs.submit_upload(fam, report["id"], "report", (videos / VIDEO).read_bytes(), "clip.mp4")
    assert Worker(svc).run(once=True) == [(job.id, "done")]
    first = svc.jobs.get(job.id).result
    stored, faces = _media_of(svc, report["id"]), _face_count(svc, report["id"])
    assert len(stored) == 1 and faces >= 1 and first["media_id"] == stored[0][0]
    # the worker died after the commit, before it could say so: the job runs again
    _set(
        svc,
        job.id,
        state="running",
        locked_by="gone/1/1",
        heartbeat_at=utcnow() - dt.timedelta(seconds=STALE_S + 5),
        result=None,
        payload={**svc.jobs.get(job.id).payload},
    )
    assert Worker(svc).run(once=True) == [(job.id, "done")]
    again = svc.jobs.get(job.id)
    assert again.attempts == 2 and again.result["media_id"] == first["media_id"]
    assert [f["id"] for f in again.result["faces"]] == [f["id"] for f in first["faces"]]
    assert _media_of(svc, report["id"]) == stored and _face_count(svc, report["id"]) == faces
    # the same file again is refused at once, not queued
    with pytest.raises(InputError):
        svc.jobs.submit_upload(fam, report["id"], "report", (videos / VIDEO).read_bytes(), "clip.mp4")


def _env(data_dir: Path, **extra: str) -> dict:
    return {**os.environ, "MATCHER_DATA_DIR": str(data_dir), "MATCHER_MODELS_DIR": str(ROOT / "models"), "MATCHER_ORT_THREADS": "1", **extra}


class _Server:
    """``matcher serve`` in its own process on a free loopback port."""

    def __init__(self, env: dict, log: Path) -> None:
        import httpx

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base, self.log = f"http://127.0.0.1:{port}", log.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "matcher", "serve", "--port", str(port)], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited: {log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop(signal.SIGKILL)
        raise AssertionError(f"server did not start: {log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: a clean stop; SIGKILL: the process dies on the spot, mid-job."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)
        self.log.close()


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_a_killed_server_finishes_its_queued_and_running_video_jobs_after_restart(tmp_path, videos):
    import httpx

    data = tmp_path / "var"
    watcher = Services(make_settings(data, inprocess_worker=False))
    token = make_accounts(watcher, {"fam": "family"}).tokens["fam"]
    auth = {"Authorization": f"Bearer {token}"}

    def upload(server, name: str) -> tuple[int, str]:
        report = httpx.post(f"{server.base}/v1/reports", json={"name": "Amal"}, headers=auth, timeout=30).json()
        r = httpx.post(f"{server.base}/v1/reports/{report['id']}/media", headers=auth, files={"file": (name, (videos / name).read_bytes())}, timeout=120)
        assert r.status_code == 202, r.text
        return report["id"], r.json()["job"]

    # 1. queued: a server that runs no jobs takes the upload and is killed
    first = _Server(_env(data, MATCHER_INPROCESS_WORKER="false"), tmp_path / "serve1.log")
    queued_record, queued = upload(first, VIDEO)
    first.stop(signal.SIGKILL)
    assert _row(watcher, queued).state == "queued"
    # 2. running: the next server starts on it; killed while it works on a second video
    second = _Server(_env(data), tmp_path / "serve2.log")
    _wait_for(lambda: _row(watcher, queued).state == "done", 300, "the queued job to finish after the restart")
    running_record, running = upload(second, "WDA_KatieHill_000.mp4")
    _wait_for(lambda: _row(watcher, running).state == "running", 60, "the video job to start")
    second.stop(signal.SIGKILL)
    assert _row(watcher, running).state == "running"  # left behind by the dead process
    # 3. the restarted server finds it (its process is gone) and runs it again, at once
    third = _Server(_env(data), tmp_path / "serve3.log")
    try:
        _wait_for(lambda: _row(watcher, running).state in ("done", "failed"), 300, "the interrupted job to finish")
        status = httpx.get(f"{third.base}/v1/jobs/{running}", headers=auth, timeout=30).json()
    finally:
        third.stop()
    assert status["status"] == "done", status
    assert _row(watcher, running).attempts == 2 and _row(watcher, queued).attempts == 1
    for record_id, job_id in ((queued_record, queued), (running_record, running)):
        media = _media_of(watcher, record_id)
        assert len(media) == 1, media  # stored once
        assert media[0][0] == _row(watcher, job_id).result["media_id"] and media[0][2] == _face_count(watcher, record_id) >= 1
        assert watcher.blobs.exists(media[0][1])


@pytest.mark.slow
@pytest.mark.postgres
def test_two_worker_processes_share_one_postgres_queue_and_run_each_job_once(tmp_path, postgres_server, labelled_photos):
    n = 6
    data, imports = tmp_path / "var", tmp_path / "imports"
    url = postgres_server.new_database()
    svc = Services(make_settings(data, database_url=url, import_root=imports, inprocess_worker=False))
    people = {}
    for photo in labelled_photos:
        people.setdefault(photo.identity, photo.path)
    chosen = list(people.values())[:n]
    assert len(chosen) == n
    ids = []
    for i, path in enumerate(chosen):
        child = imports / f"batch{i}" / f"SH-{i:03d}"
        child.mkdir(parents=True)
        (child / f"photo{path.suffix}").write_bytes(path.read_bytes())
        ids.append(svc.jobs.submit("import", None, {"folder": str(child.parent), "actor": "cli:test"}).id)
    env = _env(data, MATCHER_DATABASE_URL=url, MATCHER_IMPORT_ROOT=str(imports))
    workers = [
        subprocess.Popen([sys.executable, "-m", "matcher", "worker", "--once"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs, logs = [], []
    for proc in workers:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        outputs.append({line.split()[1] for line in out.splitlines() if line.startswith("job ") and line.endswith(" done")})
        logs.append(err)
    # every start of a job is accounted for: its one completion, plus a logged retry after a
    # clash with the other worker's concurrent write (matching), never a second claim
    retries = {job_id: sum(log.count(f"job {job_id} (import) clashed") for log in logs) for job_id in ids}
    states = {job_id: (_row(svc, job_id).state, _row(svc, job_id).attempts, _row(svc, job_id).error_message) for job_id in ids}
    assert all(states[j] == ("done", 1 + retries[j], None) for j in ids), (states, [log[-2000:] for log in logs])
    assert outputs[0].isdisjoint(outputs[1])  # no job completed in both
    assert outputs[0] | outputs[1] == set(ids)  # every job ran
    assert all(outputs), "both workers took jobs"
    for job_id in ids:
        row = _row(svc, job_id)
        assert (row.result["photos"], row.result["failed"]) == (1, 0)
        # a run after a retry may find its photo stored by the first one (idempotent work)
        assert row.result["new_media"] == 1 or (retries[job_id] and row.result["new_media"] == 0)
    with svc.sessions() as session:
        numbers = session.scalars(select(Record.external_id).where(Record.side == "child")).all()
        assert sorted(numbers) == [f"SH-{i:03d}" for i in range(n)]
        assert session.scalar(select(func.count()).select_from(Media)) == n
