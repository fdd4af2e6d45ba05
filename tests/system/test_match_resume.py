"""A kill -9 during the matching phase of `matcher index`, then a re-run, ends with
exactly the candidates of an uninterrupted run (matching commits in chunks; records still
to match are marked in the database, so any later run finishes them)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

# Runs `matcher index` in this process, but SIGKILLs it right after the second matching
# chunk has committed: the kill lands in the middle of the matching phase.
KILLER = """
import os, signal, sys
from matcher.review import matching
original = matching.Matcher.match
calls = []
def match_then_die(self, session, ids, calibration):
    calls.append(1)
    if len(calls) == 3:  # chunks 1 and 2 are committed (each in its own transaction)
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, session, ids, calibration)
matching.Matcher.match = match_then_die
from matcher.cli.app import app
sys.exit(app(sys.argv[1:]))
"""


def archive(photos, root: Path) -> tuple[Path, Path]:
    by_id = defaultdict(list)
    for p in photos:
        by_id[p.identity].append(p.path)
    for identity, paths in sorted(by_id.items()):
        for side, chosen in (("children", paths[:-1] or paths), ("reports", paths[-1:])):
            folder = root / side / identity
            folder.mkdir(parents=True, exist_ok=True)
            for p in chosen:
                (folder / p.name).symlink_to(p)
    return root / "children", root / "reports"


def run(args: list[str], data_dir: Path, killer: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "MATCHER_DATA_DIR": str(data_dir), "MATCHER_MODELS_DIR": str(ROOT / "models"), "MATCHER_ORT_THREADS": "2", "MATCHER_MATCH_CHUNK": "4"}
    cmd = [sys.executable, "-c", KILLER, *args] if killer else [sys.executable, "-m", "matcher", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def candidates(data_dir: Path) -> list[tuple]:
    with sqlite3.connect(data_dir / "matcher.db") as db:
        return sorted(
            db.execute(
                "select c.kind, r.external_id, k.external_id, c.status, round(c.score, 6), round(c.fmr, 9) from candidates c "
                "join records r on r.id = c.report_id join records k on k.id = c.child_id"
            ).fetchall()
        )


def test_kill_during_matching_then_rerun_gives_the_uninterrupted_candidates(tmp_path, labelled_photos, model_cache):
    children, reports = archive(labelled_photos, tmp_path / "archive")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    for data_dir in (whole, killed):
        assert run(["index", str(children), "--no-progress"], data_dir).returncode == 0
    assert run(["index", str(reports), "--side", "reports", "--no-progress"], whole).returncode == 0

    died = run(["index", str(reports), "--side", "reports", "--no-progress"], killed, killer=True)
    assert died.returncode == -9, died.stderr
    with sqlite3.connect(killed / "matcher.db") as db:
        pending = db.execute("select count(*) from records where needs_match").fetchone()[0]
    assert pending > 0  # the kill left matching unfinished
    partial = candidates(killed)
    assert 0 < len(partial) < len(candidates(whole))

    rerun = run(["index", str(reports), "--side", "reports", "--no-progress"], killed)
    assert rerun.returncode == 0, rerun.stderr
    assert candidates(killed) == candidates(whole)
    with sqlite3.connect(killed / "matcher.db") as db:
        assert db.execute("select count(*) from records where needs_match").fetchone()[0] == 0
