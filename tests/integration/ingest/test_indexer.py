"""Records, storage, the FAISS index and batch indexing of shelter archives.

Runs on SQLite and, where a throwaway server can be started, PostgreSQL (``database_url``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from matcher.cli.app import app
from matcher.container import Services
from matcher.index.faiss_index import FaceIndex
from matcher.ingest.archive import scan_folder
from matcher.ingest.indexer import ArchiveIndexer
from matcher.store import repo
from matcher.store.tables import Embedding, Face, Media, Record
from tests.conftest import ROOT, make_settings

pytestmark = pytest.mark.slow


def _build_archive(root: Path, photos, identities=None) -> list:
    """Folder per identity (symlinks to the shared photos); one photo of each identity
    with 2+ photos is held aside as a query. Returns the held-aside photos."""
    by_id: dict[str, list] = {}
    for p in photos:
        by_id.setdefault(p.identity, []).append(p)
    held = []
    for identity, group in sorted(by_id.items()):
        if identities is not None and identity not in identities:
            continue
        keep = group
        if len(group) >= 2:
            held.append(group[-1])
            keep = group[:-1]
        folder = root / identity
        folder.mkdir(parents=True)
        for p in keep:
            (folder / p.path.name).symlink_to(p.path)
    return held


@pytest.fixture(scope="module")
def full_archive(tmp_path_factory, labelled_photos):
    root = tmp_path_factory.mktemp("archive")
    return root, _build_archive(root, labelled_photos)


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory, labelled_photos):
    """Six identities, about a third of the photos: for the slower crash/rebuild tests."""
    identities = sorted({p.identity for p in labelled_photos})[:6]
    root = tmp_path_factory.mktemp("small_archive")
    return root, _build_archive(root, labelled_photos, set(identities))


def _services(tmp_path: Path, database_url: str | None, **overrides) -> Services:
    return Services(make_settings(tmp_path / "var", database_url=database_url, **overrides))


def _snapshot(services: Services) -> dict:
    """Content of the store, independent of row ids."""
    with services.sessions() as session:
        rows = session.execute(
            select(Record.external_id, Media.sha256, Media.face_count, Face.x1, Face.y1, Face.selected)
            .join(Media, Media.record_id == Record.id)
            .outerjoin(Face, Face.media_id == Media.id)
        ).all()
        embeddings = session.scalar(select(func.count()).select_from(Embedding))
        records = session.scalar(select(func.count()).select_from(Record))
    faces = sorted((r[0], r[1], r[2], None if r[3] is None else (round(r[3], 1), round(r[4], 1), r[5])) for r in rows)
    return {"records": records, "embeddings": embeddings, "rows": faces}


def test_held_aside_photo_finds_its_identity_at_rank_1(full_archive, tmp_path, database_url):
    root, held = full_archive
    services = _services(tmp_path, database_url)
    summary = ArchiveIndexer(services, "child").run(scan_folder(root))
    assert summary.failed == 0 and summary.new_media == summary.photos
    hits = []
    for photo in held:
        _, candidates = services.search.photo(photo.path.read_bytes(), "child", 10, "test", "staff")
        hits.append(bool(candidates) and candidates[0].record_id == photo.identity)
    rate = sum(hits) / len(hits)
    print(f"\nrank-1 of held-aside photos: {rate:.3f} ({sum(hits)}/{len(hits)}), backend={services.engine.dialect.name}")
    assert rate >= 0.9
    with services.sessions() as session:
        searches = session.scalar(select(func.count()).select_from(repo.AuditEvent).where(repo.AuditEvent.action == "search"))
    assert searches == len(held)


def test_indexing_the_same_archive_twice_adds_no_rows(small_archive, tmp_path, database_url):
    root, _ = small_archive
    services = _services(tmp_path, database_url)
    first = ArchiveIndexer(services, "child").run(scan_folder(root))
    before = _snapshot(services)
    second = ArchiveIndexer(services, "child").run(scan_folder(root))
    assert first.new_media > 0
    assert second.new_media == 0 and second.skipped == first.photos
    assert _snapshot(services) == before
    with services.sessions() as session:
        templates = session.scalar(select(func.count()).select_from(Face).where(Face.selected.is_(True)))
    assert len(services.index("child")) == templates > 0


def _count_media(services: Services) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(Media))


def test_killed_indexer_resumes_to_the_same_store_as_an_uninterrupted_run(small_archive, tmp_path, database_url):
    root, _ = small_archive
    reference = _services(tmp_path / "reference", database_url if database_url is None else None)
    ArchiveIndexer(reference, "child").run(scan_folder(root))
    expected = _snapshot(reference)

    target = tmp_path / "killed"
    url = database_url or f"sqlite:///{(target / 'var' / 'matcher.db').resolve()}"
    env = {
        **os.environ,
        "MATCHER_DATA_DIR": str(target / "var"),
        "MATCHER_DATABASE_URL": url,
        "MATCHER_ORT_THREADS": "2",
        "MATCHER_MODELS_DIR": str(ROOT / "models"),
    }
    command = [sys.executable, "-m", "matcher", "index", str(root), "--chunk", "2", "--no-progress"]
    watcher = Services(make_settings(target / "var", database_url=url))
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if _count_media(watcher) >= 4:
                break
        except Exception:  # schema not created yet
            pass
        time.sleep(0.05)
    assert proc.poll() is None, "indexer finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = _count_media(watcher)
    assert 0 < partial < len(expected["rows"])
    watcher.engine.dispose()

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    resumed = Services(make_settings(target / "var", database_url=url))
    assert _snapshot(resumed) == expected
    # the index file written by the rerun holds exactly the database's template faces
    with resumed.sessions() as session:
        db_ids = repo.side_face_ids(session, "child", "yunet_sface")
    saved = FaceIndex.load(resumed.indexes.path("child", "yunet_sface"), pack="yunet_sface", dim=128)
    assert saved.agrees_with(db_ids)


def _search_all(services: Services, held) -> list:
    return [[(c.record_id, round(c.score, 4)) for c in services.search.photo(p.path.read_bytes(), "child", 5, "test", "staff")[1]] for p in held]


def test_deleted_or_corrupt_index_is_rebuilt_with_the_same_results(small_archive, tmp_path, database_url, caplog):
    root, held = small_archive
    services = _services(tmp_path, database_url)
    ArchiveIndexer(services, "child").run(scan_folder(root))
    expected = _search_all(services, held)
    path = services.indexes.path("child", "yunet_sface")
    assert path.is_file()

    path.unlink()
    assert _search_all(_services(tmp_path, database_url), held) == expected
    assert path.is_file()

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    caplog.clear()
    assert _search_all(_services(tmp_path, database_url), held) == expected
    assert any("unusable" in r.getMessage() for r in caplog.records)


def test_stale_index_missing_faces_is_caught_up(small_archive, tmp_path, database_url):
    root, _ = small_archive
    services = _services(tmp_path, database_url)
    items = scan_folder(root)
    ArchiveIndexer(services, "child").run(items[: len(items) // 2])
    path = services.indexes.path("child", "yunet_sface")
    stale = path.read_bytes()
    ArchiveIndexer(services, "child").run(items)
    path.write_bytes(stale)  # as if the process died before saving the index
    fresh = _services(tmp_path, database_url)
    with fresh.sessions() as session:
        db_ids = repo.side_face_ids(session, "child", "yunet_sface")
    assert fresh.index("child").agrees_with(db_ids)


def test_cli_index_manifest_reports_bad_files_and_search_prints_json(tmp_path, labelled_photos, monkeypatch):
    photos = labelled_photos[:6]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    blank = tmp_path / "blank.png"
    import cv2

    cv2.imwrite(str(blank), np.full((200, 200, 3), 200, np.uint8))
    manifest = tmp_path / "archive.csv"
    lines = ["record_id,path,name,sex,birth_year,shelter,found_on,found_at,notes,age,year_taken"]
    ages = {0: ("9", ""), 1: ("", "2019"), 2: ("", "1990")}  # an age; a year (born 2015: age 4); a year before birth (ignored, warned)
    lines += [f"R-{p.identity},{p.path},Name {i},F,2015,Shelter A,2024-03-01,Town,note,{','.join(ages.get(i, ('', '')))}" for i, p in enumerate(photos)]
    lines += [f"R-bad,{bad},,,,,,,,,", f"R-blank,{blank},,,,,,,,,"]
    manifest.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("MATCHER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MATCHER_MODELS_DIR", str(ROOT / "models"))
    report = tmp_path / "problems.csv"
    result = CliRunner().invoke(app, ["index", "--manifest", str(manifest), "--json", "--report", str(report)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["failed"] == 1 and summary["no_face"] == 1 and summary["photos"] == 8
    problems = report.read_text()
    assert "broken.jpg" in problems and "corrupt_image" in problems and "blank.png" in problems and "no_face" in problems
    assert "age_ignored" in problems and "1990 would make the child -25 years old" in problems

    result = CliRunner().invoke(app, ["search", "--json", "--top", "3", str(photos[0].path)], catch_exceptions=False)
    out = json.loads(result.output)
    assert out["query"] == str(photos[0].path) and out["faces"] >= 1
    assert out["candidates"][0]["record_id"] == f"R-{photos[0].identity}"
    assert set(out["candidates"][0]) >= {"record_id", "rank_score", "score", "raw_score", "face_id", "media"}
    ranks = [c["rank_score"] for c in out["candidates"]]
    assert ranks == sorted(ranks, reverse=True)  # no facts given: the rank score alone orders

    stats = json.loads(CliRunner().invoke(app, ["stats", "--json"]).output)
    assert stats["child"]["media"] == 7 and stats["child"]["embeddings_by_pack"]["yunet_sface"] >= 6
    services = Services(make_settings(tmp_path / "var"))
    with services.sessions() as session:
        record = repo.get_record(session, "child", f"R-{photos[0].identity}")
        assert record.birth_year == 2015 and record.shelter == "Shelter A" and str(record.event_on) == "2024-03-01"
        given = {i: session.scalars(select(Media).where(Media.original_name == p.path.name)).one() for i, p in enumerate(photos[:4])}
        assert given[0].age_at_photo == 9.0
        assert given[1].age_at_photo == 4.0  # year_taken 2019 for a child born 2015
        assert given[2].age_at_photo is None and given[3].age_at_photo is None


def test_reimport_does_not_resurrect_an_erased_record_unless_asked(small_archive, tmp_path):
    from matcher.types import Principal

    root, _ = small_archive
    services = _services(tmp_path, None)
    items = scan_folder(root)
    ArchiveIndexer(services, "child").run(items)
    first = items[0].record_id
    with services.sessions() as session:
        record_id = repo.get_record(session, "child", first).id
    services.records.erase(Principal(0, "admin", "admin", 0), record_id)
    again = ArchiveIndexer(services, "child", report_path=tmp_path / "report.csv").run(items)
    with services.sessions() as session:
        assert repo.get_record(session, "child", first) is None
    assert again.new_media == 0 and "erased_record" in (tmp_path / "report.csv").read_text()
    asked = ArchiveIndexer(services, "child", allow_erased=True).run(items)
    assert asked.new_media == sum(1 for i in items if i.record_id == first)
