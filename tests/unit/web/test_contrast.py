"""Text contrast of the pages' colours (WCAG 2 contrast ratio >= 4.5:1 for normal text).

Each pair is a text colour on the background it is drawn on in ``site.css``; the test first
checks that the stylesheet still uses both colours, so a change of palette cannot slip past."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

CSS = (ROOT / "matcher" / "web" / "static" / "site.css").read_text()
VARS = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})", CSS))


def colour(value: str) -> str:
    return VARS[value[2:]] if value.startswith("--") else value


def luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def ratio(fg: str, bg: str) -> float:
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


PAIRS = [
    ("body text", "--fg", "--bg"),
    ("body text on cards", "--fg", "--card"),
    ("muted text", "--muted", "--bg"),
    ("muted text on cards", "--muted", "--card"),
    ("links", "--accent", "--bg"),
    ("links on cards", "--accent", "--card"),
    ("links in the language bar", "--accent", "#eceee8"),
    ("button text", "#fff", "--accent"),
    ("secondary button", "--accent", "#fff"),
    ("confirm button", "#fff", "--ok"),
    ("reject button", "#fff", "--bad"),
    ("header", "#fff", "#20242a"),
    ("signed-in name", "#ddd", "#20242a"),
    ("flash message", "--fg", "#e8f1e6"),
    ("error message", "#6b1410", "#fbeaea"),
    ("age flag", "#5a3b00", "#fde9c8"),
    ("implausible row", "#6a4b00", "--card"),
    ("strong-lead badge", "#fff", "#1b6b34"),
    ("status badge", "--fg", "#e4e8ef"),
    ("photo advice", "--fg", "#eef3fb"),
    ("current queue row", "--fg", "#fff4c2"),
    ("warning text", "--bad", "--card"),
]


@pytest.mark.parametrize(("what", "fg", "bg"), PAIRS, ids=[p[0] for p in PAIRS])
def test_text_contrast_is_at_least_4_5_to_1(what, fg, bg):
    for c in (fg, bg):
        assert (c.startswith("--") and c[2:] in VARS) or c.lower() in CSS.lower(), f"{c} is no longer in site.css: update this table"
    assert ratio(colour(fg), colour(bg)) >= 4.5, f"{what}: {colour(fg)} on {colour(bg)} is {ratio(colour(fg), colour(bg)):.2f}:1"


def test_the_formula_matches_known_values():
    assert ratio("#000", "#fff") == pytest.approx(21.0)
    assert ratio("#777", "#fff") == pytest.approx(4.48, abs=0.01)
