"""The pages' three main flows in a real browser (Playwright driving Debian's Chromium against uvicorn):
a family files a report in Arabic (right to left) with two photos and an age for each; a shelter
worker in Russian registers a child with a photo and imports a 3-child ZIP archive, watching the
progress bar reach the end; a reviewer confirms the resulting lead. Each flow runs with
JavaScript on and again with JavaScript off. Screenshots go to ``tests/artifacts/``.

The faces are images that ship inside installed packages (scikit-image's astronaut, insightface's
sample photos), so these tests need neither the shared data nor the network.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from matcher.api.app import create_app
from matcher.container import Services
from matcher.store.tables import Candidate, Media, Record
from matcher.web.i18n import Catalogues
from tests.browser import ARTIFACTS, browser_missing, serving
from tests.conftest import make_settings
from tests.http_helpers import make_accounts

INSIGHTFACE_IMAGES = Path(__import__("insightface").__file__).parent / "data" / "images"
PHONE = {"width": 360, "height": 780}


def _jpeg(bgr: np.ndarray, quality: int = 90) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


@pytest.fixture(scope="module")
def faces(astronaut_bgr) -> dict[str, bytes]:
    """Distinct real faces: the astronaut (family photos and one archive child), two people of
    insightface's group photo and Tom Hanks (the child registered by hand)."""
    group = cv2.imread(str(INSIGHTFACE_IMAGES / "t1.jpg"))
    hanks = cv2.imread(str(INSIGHTFACE_IMAGES / "Tom_Hanks_54745.png"))
    return {
        "family_1": _jpeg(astronaut_bgr, 92),
        "family_2": _jpeg(cv2.resize(astronaut_bgr[:, ::-1], (400, 400)), 88),
        "kid_astronaut": _jpeg(cv2.resize(astronaut_bgr[20:480, 40:470], (380, 406)), 80),
        "kid_group_a": _jpeg(group[180:500, 390:650]),
        "kid_group_b": _jpeg(group[180:480, 0:250]),
        "registered": _jpeg(cv2.resize(hanks, (224, 224), interpolation=cv2.INTER_CUBIC)),
    }


def _archive(faces: dict[str, bytes], prefix: str) -> bytes:
    """A ZIP as a shelter makes it: one top folder, a folder per child named by record number."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"archive/{prefix}-1/photo.jpg", faces["kid_astronaut"])
        z.writestr(f"archive/{prefix}-2/photo.jpg", faces["kid_group_a"])
        z.writestr(f"archive/{prefix}-3/photo.jpg", faces["kid_group_b"])
    return buf.getvalue()


@pytest.fixture(scope="module")
def flows_live(tmp_path_factory, services):
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    svc = Services(make_settings(tmp_path_factory.mktemp("flows") / "var"))
    svc.analyzer.reuse_models(services.analyzer)
    accounts = make_accounts(svc, {"amal": "family", "nour": "family", "shelter-ru": "shelter", "shelter-uk": "shelter", "rev": "reviewer"})
    with serving(create_app(svc.settings, services=svc)) as base:
        yield base, svc, accounts


def _watch(page, errors: list[str]) -> None:
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)


def _sign_in(page, base: str, token: str) -> None:
    page.goto(f"{base}/signin")
    page.locator("#token").fill(token)
    page.locator('form[action="/signin"] button[type=submit]').click()
    page.wait_for_load_state()


def _fits(page, width: int) -> None:
    wide = page.evaluate(
        """(w) => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1 || e.getBoundingClientRect().left < -1)
                 .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().width))""",
        width,
    )
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width, f"{page.url} is wider than {width} px: {wide}"


def _family_files_in_arabic(chromium, base, svc, token: str, faces, js: bool) -> str:
    """Returns the report's number."""
    from playwright.sync_api import expect

    ar = Catalogues().get("ar")
    errors: list[str] = []
    context = chromium.new_context(viewport=PHONE, device_scale_factor=2, java_script_enabled=js, locale="en-GB" if js else "ar-SY")
    page = context.new_page()
    _watch(page, errors)
    page.goto(f"{base}/signin")
    if js:  # the switcher (remembered in a cookie); without JS the browser's Accept-Language chooses Arabic
        page.locator('nav.langs a[lang="ar"]').click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    _sign_in(page, base, token)
    page.locator('a[href="/my/new"]').first.click()
    heading = ar.gettext("File a report")
    assert heading != "File a report"
    expect(page.locator("h1")).to_have_text(heading)
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    page.locator("#name").fill("أمل")
    page.locator("#birth_year").fill("2015")
    page.locator("#last_seen_at").fill("حلب")
    page.locator("#photo").set_input_files({"name": "amal-8.jpg", "mimeType": "image/jpeg", "buffer": faces["family_1"]})
    page.locator("#age").fill("8")
    page.locator("#photo_2").set_input_files({"name": "amal-6.jpg", "mimeType": "image/jpeg", "buffer": faces["family_2"]})
    page.locator("#age_2").fill("6")
    _fits(page, PHONE["width"])
    page.screenshot(path=str(ARTIFACTS / f"family-ar-form{'' if js else '-nojs'}.png"), full_page=True)
    page.locator('form[action="/my/new"] button[type=submit]').click()
    page.wait_for_url(re.compile(r"/my/reports/\d+$"))
    expect(page.locator("#report-status")).to_have_attribute("data-status", "under review")
    expect(page.locator("#report-status")).to_have_text(ar.gettext("under review"))
    expect(page.locator("p.flash")).to_have_count(3)  # received + one line per photo
    _fits(page, PHONE["width"])
    page.screenshot(path=str(ARTIFACTS / f"family-ar-report{'' if js else '-nojs'}.png"), full_page=True)
    report_id = int(page.url.rsplit("/", 1)[1])
    with svc.sessions() as db:
        ages = sorted(db.scalars(select(Media.age_at_photo).where(Media.record_id == report_id)))
        number = db.get(Record, report_id).external_id
    assert ages == [6.0, 8.0]
    assert not errors, errors
    context.close()
    return number


def _shelter_in_russian(chromium, base, svc, token: str, faces, prefix: str, js: bool) -> None:
    from playwright.sync_api import expect

    ru = Catalogues().get("ru")
    errors: list[str] = []
    context = chromium.new_context(viewport=PHONE, device_scale_factor=2, java_script_enabled=js, locale="ru-RU")
    page = context.new_page()
    _watch(page, errors)
    _sign_in(page, base, token)
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("h1")).to_have_text(ru.gettext("Children in care"))
    # register a child with a photo from the phone
    page.locator('a[href="/shelter/children/new"]').click()
    page.locator("#number").fill(f"{prefix}-REG")
    page.locator("#name").fill("Маша")
    page.locator("#age_now").fill("9")
    page.locator("#found_at").fill("Харьков")
    page.locator("#photo").set_input_files({"name": "masha.jpg", "mimeType": "image/jpeg", "buffer": faces["registered"]})
    page.locator('form[action="/shelter/children/new"] button[type=submit]').click()
    page.wait_for_url(re.compile(r"/shelter/children/\d+$"))
    expect(page.locator("img.mini")).to_have_count(1)  # the face found in the photo
    _fits(page, PHONE["width"])
    # import a 3-child archive and watch the progress bar reach the end
    page.locator('a[href="/shelter"]').first.click()
    page.locator('a[href="/shelter/import"]').first.click()
    expect(page.locator("h1")).to_have_text(ru.gettext("Import an archive"))
    page.locator("#archive").set_input_files({"name": "archive.zip", "mimeType": "application/zip", "buffer": _archive(faces, prefix)})
    page.screenshot(path=str(ARTIFACTS / f"shelter-ru-import-form{'' if js else '-nojs'}.png"), full_page=True)
    page.locator('form[action="/shelter/import"] button[type=submit]').click()
    page.wait_for_url(re.compile(r"/shelter/imports/\w+$"))
    expect(page.locator("#import-progress")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / f"shelter-ru-import-progress{'' if js else '-nojs'}.png"), full_page=True)
    expect(page.locator("#import-status")).to_have_attribute("data-status", "done", timeout=120_000)  # the page refreshes itself
    bar = page.locator("#import-progress")
    assert bar.get_attribute("value") == bar.get_attribute("max") == "3"
    expect(page.locator("#no-problems")).to_be_visible()
    _fits(page, PHONE["width"])
    page.screenshot(path=str(ARTIFACTS / f"shelter-ru-import-done{'' if js else '-nojs'}.png"), full_page=True)
    page.locator('a[href="/shelter"]').first.click()
    for n in (1, 2, 3):
        expect(page.locator("#children")).to_contain_text(f"{prefix}-{n}")
    with svc.sessions() as db:
        numbers = set(db.scalars(select(Record.external_id).where(Record.external_id.like(f"{prefix}-%"))))
    assert numbers == {f"{prefix}-REG", f"{prefix}-1", f"{prefix}-2", f"{prefix}-3"}
    assert not errors, errors
    context.close()


def _reviewer_confirms(chromium, base, svc, token: str, report_number: str, child_number: re.Pattern, js: bool) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=js)
    page = context.new_page()
    _watch(page, errors)
    _sign_in(page, base, token)
    page.goto(f"{base}/review/reports/{report_number}")
    first = page.locator("#queue tbody tr").first
    expect(first).to_contain_text(child_number)  # the right child leads the report's list
    first.locator("a").first.click()
    page.wait_for_url(re.compile(r"/review/candidates/\d+"))
    candidate_id = int(re.search(r"/candidates/(\d+)", page.url).group(1))
    if js:
        page.keyboard.press("c")
        expect(page.locator("#confirm-step")).to_be_visible()
        with page.expect_navigation():
            page.keyboard.press("Enter")
    else:  # no JavaScript: the server asks to confirm
        with page.expect_navigation():
            page.locator('#decision-form button[value="confirmed"]').click()
        expect(page.locator("h1")).to_contain_text("Record this decision?")
        with page.expect_navigation():
            page.locator("#confirm-form #confirm-yes").click()
    with svc.sessions() as db:
        status = db.get(Candidate, candidate_id).status
    assert status == "confirmed"
    page.screenshot(path=str(ARTIFACTS / f"reviewer-confirmed{'' if js else '-nojs'}.png"), full_page=True)
    assert not errors, errors
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_arabic_family_russian_shelter_and_reviewer_confirms_the_lead(flows_live, chromium, faces, js):
    base, svc, accounts = flows_live
    ARTIFACTS.mkdir(exist_ok=True)
    prefix = "KID" if js else "KIDN"
    report = _family_files_in_arabic(chromium, base, svc, accounts.tokens["amal" if js else "nour"], faces, js)
    _shelter_in_russian(chromium, base, svc, accounts.tokens["shelter-ru" if js else "shelter-uk"], faces, prefix, js)
    # the astronaut is child 1 of either archive (the second run's family photos match both)
    _reviewer_confirms(chromium, base, svc, accounts.tokens["rev"], report, re.compile(r"\bKIDN?-1\b"), js)
