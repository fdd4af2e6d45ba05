"""The pages' languages: choosing one, formatting, and catalogues complete for every shipped
language (a msgid the templates or page modules use but a catalogue lacks fails here, so a new
English string cannot ship untranslated)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from matcher.web.i18n import LANGUAGES, LOCALE_DIR, Catalogues, choose, parse_accept_language
from matcher.web.messages import ERRORS, PROBLEMS, VALUES, rate_words
from tests.conftest import ROOT

WEB = ROOT / "matcher" / "web"
TRANSLATED = [code for code in LANGUAGES if code != "en"]


def test_accept_language_is_ranked_by_quality_then_order():
    assert parse_accept_language("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5") == ["fr-CH", "fr", "en", "de"]
    assert parse_accept_language("en;q=0.1, ar") == ["ar", "en"]
    assert parse_accept_language("ru;q=0, uk;q=bogus, es") == ["es"]
    assert parse_accept_language(None) == [] and parse_accept_language("") == []


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        ("ar", "fr", "ar"),  # an explicit choice wins
        (None, "ar-SY,ar;q=0.9,en;q=0.5", "ar"),
        (None, "de-DE,uk;q=0.8", "uk"),  # the first language we have
        (None, "de, it", "en"),  # none we have: English
        ("xx", "es-MX", "es"),  # a bad cookie is ignored
        (None, None, "en"),
    ],
)
def test_language_comes_from_the_cookie_then_accept_language_then_english(cookie, header, expected):
    assert choose(cookie, header) == expected


def test_arabic_is_right_to_left_and_formats_for_its_locale():
    catalogues = Catalogues()
    ar, ru, en = catalogues.get("ar"), catalogues.get("ru"), catalogues.get("en")
    assert ar.rtl and ar.dir == "rtl" and not ru.rtl and en.dir == "ltr"
    assert catalogues.get("xx").code == "en"
    assert ru.number(1234.5, 1) == "1\u00a0234,5" and en.number(1234.5, 1) == "1,234.5"
    assert en.date(dt.date(2026, 11, 29)) == "Nov 29, 2026"
    assert "2026" in ar.date("2026-11-29") and ar.date("2026-11-29") != en.date("2026-11-29")
    assert rate_words(en, 1 / 3210) == "about 1 in 3,200 unrelated pairs score this high"
    assert rate_words(en, None) == "not calibrated"


def _extracted() -> dict[str | tuple[str, str], str]:
    """Every msgid the templates and page modules use (as ``pybabel extract`` finds them)."""
    method_map = [("templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
    out = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(WEB), method_map, options, keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    ):
        out[message] = filename
    return out


def test_every_page_string_is_extracted_from_somewhere():
    used = _extracted()
    assert len(used) > 250
    keys = {m if isinstance(m, str) else m[0] for m in used}
    assert {"File a report", "Import an archive", "Sign in", "Which photos help most"} <= keys
    assert set(ERRORS.values()) | set(VALUES.values()) | set(PROBLEMS.values()) <= keys


@pytest.mark.parametrize("code", TRANSLATED)
def test_catalogue_is_complete_and_its_placeholders_match(code):
    po = LOCALE_DIR / code / "LC_MESSAGES" / "messages.po"
    assert po.exists(), f"no catalogue for {code}: run `make messages` and translate {po}"
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=code)
    missing, empty, fuzzy = [], [], []
    for message, where in _extracted().items():
        msgid = message if isinstance(message, str) else message[0]
        entry = catalog.get(msgid)
        if entry is None:
            missing.append(f"{where}: {msgid!r}")
        elif entry.fuzzy:
            fuzzy.append(msgid)
        elif not all(entry.string) if isinstance(entry.string, tuple) else not entry.string:
            empty.append(msgid)
    assert not missing, f"{code}: {len(missing)} strings missing from {po} (run `make messages`, then translate):\n" + "\n".join(missing[:40])
    assert not empty, f"{code}: {len(empty)} strings not translated in {po}:\n" + "\n".join(empty[:40])
    assert not fuzzy, f"{code}: {len(fuzzy)} fuzzy (unchecked) translations in {po}:\n" + "\n".join(fuzzy[:40])
    problems = [f"{m.id!r}: {'; '.join(str(e) for e in errors)}" for m, errors in catalog.check()]
    assert not problems, f"{code}: placeholders differ from the English:\n" + "\n".join(problems[:40])
    # named placeholders must survive translation exactly (new-style gettext fills them by name)
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        wanted = set(re.findall(r"%\((\w+)\)s|%\((\w+)\)d", " ".join(ids)))
        for s in strings:
            got = set(re.findall(r"%\((\w+)\)s|%\((\w+)\)d", s))
            assert got <= wanted, f"{code}: {message.id!r} -> {s!r} uses unknown placeholders {got - wanted}"


@pytest.mark.parametrize("code", TRANSLATED)
def test_catalogue_translates_the_family_pages_rather_than_copying_english(code):
    lang = Catalogues().get(code)
    for msgid in ("File a report", "Which photos help most", "Send report", "How old was your child in this photo? (optional)"):
        assert lang.gettext(msgid) != msgid, f"{code} leaves {msgid!r} in English"
