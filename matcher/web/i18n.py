"""The pages' languages: gettext catalogues made with Babel, one per language, under
``matcher/web/locale/<code>/LC_MESSAGES/messages.po``.

* Strings are marked in the templates (``{{ _("...") }}``, ``{% trans %}``) and in the page
  modules (``tr.gettext("...")``), extracted with ``pybabel extract`` (``babel.cfg``) into
  ``messages.pot`` and merged into each catalogue with ``pybabel update`` (docs/pages.md, "Languages").
* The ``.po`` files are compiled in memory when the app starts (``Catalogues``): nothing is
  written into the installed package, and a catalogue that does not parse stops the start.
* A person's language: their explicit choice (the switcher on every page, remembered in a
  cookie), else the browser's ``Accept-Language``, else English (``choose``).
* Dates and numbers are formatted for the language with Babel (``Language.date``, ``number``).

The JSON API is not translated: it keeps English messages and stable ``code`` values; the
pages translate an error by its code (``matcher.web.messages``).
"""

from __future__ import annotations

import datetime as dt
import gettext as stdlib_gettext
import io
from dataclasses import dataclass, field
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from jinja2.ext import _make_new_gettext, _make_new_ngettext

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT = "en"
# code -> the language's own name, as the switcher shows it
LANGUAGES: dict[str, str] = {
    "en": "English",
    "ar": "العربية",
    "fr": "Français",
    "es": "Español",
    "ru": "Русский",
    "uk": "Українська",
}
LANG_COOKIE = "matcher_lang"
LANG_COOKIE_AGE = 365 * 24 * 3600


def parse_accept_language(header: str | None) -> list[str]:
    """``"ar-SY,ar;q=0.9,en;q=0.5"`` -> ``["ar-SY", "ar", "en"]`` (by quality, then order);
    entries with ``q=0`` or a malformed quality are dropped. Pure."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header[:512].split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or len(tag) > 35:
            continue
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k.strip() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if 0 < q <= 1:
            ranked.append((-q, i, tag))
    return [tag for _, _, tag in sorted(ranked)]


def choose(cookie: str | None, accept_language: str | None, available: tuple[str, ...] = tuple(LANGUAGES)) -> str:
    """The language of a page: the cookie's explicit choice, else the best match of
    ``Accept-Language`` (``ar-SY`` picks ``ar``), else English. Pure."""
    if cookie in available:
        return cookie
    for tag in parse_accept_language(accept_language):
        primary = tag.replace("_", "-").split("-", 1)[0].lower()
        if primary in available:
            return primary
    return DEFAULT


@dataclass(frozen=True)
class Language:
    """One language as the pages use it: gettext, the Jinja callables, Babel formatting."""

    code: str
    name: str
    translations: stdlib_gettext.NullTranslations = field(repr=False, compare=False)

    @property
    def rtl(self) -> bool:
        return self.locale.character_order == "right-to-left"

    @property
    def dir(self) -> str:
        return "rtl" if self.rtl else "ltr"

    @property
    def locale(self) -> Locale:
        return Locale.parse(self.code)

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def jinja(self) -> dict:
        """``_``/``gettext``/``ngettext`` for a template (Jinja's new-style gettext:
        autoescaped, ``%(name)s`` filled from keyword arguments)."""
        gettext = _make_new_gettext(self.gettext)
        return {"_": gettext, "gettext": gettext, "ngettext": _make_new_ngettext(self.ngettext)}

    # ---- formatting ----
    def number(self, value: float | int | None, digits: int | None = None) -> str:
        if value is None:
            return "–"
        fmt = None if digits is None else "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=fmt, locale=self.code)

    def date(self, value: dt.date | dt.datetime | str | None, style: str = "medium") -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value) if "T" in value or " " in value else dt.date.fromisoformat(value)
            except ValueError:
                return value
        if isinstance(value, dt.datetime):
            return format_datetime(value, "short" if style == "medium" else style, locale=self.code)
        return format_date(value, style, locale=self.code)


def compile_po(path: Path) -> stdlib_gettext.GNUTranslations:
    """A ``.po`` file compiled to a gettext catalogue in memory (fuzzy entries left out)."""
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=path.parent.parent.name, domain=DOMAIN)
    catalog.fuzzy = False  # the header (plural rules) always counts; fuzzy *entries* are still left out
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return stdlib_gettext.GNUTranslations(buf)


class Catalogues:
    """Every shipped language, compiled once when the app starts (held by the app, not the module)."""

    def __init__(self, locale_dir: Path = LOCALE_DIR) -> None:
        self.languages: dict[str, Language] = {}
        for code, name in LANGUAGES.items():
            po = locale_dir / code / "LC_MESSAGES" / f"{DOMAIN}.po"
            translations = compile_po(po) if po.exists() else stdlib_gettext.NullTranslations()
            self.languages[code] = Language(code, name, translations)

    def get(self, code: str) -> Language:
        return self.languages.get(code) or self.languages[DEFAULT]
