"""The web pages. Fast tests with TestClient (cookies, CSRF, roles, CSP, what a
family's pages embed), then the whole family -> reviewer -> family flow in a real browser
(Playwright driving Debian's Chromium against uvicorn on 127.0.0.1)."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from matcher.api.app import create_app
from matcher.container import Services
from matcher.ingest.photo_age import GivenAge
from matcher.services.accounts import authenticate
from matcher.store.tables import AuditEvent, Candidate, Face, Media, Record
from tests.browser import ARTIFACTS, browser_missing, serving
from tests.conftest import make_settings
from tests.http_helpers import make_accounts

REVIEWER_PAGES = [
    "/review",
    "/review?view=all",
    "/review/reports/R-1",
    "/review/candidates/1",
    "/admin",
    "/admin/users",
    "/admin/audit",
    "/admin/erase?record=1",
    "/admin/health",
    "/admin/health/scores.png",
    "/admin/health/impostors.png",
]


def _jpeg(bgr: np.ndarray, quality: int = 92) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def _two_faces(astronaut_bgr: np.ndarray) -> bytes:
    return _jpeg(np.hstack([astronaut_bgr, astronaut_bgr[:, ::-1]]))


def _world(root: Path, services, astronaut_bgr) -> tuple[Services, object, dict]:
    """A fresh store with accounts and one shelter child (astronaut photo)."""
    settings = make_settings(root / "var")
    svc = Services(settings)
    svc.analyzer.reuse_models(services.analyzer)
    accounts = make_accounts(svc, {"fam1": "family", "fam2": "family", "shelter": "shelter", "rev": "reviewer", "admin": "admin"})
    with svc.sessions() as db:
        shelter = authenticate(db, accounts.tokens["shelter"])
    child = svc.records.create(shelter, "child", {"number": "SH-001", "name": "A.", "birth_year": 2015, "shelter": "North"})
    outcome = svc.records.upload(shelter, child["id"], "child", _jpeg(astronaut_bgr, 95), "child.jpg")
    ids = {"child": child["id"], "child_media": outcome.media_id, "child_face": outcome.faces[0]["id"]}
    return svc, accounts, ids


def sign_in(client: TestClient, token: str):
    page = client.get("/signin")
    pre = re.search(r'name="pre" value="([^"]+)"', page.text).group(1)
    return client.post("/signin", data={"token": token, "pre": pre}, follow_redirects=False)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@pytest.fixture(scope="module")
def web(tmp_path_factory, services, astronaut_bgr):
    svc, accounts, ids = _world(tmp_path_factory.mktemp("web"), services, astronaut_bgr)
    app = create_app(svc.settings, services=svc)
    with TestClient(app) as probe:
        assert probe.get("/health").status_code == 200
    yield app, svc, accounts, ids


def client_for(web, name: str | None) -> TestClient:
    app, _, accounts, _ = web
    client = TestClient(app)
    if name:
        assert sign_in(client, accounts.tokens[name]).status_code == 303
    return client


def test_signin_sets_an_httponly_samesite_session_cookie(web):
    _, _, accounts, _ = web
    client = TestClient(web[0])
    response = sign_in(client, accounts.tokens["fam1"])
    assert response.status_code == 303 and response.headers["location"] == "/my"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("matcher_session="))
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert "Secure" not in cookie  # plain http here; https requests get Secure
    assert accounts.tokens["fam1"] not in cookie
    assert client.get("/my").status_code == 200
    # wrong token: no session
    other = TestClient(web[0])
    bad = sign_in(other, "not-a-token")
    assert bad.status_code == 401 and "matcher_session=" not in " ".join(bad.headers.get_list("set-cookie"))
    assert other.get("/my", follow_redirects=False).status_code == 303


def test_signin_over_https_marks_the_cookie_secure(web):
    _, _, accounts, _ = web
    client = TestClient(web[0], base_url="https://testserver")
    cookie = " ".join(sign_in(client, accounts.tokens["rev"]).headers.get_list("set-cookie"))
    assert "matcher_session=" in cookie and "Secure" in cookie


def test_post_without_csrf_token_is_refused(web):
    _, svc, _, _ = web
    client = client_for(web, "fam1")
    with svc.sessions() as db:
        before = len(db.scalars(select(Record.id)).all())
    assert client.post("/my/new", data={"name": "No token"}).status_code == 403
    assert client.post("/my/new", data={"name": "Wrong token", "csrf": "forged"}).status_code == 403
    assert client.post("/signout", data={}).status_code == 403
    with svc.sessions() as db:
        assert len(db.scalars(select(Record.id)).all()) == before
    # sign-in form without its pre-session token is refused too (login CSRF)
    fresh = TestClient(web[0])
    assert fresh.post("/signin", data={"token": web[2].tokens["fam1"]}, follow_redirects=False).status_code == 403
    rev = client_for(web, "rev")
    assert rev.post("/review/candidates/1/decision", data={"verdict": "rejected"}).status_code == 403


@pytest.mark.parametrize("name", ["fam1", "shelter"])
def test_family_and_shelter_get_403_on_reviewer_and_admin_pages(web, name):
    client = client_for(web, name)
    for path in REVIEWER_PAGES:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 403, path
        assert "image" not in response.headers["content-type"]
    csrf = csrf_of(client.get("/my" if name == "fam1" else "/shelter").text)
    assert client.post("/review/candidates/1/decision", data={"verdict": "confirmed", "csrf": csrf}).status_code == 403
    assert client.post("/admin/tokens", data={"user": "rev", "csrf": csrf}).status_code == 403


def test_signed_out_pages_redirect_to_signin(web):
    client = TestClient(web[0])
    for path in ["/", "/my", "/review", "/admin/users"]:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/signin")


def test_family_files_report_picks_face_and_pages_embed_only_its_own_images(web, astronaut_bgr):
    _, svc, _, ids = web
    client = client_for(web, "fam1")
    form = client.get("/my/new").text
    assert 'accept="image/*,video/*"' in form and "capture" in form
    response = client.post(
        "/my/new",
        data={"name": "Amal", "birth_year": "2015", "csrf": csrf_of(form)},
        files={"photo": ("group.jpg", _two_faces(astronaut_bgr), "image/jpeg")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert "Which face is your child?" in page.text and "received" in page.text
    report_id = int(response.headers["location"].rsplit("/", 1)[1])
    with svc.sessions() as db:
        own_faces = set(db.scalars(select(Face.id).join(Media).where(Media.record_id == report_id)))
        own_media = set(db.scalars(select(Media.id).where(Media.record_id == report_id)))
    assert len(own_faces) == 2
    for html in (page.text, client.get("/my").text):
        faces = {int(f) for f in re.findall(r"/img/faces/(\d+)", html)}
        media = {int(m) for m in re.findall(r"/img/media/(\d+)", html)}
        assert faces <= own_faces and media <= own_media
        assert "/v1/" not in html
    # pick a face: now under review; still only its own crops
    picked = client.post(f"/my/reports/{report_id}/faces/{min(own_faces)}/pick", data={"csrf": csrf_of(page.text)})
    assert picked.status_code == 200 and 'data-status="under review">under review<' in picked.text
    assert {int(f) for f in re.findall(r"/img/faces/(\d+)", picked.text)} <= own_faces
    assert client.get(f"/img/faces/{min(own_faces)}").headers["content-type"] == "image/jpeg"
    # another record's images answer 404 to a family; another family's report too
    assert client.get(f"/img/faces/{ids['child_face']}").status_code == 404
    assert client.get(f"/img/media/{ids['child_media']}").status_code == 404
    other = client_for(web, "fam2")
    assert other.get(f"/my/reports/{report_id}").status_code == 404
    assert other.get(f"/img/faces/{min(own_faces)}").status_code == 404


def test_family_gives_the_childs_age_with_a_photo_and_a_wrong_one_is_refused(web, astronaut_bgr):
    _, svc, _, _ = web
    client = client_for(web, "fam2")
    form = client.get("/my/new").text
    assert "How old was your child in this photo? (optional)" in form
    bad = client.post(
        "/my/new", data={"name": "Nadia", "age": "forty", "csrf": csrf_of(form)}, files={"photo": ("a.jpg", _jpeg(astronaut_bgr, 66), "image/jpeg")}
    )
    assert bad.status_code == 422 and "from 0 to 30" in bad.text and 'value="Nadia"' in bad.text  # nothing filed yet
    made = client.post(
        "/my/new",
        data={"name": "Nadia", "birth_year": "2016", "age": "3.5", "csrf": csrf_of(form)},
        files={"photo": ("a.jpg", _jpeg(astronaut_bgr, 66), "image/jpeg")},
        follow_redirects=False,
    )
    report_id = int(made.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/my/reports/{report_id}").text
    assert "How old was your child in this photo? (optional)" in page and "your child aged 3.5" in page
    # a second photo with the year it was taken (born 2016: 2020 is age 4); a year before birth is refused
    refused = client.post(
        f"/my/reports/{report_id}/media", data={"year_taken": "2012", "csrf": csrf_of(page)}, files={"photo": ("b.jpg", _jpeg(astronaut_bgr, 67), "image/jpeg")}
    )
    assert "Photo 1 (b.jpg) was not added: the year or the age does not fit the year of birth" in refused.text
    client.post(
        f"/my/reports/{report_id}/media", data={"year_taken": "2020", "csrf": csrf_of(page)}, files={"photo": ("c.jpg", _jpeg(astronaut_bgr, 68), "image/jpeg")}
    )
    with svc.sessions() as db:
        ages = sorted(db.scalars(select(Media.age_at_photo).where(Media.record_id == report_id)))
    assert ages == [3.5, 4.0]


def test_pages_send_a_strict_content_security_policy(web):
    for name, paths in (
        ("fam1", ["/my", "/my/new"]),
        ("rev", ["/review", "/review?view=all"]),
        ("admin", ["/admin", "/admin/users", "/admin/audit", "/admin/health", "/admin/erase"]),
    ):
        client = client_for(web, name)
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, path
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "http" not in csp
            assert "<script>" not in response.text and " style=" not in response.text and "onclick" not in response.text
            assert response.headers["cache-control"].startswith("no-store")
    assert "unsafe-inline" not in TestClient(web[0]).get("/signin").headers["content-security-policy"]


def test_reviewer_opens_candidate_audited_and_decides_with_the_form(web, astronaut_bgr):
    _, svc, _, _ = web
    rev = client_for(web, "rev")
    queue = rev.get("/review")
    ids = [int(i) for i in re.findall(r'data-href="/review/candidates/(\d+)[?"]', queue.text)]  # grouped by report (default)
    assert ids, "the family's report should have produced a candidate"
    page = rev.get(f"/review/candidates/{ids[0]}")
    assert page.status_code == 200
    for needle in ('id="score"', "unrelated pairs", 'class="crop"', "Other candidates of report", 'id="decision-form"', "Birth year"):
        assert needle in page.text
    crops = re.findall(r"/img/faces/(\d+)", page.text)
    assert len(crops) >= 2 and rev.get(f"/img/faces/{crops[0]}").headers["content-type"] == "image/jpeg"
    with svc.sessions() as db:
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "candidate_view", AuditEvent.object_id == str(ids[0]), AuditEvent.actor == "user:rev"))
    # filters: a flag nobody has empties the queue; score sort still lists it
    assert "queue-empty" in rev.get("/review?flag=sex_mismatch").text
    assert f"/review/candidates/{ids[0]}" in rev.get("/review?sort=score&shelter=nor").text
    decided = rev.post(
        f"/review/candidates/{ids[0]}/decision", data={"verdict": "unsure", "note": "need another photo", "sure": "yes", "csrf": csrf_of(page.text)}
    )
    assert decided.status_code == 200 and "Decision recorded" in decided.text
    assert "unsure" in rev.get("/review?status=unsure").text


def test_admin_creates_token_shown_once_revokes_it_and_sees_plots(web):
    admin = client_for(web, "admin")
    page = admin.get("/admin/users")
    shown = admin.post("/admin/tokens", data={"user": "fam2", "days": "7", "csrf": csrf_of(page.text)})
    token = re.search(r'id="new-token">([^<]+)<', shown.text).group(1)
    assert token not in admin.get("/admin/users").text  # shown once
    fresh = TestClient(web[0])
    assert sign_in(fresh, token).status_code == 303
    token_id = int(re.search(r"Token (\d+), expires", shown.text).group(1))
    admin.post(f"/admin/tokens/{token_id}/revoke", data={"csrf": csrf_of(page.text)})
    assert fresh.get("/my", follow_redirects=False).status_code == 303  # the web session ended with the token
    audit = admin.get("/admin/audit")
    assert "token_revoke" in audit.text and "token_create" in audit.text
    for plot in ("/admin/health/scores.png", "/admin/health/impostors.png"):
        response = admin.get(plot)
        assert response.headers["content-type"] == "image/png" and response.content[:4] == b"\x89PNG"


def test_admin_erasure_needs_the_typed_confirmation(web, astronaut_bgr):
    _, svc, accounts, _ = web
    with svc.sessions() as db:
        fam2 = authenticate(db, accounts.tokens["fam2"])
    report = svc.records.create(fam2, "report", {"name": "To erase"})
    admin = client_for(web, "admin")
    page = admin.get(f"/admin/erase?record={report['id']}")
    assert report["number"] in page.text
    wrong = admin.post(f"/admin/erase/{report['id']}", data={"confirm": "nope", "csrf": csrf_of(page.text)})
    assert "Nothing was erased" in wrong.text
    with svc.sessions() as db:
        assert db.get(Record, report["id"]) is not None
    done = admin.post(f"/admin/erase/{report['id']}", data={"confirm": report["number"], "csrf": csrf_of(page.text)})
    assert "erased" in done.text
    with svc.sessions() as db:
        assert db.get(Record, report["id"]) is None


# ---- the queue by report, one report's shortlist, the candidate's evidence (issues 17, 18) ----
SHORTLIST = 3


def _seed_shortlists(svc, fam, shelter, astronaut_bgr) -> dict:
    """Two reports whose candidates are written directly, with scores, plausibility and names
    chosen so that only the ranking rules decide what a reviewer sees and in which order; the
    evidence points at real face crops (uploaded with the child's age in each photo)."""
    kid = svc.records.create(shelter, "child", {"number": "SH-PHOTO", "birth_year": 2010, "shelter": "North"})
    kid_up = svc.records.upload(shelter, kid["id"], "child", _jpeg(astronaut_bgr, 95), "c.jpg", given=GivenAge(12.0))
    photo = svc.records.create(fam, "report", {"number": "R-PHOTO", "name": "Sara", "birth_year": 2010})
    rep_up = svc.records.upload(fam, photo["id"], "report", _jpeg(astronaut_bgr[:, ::-1].copy(), 90), "r.jpg", given=GivenAge(4.0))
    pair = {"report_face": rep_up.faces[0]["id"], "child_face": kid_up.faces[0]["id"]}
    ids: dict = {}
    with svc.sessions.begin() as db:

        def record(side, number, name, birth_year=None):
            r = Record(side=side, external_id=number, name=name, birth_year=birth_year, shelter="North" if side == "child" else None)
            db.add(r)
            db.flush()
            return r.id

        ra = record("report", "R-A", "Билал Ахмедов", 2012)
        rb = record("report", "R-B", "Lina", 2014)

        def cand(key, report, child_name, score, raw, plausible, level, strong=False, fmr=0.05, status="open", kind="match"):
            child = record("child", f"SH-{key}", child_name, 2012)
            ev = {
                "fusion": "best",
                "score_norm": "snorm",
                "raw_score": raw,
                "face_pairs_compared": 1,
                "pairs": [{**pair, "score": raw}],
                "fpir": min(1.0, 40 * fmr),
                "strong": strong,
                "plausible": plausible,
                "flags": [] if plausible is not False else ["birth_year_mismatch"],
                "age": {"birth_year_gap": 0 if plausible is not False else 6, "report_age_at_photo": 4.0, "child_age_at_photo": 12.0},
                "name": {"level": level},
                "rank_score": {"method": "centred", "value": score - 1.0},
            }
            c = Candidate(
                kind=kind,
                report_id=report,
                child_id=child,
                pack=svc.settings.pack,
                score=score,
                rank_score=score - 1.0,  # centred on the child's cohort: another number than the gallery score
                raw_score=raw,
                fmr=fmr,
                status=status,
                evidence=ev,
                plausible=plausible,
                name_level=level,
            )
            db.add(c)
            db.flush()
            ids[key] = c.id

        cand("omar", ra, "Omar", 2.0, 0.61, True, "different")
        cand("bilal", ra, "بلال", 1.5, 0.58, True, "same")
        cand("noname", ra, None, 1.0, 0.52, None, "unknown")
        cand("balal", ra, "Balal", 0.5, 0.47, True, "similar")  # 4th by score: off the list of 3
        cand("far", ra, "Bilal", 5.0, 0.70, False, "same")  # implausible: below every plausible one
        cand("gone", ra, "Bilal", 4.0, 0.66, True, "same", status="superseded")
        cand("lina", rb, "Lina", 3.0, 0.72, True, "same", strong=True, fmr=1e-6)
        cand("dup", ra, "Bilal", 2.5, 0.69, None, "unknown", kind="duplicate")
    return ids


def _shortlist_world(root: Path, services, astronaut_bgr) -> tuple:
    svc = Services(make_settings(root / "var", shortlist=SHORTLIST))
    svc.analyzer.reuse_models(services.analyzer)
    accounts = make_accounts(svc, {"fam": "family", "shelter": "shelter", "rev": "reviewer", "admin": "admin"})
    with svc.sessions() as db:
        fam, shelter = authenticate(db, accounts.tokens["fam"]), authenticate(db, accounts.tokens["shelter"])
    ids = _seed_shortlists(svc, fam, shelter, astronaut_bgr)
    return create_app(svc.settings, services=svc), svc, accounts, ids


@pytest.fixture(scope="module")
def shortlists(tmp_path_factory, services, astronaut_bgr):
    return _shortlist_world(tmp_path_factory.mktemp("shortlists"), services, astronaut_bgr)


def _groups(html: str) -> dict[str, list[int]]:
    """Report number -> candidate ids in the order the grouped queue lists them."""
    out = {}
    for chunk in html.split('data-report="')[1:]:
        number = chunk.split('"', 1)[0]
        out[number] = [int(i) for i in re.findall(r'data-href="/review/candidates/(\d+)\?report=', chunk)]
    return out


def test_queue_groups_each_reports_shortlist_in_ranking_order(shortlists):
    app, _, accounts, ids = shortlists
    rev = TestClient(app)
    assert sign_in(rev, accounts.tokens["rev"]).status_code == 303
    page = rev.get("/review")
    assert page.status_code == 200
    groups = _groups(page.text)
    assert all(len(rows) <= SHORTLIST for rows in groups.values()), groups
    # plausible first, then name (same > unknown > different), then rank score; the 4th by
    # score, the implausible one, the superseded one and the duplicate are not listed
    assert groups["R-A"] == [ids["bilal"], ids["noname"], ids["omar"]]
    assert groups["R-B"] == [ids["lina"]]
    order = list(groups)
    assert order.index("R-B") < order.index("R-A")  # a report with a strong lead comes first
    assert "strong lead" in page.text and "Possible duplicates: 1 open" in page.text
    assert "/review/reports/R-A" in page.text
    # the best face pair of each report as thumbnails, served to reviewers
    thumbs = re.findall(r'class="thumb" src="/img/faces/(\d+)"', page.text)
    assert thumbs and rev.get(f"/img/faces/{thumbs[0]}").headers["content-type"] == "image/jpeg"
    # filters apply inside the groups: implausible only leaves R-A's implausible candidate
    only = _groups(rev.get("/review?flag=implausible").text)
    assert only == {"R-A": [ids["far"]]}
    # the flat list is still there with its filters, duplicates included
    flat = rev.get("/review?view=all")
    assert 'id="queue"' in flat.text and f'data-href="/review/candidates/{ids["dup"]}"' in flat.text
    assert f'/review/candidates/{ids["gone"]}"' not in flat.text  # superseded: not in the default queue
    dups = rev.get("/review?view=all&kind=duplicate").text
    assert re.findall(r'data-href="/review/candidates/(\d+)\?kind=duplicate"', dups) == [str(ids["dup"])]  # the filter travels with the link


def test_report_page_lists_its_shortlist_and_candidates_move_inside_it(shortlists):
    app, svc, accounts, ids = shortlists
    rev = TestClient(app)
    assert sign_in(rev, accounts.tokens["rev"]).status_code == 303
    page = rev.get("/review/reports/R-A")
    assert page.status_code == 200 and "Билал Ахмедов" in page.text
    listed = [int(i) for i in re.findall(r'<tr data-href="/review/candidates/(\d+)\?report=R-A"', page.text)]
    assert listed == [ids["bilal"], ids["noname"], ids["omar"]]
    with svc.sessions() as db:
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "shortlist_view", AuditEvent.actor == "user:rev"))
    assert rev.get("/review/reports/NO-SUCH").status_code == 404
    # a candidate opened from the report: previous / next stay inside the report
    middle = rev.get(f"/review/candidates/{ids['noname']}?report=R-A").text
    assert f'id="prev" href="/review/candidates/{ids["bilal"]}?report=R-A"' in middle
    assert f'id="next" href="/review/candidates/{ids["omar"]}?report=R-A"' in middle
    assert 'name="report" value="R-A"' in middle
    # deciding goes on inside the report, then back to the queue when the report is done
    last = rev.get(f"/review/candidates/{ids['omar']}?report=R-A")
    done = rev.post(
        f"/review/candidates/{ids['omar']}/decision",
        data={"verdict": "rejected", "report": "R-A", "sure": "yes", "csrf": csrf_of(last.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/review/candidates/{ids['bilal']}?report=R-A"
    only = rev.get(f"/review/candidates/{ids['lina']}?report=R-B")
    finished = rev.post(
        f"/review/candidates/{ids['lina']}/decision",
        data={"verdict": "unsure", "report": "R-B", "sure": "yes", "csrf": csrf_of(only.text)},
        follow_redirects=False,
    )
    assert finished.headers["location"] == "/review"
    assert "Report R-B: no open candidates left." in rev.get("/review").text
    # the rejected one moved to "already decided" and takes no place on the list: the next
    # by score (similar name) comes in, and names order the list (same, similar, unknown)
    page = rev.get("/review/reports/R-A").text
    assert [int(i) for i in re.findall(r'<tr data-href="/review/candidates/(\d+)\?report=R-A"', page)] == [ids["bilal"], ids["balal"], ids["noname"]]
    assert "Decided candidates" in page


def test_candidate_page_shows_name_evidence_scores_in_words_and_given_ages(shortlists):
    app, _, accounts, ids = shortlists
    rev = TestClient(app)
    assert sign_in(rev, accounts.tokens["rev"]).status_code == 303
    page = rev.get(f"/review/candidates/{ids['bilal']}").text
    name = re.search(r'<p id="name">(.*?)</p>', page, re.S).group(1)
    assert "Билал Ахмедов" in name and "بلال" in name and "bilal akhmedov" in name and "≈" in name and ">same<" in name
    assert re.search(r'Gallery score <strong id="score">1\.50</strong>', page)
    assert re.search(r'Rank score <strong id="rank-score">0\.50</strong>', page) and "a face that resembles everyone does not crowd out the others" in page
    assert re.search(r'<p id="raw">Face similarity <strong>0\.58</strong>', page)
    assert "not a strong lead" in page and "unrelated pairs score this high" in page
    assert "age 4 in this photo (given)" in page and "age 12 in this photo (given)" in page
    strong = rev.get(f"/review/candidates/{ids['lina']}").text
    assert 'class="badge strong" id="strong">strong lead<' in strong
    different = rev.get(f"/review/candidates/{ids['omar']}").text
    assert "≠" in re.search(r'<p id="name">(.*?)</p>', different, re.S).group(1)
    # the other candidates of the report (whatever their status, superseded aside) in the
    # report's display order: plausible first, then name similar > unknown > different
    others = re.search(r"Other candidates of report <bdi>R-A</bdi>(.*?)</table>", page, re.S).group(1)
    listed = [int(i) for i in re.findall(r'/review/candidates/(\d+)"', others)]
    assert listed == [ids["balal"], ids["noname"], ids["omar"], ids["far"]]


def test_health_page_states_the_strong_lead_threshold_as_an_open_set_rate(shortlists):
    app, svc, accounts, _ = shortlists
    admin = TestClient(app)
    assert sign_in(admin, accounts.tokens["admin"]).status_code == 303
    page = admin.get("/admin/health").text
    n = svc.health.strong_threshold()
    assert n["children"] >= 1 and n["per_pair"] == pytest.approx(svc.settings.queue_fpir / n["children"])
    assert "open-set" in page and f"{n['children']} child" in page
    plot = admin.get("/admin/health/impostors.png")
    assert plot.status_code == 200 and plot.content[:4] == b"\x89PNG"


# ---- the browser ----
@pytest.fixture(scope="module")
def live(tmp_path_factory, services, astronaut_bgr):
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    svc, accounts, ids = _world(tmp_path_factory.mktemp("live"), services, astronaut_bgr)
    with serving(create_app(svc.settings, services=svc)) as base:
        yield base, svc, accounts, ids


@pytest.fixture(scope="module")
def shortlists_live(tmp_path_factory, services, astronaut_bgr):
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    app, svc, accounts, ids = _shortlist_world(tmp_path_factory.mktemp("shortlists-live"), services, astronaut_bgr)
    with serving(app) as base:
        yield base, svc, accounts, ids


def _browser_sign_in(page, base: str, token: str) -> None:
    page.goto(f"{base}/signin")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@pytest.mark.browser
def test_family_files_report_reviewer_confirms_with_keyboard_family_sees_closed(live, chromium, astronaut_bgr):
    from playwright.sync_api import expect

    base, svc, accounts, _ = live
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []

    # a family on a phone-sized screen files a report with a group photo and picks a face
    family = chromium.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    fpage = family.new_page()
    fpage.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    fpage.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    _browser_sign_in(fpage, base, accounts.tokens["fam1"])
    expect(fpage.get_by_role("heading", name="My reports")).to_be_visible()
    fpage.get_by_role("link", name="File a new report").click()
    fpage.get_by_label("Child's name").fill("Amal")
    fpage.get_by_label("Year of birth").fill("2015")
    fpage.get_by_label("Place last seen").fill("Market square")
    fpage.get_by_label("A photo or a video of your child").set_input_files({"name": "group.jpg", "mimeType": "image/jpeg", "buffer": _two_faces(astronaut_bgr)})
    fpage.get_by_role("button", name="Send report").click()
    expect(fpage.get_by_role("heading", name="Which face is your child?")).to_be_visible()
    expect(fpage.locator("#report-status")).to_have_text("received")
    faces = fpage.locator(".face img")
    expect(faces).to_have_count(2)
    assert all(fpage.evaluate("(img) => img.naturalWidth > 0", faces.nth(i).element_handle()) for i in range(2))
    fpage.screenshot(path=str(ARTIFACTS / "family-pick.png"), full_page=True)
    fpage.get_by_role("button", name=re.compile("This is my child \\(face 1\\)")).click()
    expect(fpage.locator("#report-status")).to_have_text("under review")
    report_url = fpage.url

    # a reviewer works the queue with the keyboard
    reviewer = chromium.new_context(viewport={"width": 1280, "height": 900})
    rpage = reviewer.new_page()
    rpage.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    rpage.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    _browser_sign_in(rpage, base, accounts.tokens["rev"])
    expect(rpage.get_by_role("heading", name="Review queue")).to_be_visible()
    expect(rpage.locator("#queue tbody tr")).to_have_count(1)
    rpage.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)
    rpage.keyboard.press("j")
    expect(rpage.locator("#queue tbody tr.current")).to_have_count(1)
    rpage.keyboard.press("Enter")
    rpage.wait_for_url(re.compile(r"/review/candidates/\d+(\?report=[^&]+)?$"))  # opened inside its report
    expect(rpage.locator("#score")).to_be_visible()
    expect(rpage.locator("#fmr")).to_contain_text("unrelated pairs")
    expect(rpage.locator("#age")).to_be_visible()
    crops = rpage.locator("img.crop")
    expect(crops.first).to_be_visible()
    assert crops.count() >= 2
    assert all(rpage.evaluate("(img) => img.complete && img.naturalWidth > 0", crops.nth(i).element_handle()) for i in range(2))
    expect(rpage.get_by_role("heading", name=re.compile("^Report"))).to_be_visible()
    expect(rpage.get_by_role("heading", name=re.compile("^Child"))).to_be_visible()
    expect(rpage.get_by_text("Other candidates of report")).to_be_visible()
    rpage.locator("details.originals summary").click()
    expect(rpage.locator("img.photo").first).to_be_visible()
    rpage.screenshot(path=str(ARTIFACTS / "candidate.png"), full_page=True)
    candidate_id = int(re.search(r"/candidates/(\d+)", rpage.url).group(1))
    rpage.keyboard.press("c")
    expect(rpage.locator("#confirm-step")).to_be_visible()
    expect(rpage.locator("#confirm-text")).to_contain_text("Confirm this match")
    rpage.keyboard.press("Escape")
    expect(rpage.locator("#confirm-step")).to_be_hidden()
    rpage.keyboard.press("c")
    rpage.keyboard.press("Enter")
    rpage.wait_for_url(re.compile(r"/review$"))
    expect(rpage.get_by_text(f"Decision recorded for candidate {candidate_id}: confirmed")).to_be_visible()

    # the family sees the report closed
    fpage.goto(report_url)
    expect(fpage.locator("#report-status")).to_have_text("closed")
    fpage.screenshot(path=str(ARTIFACTS / "family-closed.png"), full_page=True)
    assert not errors, errors  # no CSP violations or script errors in the console

    with svc.sessions() as db:
        actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(candidate_id))))
    assert {"candidate_view", "decision"} <= actions
    family.close()
    reviewer.close()


@pytest.mark.browser
def test_family_form_works_with_javascript_off(live, chromium, astronaut_bgr):
    from playwright.sync_api import expect

    base, _, accounts, _ = live
    context = chromium.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    page = context.new_page()
    _browser_sign_in(page, base, accounts.tokens["fam2"])
    page.get_by_role("link", name="File a new report").click()
    page.get_by_label("Child's name").fill("Sami")
    page.get_by_label("A photo or a video of your child").set_input_files(
        {"name": "one.jpg", "mimeType": "image/jpeg", "buffer": _jpeg(astronaut_bgr[:, ::-1].copy())}
    )
    page.get_by_role("button", name="Send report").click()
    expect(page.locator("#report-status")).to_have_text("under review")
    context.close()


@pytest.mark.browser
def test_reviewer_works_one_report_from_the_grouped_queue(shortlists_live, chromium):
    from playwright.sync_api import expect

    base, _, accounts, ids = shortlists_live
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    _browser_sign_in(page, base, accounts.tokens["rev"])
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    report_a = page.locator('section.report-group[data-report="R-A"]')
    expect(report_a.locator("tbody tr")).to_have_count(SHORTLIST)
    expect(report_a.locator("tbody tr").first).to_contain_text("بلال")
    expect(page.locator('section.report-group[data-report="R-B"] .badge.strong').first).to_be_visible()
    thumbs = page.locator("img.thumb")
    expect(thumbs.first).to_be_visible()
    page.wait_for_function("() => [...document.querySelectorAll('img.thumb')].slice(0, 2).every(i => i.complete && i.naturalWidth > 0)")
    page.screenshot(path=str(ARTIFACTS / "queue-by-report.png"), full_page=True)

    report_a.locator("a.work").click()
    page.wait_for_url(re.compile(r"/review/reports/R-A$"))
    expect(page.locator("#queue tbody tr")).to_have_count(SHORTLIST)
    page.screenshot(path=str(ARTIFACTS / "report-shortlist.png"), full_page=True)
    page.keyboard.press("j")
    expect(page.locator("#queue tbody tr.current")).to_have_count(1)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/review/candidates/{ids['bilal']}\?report=R-A$"))
    expect(page.locator("#name")).to_contain_text("same")
    expect(page.locator("#name")).to_contain_text("Билал Ахмедов")
    expect(page.locator("#raw")).to_contain_text("Face similarity 0.58")
    expect(page.locator("#score")).to_have_text("1.50")
    crops = page.locator("img.crop")
    assert all(page.evaluate("(img) => img.complete && img.naturalWidth > 0", crops.nth(i).element_handle()) for i in range(2))
    page.screenshot(path=str(ARTIFACTS / "candidate-names.png"), full_page=True)
    page.keyboard.press("j")  # next inside the report
    page.wait_for_url(re.compile(rf"/review/candidates/{ids['noname']}\?report=R-A$"))
    # the flat list keeps its keys too
    page.goto(f"{base}/review?view=all")
    expect(page.locator("#queue tbody tr")).to_have_count(len(ids) - 1 + 1)  # all open ones, superseded aside, R-PHOTO's real one
    page.screenshot(path=str(ARTIFACTS / "queue-all.png"), full_page=True)
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator("#queue tbody tr.current")).to_have_count(1)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/review/candidates/\d+$"))
    assert not errors, errors
    context.close()
