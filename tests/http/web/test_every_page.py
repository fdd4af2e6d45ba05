"""Every page, in every language: it renders, says its language and direction, labels every form
control, and weighs at most 100 KB with its stylesheet, script and icon (the person's own photos
aside). Slow links in camps and offices are the norm, not the exception."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from matcher.api.app import create_app
from matcher.services.accounts import authenticate
from matcher.web.i18n import LANGUAGES
from tests.http.web.test_pages import _jpeg, _world, sign_in

BUDGET = 100 * 1024
STATIC = ("/static/site.css", "/static/site.js", "/static/favicon.svg")


@pytest.fixture(scope="module")
def site(tmp_path_factory, services, astronaut_bgr):
    svc, accounts, ids = _world(tmp_path_factory.mktemp("pages"), services, astronaut_bgr)
    with svc.sessions() as db:
        family = authenticate(db, accounts.tokens["fam1"])
    report = svc.records.create(family, "report", {"name": "Amal", "birth_year": 2015})
    svc.records.upload(family, report["id"], "report", _jpeg(astronaut_bgr[:, ::-1].copy()), "amal.jpg")
    app = create_app(svc.settings, services=svc)
    with TestClient(app) as probe:
        assert probe.get("/health").status_code == 200
    candidate = svc.review.filtered_queue("open", "", "", "", None, "strength")[0]
    pages = {
        None: ["/signin"],
        "fam1": ["/my", "/my/new", f"/my/reports/{report['id']}"],
        "shelter": ["/shelter", "/shelter/children/new", f"/shelter/children/{ids['child']}", "/shelter/import"],
        "rev": ["/review", "/review?view=all", f"/review/reports/{report['number']}", f"/review/candidates/{candidate['id']}", "/review/sightings"],
        "admin": ["/admin", "/admin/users", "/admin/audit", f"/admin/erase?record={ids['child']}", "/admin/health"],
    }
    return app, accounts, pages


class Controls(HTMLParser):
    """Form controls and the labels that name them."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict] = []
        self.label_for: set[str] = set()
        self.in_label = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "label":
            self.in_label += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit", "button"):
            self.controls.append({**a, "tag": tag, "wrapped": self.in_label > 0})

    def handle_endtag(self, tag):
        if tag == "label":
            self.in_label -= 1


def _clients(app, accounts, who, code):
    client = TestClient(app, cookies={"matcher_lang": code})
    if who:
        assert sign_in(client, accounts.tokens[who]).status_code == 303
    return client


@pytest.mark.parametrize("code", list(LANGUAGES))
def test_every_page_renders_in_every_language_with_labels_and_under_100_kb(site, code):
    app, accounts, pages = site
    static = sum(len(TestClient(app).get(path).content) for path in STATIC)
    for who, paths in pages.items():
        client = _clients(app, accounts, who, code)
        for path in paths:
            page = client.get(path)
            assert page.status_code == 200, (code, path, page.status_code)
            html = page.text
            assert f'<html lang="{code}" dir="{"rtl" if code == "ar" else "ltr"}">' in html, (code, path)
            assert page.headers["content-language"] == code
            assert "{{" not in html and "%(" not in html, (code, path, "an untranslated placeholder")
            parser = Controls()
            parser.feed(html)
            unlabelled = [c for c in parser.controls if not (c["wrapped"] or c.get("aria-label") or c.get("id") in parser.label_for)]
            assert not unlabelled, (code, path, unlabelled)
            weight = len(page.content) + static
            assert weight <= BUDGET, f"{path} in {code}: {weight} bytes with its static files (budget {BUDGET})"
            # the language switcher is on every page and links every language
            assert len(re.findall(r'<nav class="langs"', html)) == 1 and all(f'lang="{c}"' in html for c in LANGUAGES)


def test_switcher_remembers_the_choice_and_only_goes_back_to_this_site(site):
    app, _, _ = site
    client = TestClient(app)
    gone = client.get("/lang/uk?next=/signin", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/signin"
    assert "matcher_lang=uk" in gone.headers["set-cookie"]
    assert client.get("/signin").headers["content-language"] == "uk"
    assert client.get("/lang/ar?next=//evil.example/x", follow_redirects=False).headers["location"] == "/"
    assert "matcher_lang" not in client.get("/lang/xx?next=/signin", follow_redirects=False).headers.get("set-cookie", "")
    # without a cookie the browser's languages choose; the API stays English
    fresh = TestClient(app)
    assert fresh.get("/signin", headers={"Accept-Language": "es-MX,es;q=0.9"}).headers["content-language"] == "es"
    api = fresh.get("/v1/reports", headers={"Accept-Language": "ar"})
    assert api.status_code == 401 and api.json()["error"]["code"] == "unauthenticated" and api.json()["error"]["message"].isascii()


def test_error_pages_show_the_translated_message_for_the_code(site):
    from matcher.web.i18n import Catalogues
    from matcher.web.messages import ERRORS

    app, accounts, _ = site
    client = _clients(app, accounts, "fam1", "fr")
    page = client.get("/my/reports/999999")
    assert page.status_code == 404 and 'data-code="not_found"' in page.text
    assert Catalogues().get("fr").gettext(ERRORS["not_found"]).replace("'", "&#39;") in page.text
