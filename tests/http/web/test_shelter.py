"""The shelter workspace through its forms: registering a child (with the form's
mistakes refused before anything is stored), each account's own list and search, a ZIP import
whose page ends with a problem report that only its uploader can download, and shelter
accounts kept away from reports and candidates."""

from __future__ import annotations

import io
import re
import time
import zipfile

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from matcher.api.app import create_app
from matcher.services.accounts import create_token, create_user
from matcher.store.tables import Media, Record
from tests.http.web.test_pages import _jpeg, _world, csrf_of, sign_in


@pytest.fixture(scope="module")
def site(tmp_path_factory, services, astronaut_bgr):
    svc, accounts, ids = _world(tmp_path_factory.mktemp("shelter-pages"), services, astronaut_bgr)
    with svc.sessions.begin() as db:  # a second shelter account
        second, _ = create_token(db, create_user(db, "shelter2", "shelter"), 1)
    app = create_app(svc.settings, services=svc)
    with TestClient(app) as probe:
        assert probe.get("/health").status_code == 200
    return app, svc, {**accounts.tokens, "shelter2": second}, ids


def _client(site, who: str) -> TestClient:
    client = TestClient(site[0])
    assert sign_in(client, site[2][who]).status_code == 303
    return client


def _count(svc, model) -> int:
    with svc.sessions() as db:
        return db.scalar(select(func.count()).select_from(model))


def test_registering_a_child_checks_the_whole_form_first_then_stores_the_photos(site, astronaut_bgr):
    _, svc, _, _ = site
    client = _client(site, "shelter")
    form = client.get("/shelter/children/new").text
    assert 'capture="environment"' in form and 'name="age_now"' in form
    before = (_count(svc, Record), _count(svc, Media))
    bad = client.post(
        "/shelter/children/new",
        data={"csrf": csrf_of(form), "name": "Маша", "age_now": "forty", "age_2": "3"},
        files={"photo": ("m.jpg", _jpeg(astronaut_bgr, 71), "image/jpeg")},
    )
    assert bad.status_code == 422 and 'id="form-errors"' in bad.text and 'value="Маша"' in bad.text
    assert "from 0 to 25" in bad.text and "Photo 2: you gave an age but no photo" in bad.text
    assert (_count(svc, Record), _count(svc, Media)) == before  # nothing stored
    made = client.post(
        "/shelter/children/new",
        data={"csrf": csrf_of(form), "number": "SH-NEW-1", "name": "Маша", "age_now": "9", "found_at": "Kharkiv", "age": "8"},
        files={"photo": ("m.jpg", _jpeg(astronaut_bgr, 72), "image/jpeg")},
        follow_redirects=False,
    )
    assert made.status_code == 303
    page = client.get(made.headers["location"]).text
    assert "Child SH-NEW-1 registered." in page and "Photo 1 (m.jpg) was received." in page
    with svc.sessions() as db:
        record = db.scalar(select(Record).where(Record.external_id == "SH-NEW-1"))
        assert record.birth_year == __import__("datetime").date.today().year - 9 and record.event_at == "Kharkiv"
        assert [m.age_at_photo for m in record.media] == [8.0]
    again = client.post("/shelter/children/new", data={"csrf": csrf_of(form), "number": "SH-NEW-1"})
    assert again.status_code == 409 and "already used" in again.text


def test_each_shelter_account_lists_and_searches_its_own_children(site):
    mine = _client(site, "shelter")
    form = mine.get("/shelter/children/new").text
    mine.post("/shelter/children/new", data={"csrf": csrf_of(form), "number": "SH-LIST-1", "name": "Bilal"}, follow_redirects=False)
    other = _client(site, "shelter2")
    form2 = other.get("/shelter/children/new").text
    other.post("/shelter/children/new", data={"csrf": csrf_of(form2), "number": "SH-OTHER-1", "name": "Bilal"}, follow_redirects=False)
    listed = mine.get("/shelter").text
    assert "SH-LIST-1" in listed and "SH-OTHER-1" not in listed
    found = mine.get("/shelter?q=bila").text
    assert "SH-LIST-1" in found and "SH-NEW-1" not in found
    assert "SH-LIST-1" in mine.get("/shelter?q=list-1").text
    assert 'id="children-empty"' in mine.get("/shelter?q=%25").text  # LIKE wildcards are literal
    assert "SH-OTHER-1" in other.get("/shelter").text and "SH-LIST-1" not in other.get("/shelter").text


def test_shelter_accounts_never_reach_reports_or_candidates(site):
    client = _client(site, "shelter")
    for path in ("/my", "/my/new", "/review", "/review?view=all", "/review/sightings", "/admin"):
        assert client.get(path).status_code == 403, path
    home = client.get("/shelter").text
    assert 'href="/review"' not in home and 'href="/my"' not in home
    family = _client(site, "fam1")
    assert family.get("/shelter").status_code == 403 and family.get("/shelter/import").status_code == 403


def _wait_done(client: TestClient, url: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        page = client.get(url).text
        status = re.search(r'id="import-status" data-status="(\w+)"', page).group(1)
        if status in ("done", "failed"):
            return page
        assert '<meta http-equiv="refresh"' in page  # the page refreshes itself while running
        time.sleep(0.5)
    raise AssertionError("the import did not finish")


def test_zip_import_page_ends_with_a_problem_report_only_its_uploader_can_download(site, astronaut_bgr):
    _, svc, _, _ = site
    client = _client(site, "shelter")
    form = client.get("/shelter/import").text
    assert 'accept=".zip,application/zip"' in form
    not_zip = client.post("/shelter/import", data={"csrf": csrf_of(form)}, files={"archive": ("a.zip", b"not a zip at all", "application/zip")})
    assert not_zip.status_code in (400, 415) and 'id="import-error"' in not_zip.text
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("export/ZIP-1/a.jpg", _jpeg(astronaut_bgr, 61))
        z.writestr("export/ZIP-1/notes.txt", "found near the station")
        z.writestr("export/ZIP-2/broken.jpg", _jpeg(astronaut_bgr, 62)[:300])
    sent = client.post(
        "/shelter/import", data={"csrf": csrf_of(form)}, files={"archive": ("shelter.zip", buf.getvalue(), "application/zip")}, follow_redirects=False
    )
    assert sent.status_code == 303 and sent.headers["location"].startswith("/shelter/imports/")
    page = _wait_done(client, sent.headers["location"])
    assert 'data-status="done"' in page and 'id="problems"' in page
    assert re.search(r'<progress id="import-progress" max="(\d+)" value="\1"', page)
    assert "Not a photo or a video: ignored." in page and "The photo is damaged or incomplete." in page
    csv = client.get(sent.headers["location"] + "/problems.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv") and "attachment" in csv.headers["content-disposition"]
    text = csv.content.decode("utf-8-sig")
    assert text.splitlines()[0] == "file,record,problem,message" and "not_media" in text and "corrupt_image" in text
    other = _client(site, "shelter2")
    assert other.get(sent.headers["location"]).status_code == 404
    assert other.get(sent.headers["location"] + "/problems.csv").status_code == 404
    with svc.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Record).where(Record.external_id == "ZIP-1")) == 1
