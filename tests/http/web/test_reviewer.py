"""The reviewers' and admins' pages: a decision made without JavaScript is recorded
only after a confirm step; previous / next on a candidate opened from the filtered flat list
follow that list; every page renders in every language, right to left in Arabic, with its
tables in a scrolling box. The worlds and helpers are the web tests' (``tests.http.web.test_pages``)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlencode

import cv2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from matcher.store.tables import AuditEvent, Candidate, Record, Sighting, SightingFace, SightingSource
from matcher.web.i18n import LANG_COOKIE, LANGUAGES
from tests.browser import ARTIFACTS, browser_missing, serving
from tests.http.web.test_pages import _browser_sign_in, _jpeg, _shortlist_world, csrf_of, sign_in


def _seed_sighting(svc, astronaut_bgr) -> int:
    """An open sighting of report R-A in a swept video: rows and one frame's crop (the video
    file itself is not stored: the player finds nothing, the page does not need it)."""
    crop = svc.blobs.put(_jpeg(cv2.resize(astronaut_bgr[:256, 128:384], (112, 112))))
    with svc.sessions.begin() as db:
        report = db.scalar(select(Record).where(Record.external_id == "R-A"))
        source = SightingSource(sha256="ab" * 32, kind="video", file_name="market.mp4", size_bytes=1000, duration=12.5, place="Souk", swept_by="user:rev")
        db.add(source)
        db.flush()
        s = Sighting(
            source_id=source.id,
            source_sha256=source.sha256,
            record_id=report.id,
            side="report",
            pack=svc.settings.pack,
            track=1,
            span_start=3.4,
            span_end=7.5,
            score=2.25,
            raw_score=0.61,
            fmr=1e-4,
            fpir=0.004,
            plausible=True,
            evidence={"score_norm": "snorm", "calibration": {"source": "gallery", "records": 12, "impostor_pairs": 66, "open_records": 3}, "flags": []},
            swept_by="user:rev",
        )
        db.add(s)
        db.flush()
        db.add(SightingFace(sighting_id=s.id, track=1, frame_time=4.0, x1=0, y1=0, x2=10, y2=10, quality=0.9, score=0.61, crop_sha256=crop))
        return s.id


@pytest.fixture(scope="module")
def world(tmp_path_factory, services, astronaut_bgr):
    app, svc, accounts, ids = _shortlist_world(tmp_path_factory.mktemp("review-i18n"), services, astronaut_bgr)
    ids["sighting"] = _seed_sighting(svc, astronaut_bgr)
    return app, svc, accounts, ids


def _client(world, name: str = "rev", lang: str | None = None) -> TestClient:
    app, _, accounts, _ = world
    client = TestClient(app)
    if lang:
        client.cookies.set(LANG_COOKIE, lang)
    assert sign_in(client, accounts.tokens[name]).status_code == 303
    return client


def _status(svc, candidate_id: int) -> str:
    with svc.sessions() as db:
        return db.get(Candidate, candidate_id).status


def _decisions(svc, action: str, object_id: int) -> int:
    with svc.sessions() as db:
        return len(db.scalars(select(AuditEvent.id).where(AuditEvent.action == action, AuditEvent.object_id == str(object_id))).all())


def _hidden(html: str, form_id: str) -> dict[str, str]:
    """The hidden fields of one form (enabled ones: what the browser would send)."""
    form = re.search(rf'<form[^>]+id="{form_id}".*?</form>', html, re.S).group(0)
    fields = re.findall(r'<input type="hidden" name="([^"]+)"(?: id="[^"]*")? value="([^"]*)"( disabled)?>', form)
    return {name: unescape(value) for name, value, disabled in fields if not disabled}


def _ids(html: str, link_id: str) -> str | None:
    m = re.search(rf'id="{link_id}" href="([^"]+)"', html)
    return unescape(m.group(1)) if m else None


# ---- the confirm step without JavaScript ----
def test_a_decision_without_sure_answers_a_confirm_page_and_records_nothing(world):
    _, svc, _, ids = world
    rev = _client(world)
    page = rev.get(f"/review/candidates/{ids['noname']}?report=R-A").text
    sent = {**_hidden(page, "decision-form"), "verdict": "rejected", "note": "different ears <b>"}
    assert sent == {"csrf": csrf_of(page), "report": "R-A", "verdict": "rejected", "note": "different ears <b>"}  # no sure=yes from the page itself
    ask = rev.post(f"/review/candidates/{ids['noname']}/decision", data=sent, follow_redirects=False)
    assert ask.status_code == 200 and 'id="confirm-form"' in ask.text
    assert f"Reject candidate {ids['noname']}?" in ask.text and "Decision: rejected" in ask.text
    assert ">different ears &lt;b&gt;</textarea>" in ask.text  # the note is kept (escaped)
    assert f'href="/review/candidates/{ids["noname"]}?report=R-A" id="confirm-cancel"' in ask.text
    assert _status(svc, ids["noname"]) == "open" and _decisions(svc, "decision", ids["noname"]) == 0
    # "Yes, record it" posts the same form with sure=yes: now it is recorded and audited
    again = _hidden(ask.text, "confirm-form")
    assert again == {"csrf": csrf_of(page), "verdict": "rejected", "sure": "yes", "report": "R-A"}
    note = re.search(r'<textarea id="note" name="note"[^>]*>(.*?)</textarea>', ask.text, re.S).group(1)
    done = rev.post(f"/review/candidates/{ids['noname']}/decision", data={**again, "note": unescape(note)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("?report=R-A")
    assert _status(svc, ids["noname"]) == "rejected" and _decisions(svc, "decision", ids["noname"]) == 1
    shown = rev.get(f"/review/candidates/{ids['noname']}?report=R-A").text
    assert "different ears &lt;b&gt;" in shown and "This candidate is rejected." in shown
    # a forged form is still refused before anything is asked
    assert rev.post(f"/review/candidates/{ids['noname']}/decision", data={"verdict": "unsure", "csrf": "forged"}).status_code == 403


def test_the_page_carries_the_in_page_confirm_step_with_its_words(world):
    _, _, _, ids = world
    page = _client(world).get(f"/review/candidates/{ids['omar']}").text
    step = re.search(r'<div id="confirm-step"[^>]*>', page).group(0)
    assert "hidden" in step and 'data-confirmed="Confirm this match (refer it for verification)?"' in step
    assert 'data-rejected="Reject this candidate?"' in step and 'data-unsure="Mark as unsure (escalate)?"' in step
    assert '<input type="hidden" name="verdict" id="confirm-verdict" value="" disabled>' in page  # enabled by the script only
    assert re.search(r'<button type="submit" name="sure" value="yes" id="confirm-yes">', page)
    assert len(re.findall(r'<button type="submit" name="verdict" value="(confirmed|rejected|unsure)"', page)) == 3


def test_a_sighting_decision_is_confirmed_first_too(world):
    _, svc, _, ids = world
    rev = _client(world)
    sid = ids["sighting"]
    listing = rev.get("/review/sightings")
    assert listing.status_code == 200 and f'data-href="/review/sightings/{sid}"' in listing.text and "3.4–7.5 s" in listing.text
    for queue in ("/review", "/review?view=all"):  # both queue views count the open sightings beside their link
        assert re.search(r'id="sightings-link">.*?: 1 open sighting</p>', rev.get(queue).text)
    page = rev.get(f"/review/sightings/{sid}")
    assert page.status_code == 200 and "from 3.4 s to 7.5 s" in page.text and 'id="confirm-step"' in page.text
    crop = re.search(r'src="(/img/sightings/faces/\d+)"', page.text).group(1)
    assert rev.get(crop).headers["content-type"] == "image/jpeg"
    ask = rev.post(f"/review/sightings/{sid}/decision", data={"verdict": "unsure", "note": "too far", "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert ask.status_code == 200 and f"Mark sighting {sid} as unsure" in ask.text and ">too far</textarea>" in ask.text
    assert f'href="/review/sightings/{sid}" id="confirm-cancel"' in ask.text
    with svc.sessions() as db:
        assert db.get(Sighting, sid).status == "open"
    assert _decisions(svc, "sighting_decision", sid) == 0
    done = rev.post(f"/review/sightings/{sid}/decision", data={**_hidden(ask.text, "confirm-form"), "note": "too far"}, follow_redirects=False)
    assert done.status_code == 303
    with svc.sessions() as db:
        assert db.get(Sighting, sid).status == "unsure"
    assert _decisions(svc, "sighting_decision", sid) == 1
    assert "Decision recorded for sighting" in rev.get(done.headers["location"]).text
    assert ": 0 open sightings</p>" in rev.get("/review").text


# ---- previous / next in the filtered flat list ----
def _flat_ids(svc, **f) -> list[int]:
    a = {"status": "open", "kind": "", "flag": "", "shelter": "", "max_gap": None, "sort": "strength", **f}
    return [r["id"] for r in svc.review.filtered_queue(a["status"], a["kind"], a["flag"], a["shelter"], a["max_gap"], a["sort"])]


def test_previous_and_next_follow_the_filtered_list_a_candidate_was_opened_from(world):
    _, svc, _, _ = world
    rev = _client(world)
    filters = {"kind": "match", "sort": "score"}
    qs = urlencode(filters)
    listed = rev.get(f"/review?view=all&{qs}").text
    rows = [int(i) for i in re.findall(rf'<tr data-href="/review/candidates/(\d+)\?{re.escape(qs.replace("&", "&amp;"))}"', listed)]
    expected = _flat_ids(svc, **filters)
    assert rows == expected and len(rows) >= 3
    open_order = svc.review.open_ids(500)
    # a candidate whose neighbours differ between the filtered list and the open queue
    i = next(
        i
        for i in range(1, len(rows) - 1)
        if rows[i] not in open_order
        or open_order.index(rows[i]) in (0, len(open_order) - 1)
        or (open_order[open_order.index(rows[i]) - 1], open_order[open_order.index(rows[i]) + 1]) != (rows[i - 1], rows[i + 1])
    )
    page = rev.get(f"/review/candidates/{rows[i]}?{qs}").text
    assert _ids(page, "prev") == f"/review/candidates/{rows[i - 1]}?{qs}"
    assert _ids(page, "next") == f"/review/candidates/{rows[i + 1]}?{qs}"
    assert _ids(page, "list") == f"/review?view=all&{qs}"
    assert "previous in this list" in page and "next in this list" in page
    assert _hidden(page, "decision-form") == {"csrf": csrf_of(page), **filters}
    # without the filters: the open queue, as before
    plain = rev.get(f"/review/candidates/{rows[i]}").text
    j = open_order.index(rows[i]) if rows[i] in open_order else None
    if j is not None and j + 1 < len(open_order):
        assert _ids(plain, "next") == f"/review/candidates/{open_order[j + 1]}"
    # a flag filter with a single candidate: no neighbours; unknown filter values are dropped
    only = _flat_ids(svc, flag="birth_year_mismatch")
    assert len(only) == 1
    alone = rev.get(f"/review/candidates/{only[0]}?flag=birth_year_mismatch&sort=nonsense&kind=nope").text
    assert _ids(alone, "prev") is None and _ids(alone, "next") is None and _ids(alone, "list") == "/review?view=all&flag=birth_year_mismatch"


def test_after_a_decision_the_filtered_list_goes_on_then_returns_to_the_list(world):
    _, svc, _, _ = world
    rev = _client(world)
    filters = {"kind": "match", "flag": "plausible", "sort": "score"}
    rows = _flat_ids(svc, **filters)
    assert len(rows) >= 2
    page = rev.get(f"/review/candidates/{rows[0]}?{urlencode(filters)}").text
    done = rev.post(
        f"/review/candidates/{rows[0]}/decision", data={**_hidden(page, "decision-form"), "verdict": "unsure", "sure": "yes"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"/review/candidates/{rows[1]}?{urlencode(filters)}"
    # the last one of a list: back to the filtered list, which says so
    only = _flat_ids(svc, flag="birth_year_mismatch")
    page = rev.get(f"/review/candidates/{only[0]}?flag=birth_year_mismatch").text
    last = rev.post(
        f"/review/candidates/{only[0]}/decision", data={**_hidden(page, "decision-form"), "verdict": "unsure", "sure": "yes"}, follow_redirects=False
    )
    assert last.headers["location"] == "/review?view=all&flag=birth_year_mismatch"
    back = rev.get(last.headers["location"]).text
    assert "No more candidates in this list." in back and f"Decision recorded for candidate {only[0]}: unsure" in back


# ---- languages and narrow screens ----
def _pages(ids) -> list[str]:
    return [
        "/review",
        "/review?view=all&status=all",
        "/review/reports/R-A",
        f"/review/candidates/{ids['bilal']}?report=R-A",
        f"/review/candidates/{ids['dup']}?kind=duplicate",
        f"/review/candidates/{ids['far']}",
        "/review/sightings?status=all",
        f"/review/sightings/{ids['sighting']}",
        "/admin",
        "/admin/users",
        "/admin/audit",
        "/admin/erase?record=1",
        "/admin/health",
    ]


@pytest.mark.parametrize("code", list(LANGUAGES))
def test_every_reviewer_and_admin_page_renders_in_every_language(world, code):
    _, _, _, ids = world
    admin = _client(world, "admin", lang=code)
    for path in _pages(ids):
        page = admin.get(path)
        assert page.status_code == 200, (code, path)
        assert page.headers["content-language"] == code
        html = page.text
        direction = "rtl" if code == "ar" else "ltr"
        assert f'<html lang="{code}" dir="{direction}">' in html, path
        # every table scrolls inside its own box on a narrow screen
        assert html.count("<table") == html.count('<div class="table-scroll">'), path
        assert " style=" not in html and "<script>" not in html


def test_a_reviewer_page_in_arabic_is_right_to_left_by_accept_language_too(world):
    app, _, accounts, ids = world
    rev = TestClient(app, headers={"Accept-Language": "ar-SY,ar;q=0.9,en;q=0.5"})
    assert sign_in(rev, accounts.tokens["rev"]).status_code == 303
    page = rev.get(f"/review/candidates/{ids['omar']}?report=R-A").text
    assert '<html lang="ar" dir="rtl">' in page
    # arrows point the way the page reads: "previous" to the right, "next" to the left
    prev = re.search(r'<a id="prev"[^>]*>(.*?)</a>', page, re.S)
    nxt = re.search(r'<a id="next"[^>]*>(.*?)</a>', page, re.S)
    assert prev and "→" in prev.group(1) and "←" not in prev.group(1)
    assert nxt is None or ("←" in nxt.group(1) and "→" not in nxt.group(1))
    english = _client(world).get(f"/review/candidates/{ids['omar']}?report=R-A").text
    assert "←" in re.search(r'<a id="prev"[^>]*>(.*?)</a>', english, re.S).group(1)


# ---- the browser: the keyboard's confirm step, the page without script, 360 px in Arabic ----
@pytest.fixture(scope="module")
def live_world(world):
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    app, svc, accounts, ids = world
    with serving(app) as base:
        yield base, svc, accounts, ids


@pytest.mark.browser
def test_verdict_buttons_ask_in_the_page_with_script_and_on_a_page_without(live_world, chromium):
    from playwright.sync_api import expect

    base, svc, accounts, _ = live_world
    errors: list[str] = []
    candidate = svc.review.report_open_ids("R-A")[0]
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _browser_sign_in(page, base, accounts.tokens["rev"])
    page.goto(f"{base}/review/candidates/{candidate}?report=R-A")
    page.get_by_role("button", name=re.compile("^Reject")).click()  # the mouse: asked in the page
    expect(page.locator("#confirm-step")).to_be_visible()
    expect(page.locator("#confirm-text")).to_have_text("Reject this candidate?")
    assert page.url.endswith(f"/review/candidates/{candidate}?report=R-A") and _status(svc, candidate) == "open"
    page.keyboard.press("Escape")
    expect(page.locator("#confirm-step")).to_be_hidden()
    page.keyboard.press("u")
    expect(page.locator("#confirm-text")).to_have_text("Mark as unsure (escalate)?")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/review(/candidates/\d+\?report=R-A)?$"))
    expect(page.get_by_text(f"Decision recorded for candidate {candidate}: unsure")).to_be_visible()
    assert _status(svc, candidate) == "unsure" and not errors, errors
    context.close()

    # without script: the buttons post, the server asks, "Yes" records
    nojs = chromium.new_context(java_script_enabled=False, viewport={"width": 360, "height": 800})
    page = nojs.new_page()
    _browser_sign_in(page, base, accounts.tokens["rev"])
    target = svc.review.report_open_ids("R-A")[0]
    page.goto(f"{base}/review/candidates/{target}?report=R-A")
    page.get_by_label("Note (why)").fill("same scar")
    page.get_by_role("button", name=re.compile("^Unsure")).click()
    expect(page.get_by_role("heading", name="Record this decision?")).to_be_visible()
    expect(page.get_by_label("Note (why)")).to_have_value("same scar")
    assert _status(svc, target) == "open"
    page.get_by_role("button", name="Yes, record it").click()
    expect(page.get_by_text(f"Decision recorded for candidate {target}: unsure")).to_be_visible()
    assert _status(svc, target) == "unsure"
    nojs.close()


WIDER_THAN_THE_SCREEN = """[...document.querySelectorAll('main *')]
  .filter(e => !e.closest('.table-scroll') && (e.getBoundingClientRect().left < -1 || e.getBoundingClientRect().right > window.innerWidth + 1))
  .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().left)}..${Math.round(e.getBoundingClientRect().right)}`).slice(0, 8)"""


@pytest.mark.browser
def test_reviewer_pages_fit_a_360_px_screen_in_arabic(live_world, chromium):
    base, _, accounts, ids = live_world
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(viewport={"width": 360, "height": 780})
    page = context.new_page()
    _browser_sign_in(page, base, accounts.tokens["admin"])
    context.add_cookies([{"name": LANG_COOKIE, "value": "ar", "url": base}])  # after signing in: the sign-in form's words stay English
    for path in _pages(ids):
        page.goto(base + path)
        assert page.evaluate("document.documentElement.dir") == "rtl"
        width = page.evaluate("document.documentElement.scrollWidth")
        wide = page.evaluate(WIDER_THAN_THE_SCREEN)  # what sticks out, to say what to fix
        assert width <= 360, (path, width, wide)
    page.goto(f"{base}/review/reports/R-A")
    page.screenshot(path=str(ARTIFACTS / "report-shortlist-ar-360.png"), full_page=True)
    context.close()
