"""Arabic-script names as Latin-letter patterns (pure): used by ``review.names``.

Short vowels are not written in Arabic script, so an Arabic-script name is turned into a
regular expression over the Latin key of the other name: its consonants (each with the
transliterations families and caseworkers actually use), its written long vowels, and at most
one unwritten short vowel between letters. See ``review.names`` for the scale and the limits.
"""

from __future__ import annotations

import re
import unicodedata

ARABIC_RANGES = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))


def is_arabic(ch: str) -> bool:
    o = ord(ch)
    return any(lo <= o <= hi for lo, hi in ARABIC_RANGES)


_HARAKAT = re.compile("[\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")  # vowel marks, tatweel
_AR_NORMALISE = str.maketrans({"ٱ": "ا", "ی": "ي", "ک": "ك", "ے": "ي", "ە": "ه"})
_SLOT = "[aeiou]?"
_CONSONANTS = {
    "ب": "b",
    "ت": "t",
    "ج": "(?:j|g)",
    "ث": "(?:th|t|s)",
    "ح": "h",
    "خ": "h",
    "د": "d",
    "ذ": "(?:dh|d|z|th)",
    "ر": "r",
    "ز": "z",
    "س": "s",
    "ش": "sh",
    "ص": "s",
    "ض": "(?:dh|d|z)",
    "ط": "t",
    "ظ": "(?:dh|z|d)",
    "غ": "(?:gh|g)",
    "ف": "f",
    "ق": "(?:k|g)",
    "ك": "k",
    "ل": "l",
    "م": "m",
    "ن": "n",
    "ه": "h",
    "پ": "p",
    "چ": "sh",
    "ژ": "j",
    "گ": "g",
}
_FINAL_DEVOICED = {"د": "t", "ذ": "(?:dh|t|z|th)", "ض": "(?:dh|t|z)", "ظ": "(?:dh|z|t)"}
_VOWEL_LETTERS = {"ا": "[ae]", "و": "[uov]", "ي": "[ie]", "ى": "[ae]", "آ": "a"}
_SEATS = {"أ": "[aeiou]?", "إ": "[ie]?", "ؤ": "[uo]?", "ئ": "[ie]?"}
_SILENT = {"ع", "ء"}  # no Latin letter of their own: their vowel is the neighbouring slot


def normalise_arabic(token: str) -> str:
    t = _HARAKAT.sub("", token).translate(_AR_NORMALISE)
    t = "".join(ch for ch in t if is_arabic(ch) and unicodedata.category(ch).startswith("L"))
    if t[:1] in "أإ" and t[1:] in {"بو", "بن"}:  # أبو, إبن: particles and heads by one spelling
        t = "ا" + t[1:]
    return t


def arabic_plain(t: str) -> str:
    """Spelling-insensitive Arabic form for Arabic-vs-Arabic comparison."""
    t = t.translate(str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي"})).replace("ء", "")
    return _strip_article(t)


def _strip_article(t: str) -> str:
    return t[2:] if t.startswith("ال") and len(t) > 3 else t


def _word_pattern(word: str, g_for_h: bool) -> str:
    letters = list(word)
    parts: list[str] = []
    pending_slot = False
    last = None
    for i, ch in enumerate(letters):
        final = i == len(letters) - 1
        if ch in _SILENT:
            if not parts or final:
                parts.append(_SLOT)
            pending_slot = False
            continue
        if ch == "ة":
            unit = "(?:a|e|at)"
        elif ch == "ه" and final and parts:
            unit = "(?:h[aeiou]?)?"
        elif i == 0 and ch == "ا":
            unit = "[aeiou]?"
        elif i == 0 and ch == "ج":
            unit = "(?:i|g)"
        elif i == 0 and ch == "ي":
            unit = "i"
        elif ch in _VOWEL_LETTERS:
            unit = _VOWEL_LETTERS[ch]
        elif ch in _SEATS:
            unit = _SEATS[ch]
        elif final and ch in _FINAL_DEVOICED:
            unit = _FINAL_DEVOICED[ch]
        elif ch in _CONSONANTS:
            unit = _CONSONANTS[ch]
            if g_for_h and ch in "حه":
                unit = "[hg]"
        else:
            continue
        if pending_slot:
            parts.append(_SLOT)
        if unit == last and ch in _CONSONANTS:
            parts.append(f"(?:{unit})?")  # Latin doubled letters are already single
        else:
            parts.append(unit)
        last = unit
        pending_slot = True
    return "".join(parts)


def arabic_regex(arabic: str, g_for_h: bool) -> re.Pattern[str]:
    if "+" in arabic:  # compound: عبد+الرحمن, ابو+بكر
        head, rest = arabic.split("+", 1)
        rest_body = _strip_article(rest)
        if head == "عبد":
            if rest_body == "له":  # Allah: every Latin spelling is canonically abdala
                tail = "ala"
            else:
                tail = _word_pattern(rest_body, g_for_h)
            return re.compile(f"{_SLOT}b{_SLOT}d{tail}")
        alternatives = {_word_pattern(rest_body, g_for_h), _word_pattern(rest, g_for_h)}
        body = "(?:" + "|".join(sorted(alternatives)) + ")"
        return re.compile(_word_pattern(head, g_for_h) + _SLOT + body)
    alternatives = {_word_pattern(_strip_article(arabic), g_for_h), _word_pattern(arabic, g_for_h)}
    return re.compile("(?:" + "|".join(sorted(alternatives)) + ")")
