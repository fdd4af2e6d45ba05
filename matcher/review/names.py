"""Name agreement between a report and a child, across scripts (pure; a soft signal only).

A child in care can often say little more than a name, and the family's report has a name
too — but in another script and spelling: a Chechen mother writes Билал, an Iraqi shelter
writes بلال, a caseworker types Bilal or Bilel. ``compare_names`` says how well two such
names agree on a four-value scale:

``same``
    Some given-name token of each side is one name written two ways: equal after the
    variant rules below, or (when one side is Arabic script) the Latin form fits the Arabic
    consonant skeleton.
``similar``
    Close, but not provably one name: one vowel or one letter apart in a name of five
    letters or more (Yusuf/Youssef, Oleksandr/Aleksandr, Khadija/Khadizhat), equal once
    Russian ``г`` for Arabic *h* is allowed (Ibragim/Ibrahim, Гасан/حسن), or Jaro–Winkler
    >= ``JW_SIMILAR`` (0.93) with at most ``MAX_EDITS_LONG`` (2) edits in names of
    ``MIN_LEN_LONG`` (6) letters or more.
``different``
    Both names are known and no token pair reaches ``similar``.
``unknown``
    Either side is missing, blank, only initials (``M.``), only particles or placeholders
    (``?``, ``unknown``, ``неизвестно``, ``مجهول``).

Order (``name_rank``): same (0) < similar (1) < unknown (2) < different (3). A missing name is
no evidence either way, so it ranks above a name that disagrees.

**Soft signal only.** Children give nicknames, mishear their own names, are renamed by
carers or registered under a guess; a report may carry a formal name the child never used.
This result may reorder or annotate candidates; it must never filter one out. Names are
personal data: nothing here logs, and callers must not log the forms either.

Steps
-----
1. Normalise: NFKC, casefold, apostrophes dropped inside words (Sa'id), other punctuation and
   digits split tokens. Particles (bin, ibn, bint, ben, al, el, ul, ould, بن, ابن, بنت, a
   standalone ال) and titles are dropped; ``abd``/``abdul``/``abu`` (and عبد / أبو) are joined
   with the next token (Abdul Rahman = Abdulrahman = عبد الرحمن); one-letter tokens are
   initials and dropped.
2. Transliterate: non-Arabic tokens with ``anyascii`` (Cyrillic, Latin with diacritics, and
   whatever else it covers); Ukrainian names (і, ї, є, ґ present) read ``г`` as *h*; ``ş``
   is *sh* (Turkish Ayşe = Aisha; anyascii alone would drop the cedilla).
3. Canonical Latin form (``latin_key``), rules in order: sch→sh, tch→ch, dzh/dj/zh→j, kh→h
   (so Mukhammad = Muhammad), ph→f, ch→sh (French Aïcha/Rachid), ck/q→k, x→ks, c→s before
   e/i/y else k, w→v (Iwona = Ivona), ou/oo→u, ee→i, y→i, initial j→i (Jusuf = Yusuf),
   final -ah→-a (Fatimah), final -ine→-in (French Amine), doubled letters single (so
   Mariya→maria, Aliyya→alia), final d→t (Ahmet = Ahmed, Murat = Murad); a compound
   ``abd[vowel][l]`` prefix becomes ``abd``; one alias (Magomed → Muhamed, the Dagestani and
   Chechen form whose vowels follow no rule).
4. Compare every token pair and keep the best:
   * Latin vs Latin ``same``: equal consonant runs, and vowel runs pairwise compatible —
     a~e, e~i, o~u (Arabic short vowels are written both ways: Ahmad/Ahmed, Omar/Umar,
     Muhammad/Mohammed). a~o and a~u are *not* compatible (Ammar ≠ Omar).
   * Arabic script vs anything: Arabic writes consonants and long vowels (ا و ي) but not
     short vowels, so the Arabic token becomes a pattern: each consonant a class of Latin
     spellings (ث th|t|s, ج j|g, ق k|g, ذ/ض/ظ d|dh|z, ة a|e|at, ...), each long vowel its
     vowels (ا a|e, و u|o|v, ي i|e), and between letters at most one short vowel. The other
     side's canonical form must fit the whole pattern (``same``); with ``g`` allowed for
     ح/ه it is ``similar``. Used only when one side is Arabic script. Arabic vs Arabic
     compares normalised spellings (hamza seats, alef forms, ى/ي, ة/ه).
   * Gender-ending guard: when exactly one canonical form ends in ``a`` or ``e`` (the
     feminine ending in Arabic and Slavic names; Turkish and French write it ``e``: Ayşe,
     Marie) the pair is ``different`` unless the other ends in ``-at`` (Caucasian Khadizhat,
     Aminat). This keeps Ali/Alia, Amin/Amina, Ivan/Iwona, Maria/Mario, Samir/Samira apart.

Why not Metaphone: it keys Ali/Alia, Said/Saad and Hassan/Hussein alike (English vowel
dropping), exactly the near-misses this must separate; the consonant runs plus vowel classes
above are its replacement. Decisions: Hassan/Hussein and Said/Saad are ``different`` (a
different long vowel, a different Arabic spelling); Oleksandr/Aleksandr is ``similar`` (one
vowel apart); Khadija/Хадижат is ``similar`` (the Caucasian -at form).

Known limits (rows of the table test marked as expected failures): an unvocalised Arabic
name fits any Latin name with the same consonants and short vowels (عمر Umar also fits Amir,
محمد Muhammad also fits Mahmoud); e/i share a class, so Lina = Lena; the gender-ending guard
keeps Yasmin/Yasmina apart; cognates across languages (Mykola/Николай) are not
transliterations. Surnames and patronymics count like given names (word order varies and
Arabic name chains repeat fathers' names), so "Bilal Hassan" agrees with "Hassan".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

import jellyfish
from anyascii import anyascii

from matcher.review.name_lists import APOSTROPHES as _APOSTROPHES
from matcher.review.name_lists import AR_COMPOUND_HEADS as _AR_COMPOUND_HEADS
from matcher.review.name_lists import AR_PARTICLES as _AR_PARTICLES
from matcher.review.name_lists import AR_PLACEHOLDERS as _AR_PLACEHOLDERS
from matcher.review.name_lists import COMPOUND_HEADS as _COMPOUND_HEADS
from matcher.review.name_lists import PARTICLES as _PARTICLES
from matcher.review.name_lists import PLACEHOLDERS as _PLACEHOLDERS
from matcher.review.name_lists import UKRAINIAN as _UKRAINIAN
from matcher.review.names_arabic import arabic_plain as _arabic_plain
from matcher.review.names_arabic import arabic_regex as _arabic_regex
from matcher.review.names_arabic import is_arabic as _is_arabic
from matcher.review.names_arabic import normalise_arabic as _normalise_arabic

Level = Literal["same", "similar", "different", "unknown"]

LEVELS: tuple[Level, ...] = ("same", "similar", "unknown", "different")
JW_SIMILAR = 0.93  # Jaro–Winkler for long names (see MIN_LEN_LONG, MAX_EDITS_LONG)
MIN_LEN_LONG = 6  # letters, shorter of the two canonical forms
MAX_EDITS_LONG = 2  # Levenshtein cap with the JW rule
MIN_LEN_ONE_EDIT = 5  # one letter apart counts as similar only from this length

_RANK = {level: i for i, level in enumerate(LEVELS)}


def name_rank(level: Level) -> int:
    """Sort key: same 0 < similar 1 < unknown 2 < different 3 (missing is no evidence)."""
    return _RANK[level]


@dataclass(frozen=True)
class NameAgreement:
    level: Level
    score: float  # 1.0 for same; else Jaro–Winkler of the best pair's forms
    report_form: str  # display forms: tokens in Latin letters, particles dropped
    child_form: str
    tokens: tuple[str, str] | None  # the best (report, child) token pair; None when unknown

    def as_dict(self) -> dict:
        return {
            "level": self.level,
            "score": round(self.score, 3),
            "report_form": self.report_form,
            "child_form": self.child_form,
            "tokens": list(self.tokens) if self.tokens else None,
        }


# ---------------------------------------------------------------------------------------------
# tokens


@dataclass(frozen=True)
class _Token:
    display: str  # Latin letters for people (anyascii of the token)
    key: str  # canonical Latin form; for Arabic tokens the consonant reading
    arabic: str | None  # normalised Arabic spelling, when the token is Arabic script


def _raw_tokens(name: str) -> list[str]:
    text = unicodedata.normalize("NFKC", name).casefold()
    text = "".join("" if ch in _APOSTROPHES else ch for ch in text)
    text = "".join(ch if (ch.isalpha() or unicodedata.category(ch) == "Mn") else " " for ch in text)
    return text.split()


def _ascii_letters(token: str, ukrainian: bool) -> str:
    if ukrainian:
        token = token.replace("г", "h")
    token = token.replace("ş", "sh").replace("ș", "sh")  # Turkish, Azeri, Romanian (anyascii: s)
    return re.sub(r"[^a-z]", "", anyascii(token).lower())


def _tokens(name: str | None) -> list[_Token]:
    """Given-name tokens of a name (particles, placeholders and initials dropped)."""
    if not name or not name.strip():
        return []
    raw = _raw_tokens(name)
    ukrainian = any(ch in _UKRAINIAN for ch in "".join(raw))
    words: list[tuple[bool, str]] = []  # (is_arabic, text)
    for t in raw:
        if any(_is_arabic(ch) for ch in t):
            a = _normalise_arabic(t)
            if a.startswith("عبدال") and len(a) > 5:  # عبدالله written as one word
                words.extend([(True, "عبد"), (True, a[3:])])
            elif a:
                words.append((True, a))
        else:
            s = _ascii_letters(t, ukrainian)
            if s:
                words.append((False, s))
    # join compound heads with the next word (Abdul Rahman, عبد الرحمن, Abu Bakr)
    joined: list[tuple[bool, str]] = []
    i = 0
    while i < len(words):
        is_ar, w = words[i]
        heads = _AR_COMPOUND_HEADS if is_ar else _COMPOUND_HEADS
        if w in heads and i + 1 < len(words) and words[i + 1][0] == is_ar:
            j = i + 1
            if not is_ar and words[j][1] in {"al", "el", "ul", "ar", "ad", "as", "an", "ash", "az"} and j + 1 < len(words) and not words[j + 1][0]:
                j += 1
            joined.append((is_ar, w + ("+" if is_ar else "") + words[j][1]))
            i = j + 1
        else:
            joined.append((is_ar, w))
            i += 1
    out: list[_Token] = []
    for is_ar, w in joined:
        if is_ar:
            if w in _AR_PARTICLES or w in _AR_PLACEHOLDERS or len(w) < 2:
                continue
            reading = latin_key(_ascii_letters(w.replace("+", ""), False)) or w
            out.append(_Token(display=_ascii_letters(w.replace("+", ""), False) or w, key=reading, arabic=w))
        else:
            if w in _PARTICLES or w in _PLACEHOLDERS or len(w) < 2:
                continue
            key = latin_key(w)
            if len(key) < 2:
                continue
            out.append(_Token(display=w, key=key, arabic=None))
    return out


# ---------------------------------------------------------------------------------------------
# canonical Latin form

_RULES: tuple[tuple[str, str], ...] = (
    ("sch", "sh"),
    ("tch", "ch"),
    ("dzh", "j"),
    ("dj", "j"),
    ("zh", "j"),
    ("kh", "h"),
    ("ph", "f"),
    ("ch", "sh"),
    ("ck", "k"),
    ("q", "k"),
    ("x", "ks"),
)
_ALIASES = {"magomet": "muhamet", "magamet": "muhamet"}
_VOWELS = set("aeiou")
_COMPATIBLE = {frozenset("ae"), frozenset("ei"), frozenset("ou")}


def latin_key(s: str) -> str:
    """Canonical Latin form of one ASCII-lowercase token (rules in the module docstring)."""
    for old, new in _RULES:
        s = s.replace(old, new)
    s = re.sub(r"c(?=[eiy])", "s", s).replace("c", "k")
    s = s.replace("w", "v").replace("ou", "u").replace("oo", "u").replace("ee", "i")
    s = s.replace("y", "i")
    if s.startswith("j"):
        s = "i" + s[1:]
    if s.endswith("ah") and len(s) > 3:
        s = s[:-1]
    if s.endswith("ine") and len(s) > 4:
        s = s[:-1]
    s = re.sub(r"(.)\1+", r"\1", s)
    if s.endswith("d"):
        s = s[:-1] + "t"
    if re.fullmatch(r"abd[aeiou]?l[aeiou](?:h[aeiou]?)?", s):  # Abdullah, Abdallah, Abdullahi
        s = "abdala"
    else:
        m = re.match(r"abd(?:[aeiou]l|[aeiou])?(?=[a-z]{2})", s)  # Abdul Rahman = Abdurrahman
        if m:
            s = "abd" + s[m.end() :]
    return _ALIASES.get(s, s)


def _runs(s: str) -> list[str]:
    return re.findall(r"[aeiou]+|[^aeiou]+", s)


def _vowels_compatible(a: str, b: str) -> bool:
    return len(a) == len(b) and all(x == y or frozenset((x, y)) in _COMPATIBLE for x, y in zip(a, b, strict=True))


def _same_latin(a: str, b: str) -> bool:
    if a == b:
        return True
    ra, rb = _runs(a), _runs(b)
    if len(ra) != len(rb):
        return False
    for x, y in zip(ra, rb, strict=False):
        if (x[0] in _VOWELS) != (y[0] in _VOWELS):
            return False
        if x[0] in _VOWELS:
            if not _vowels_compatible(x, y):
                return False
        elif x != y:
            return False
    return True


_SUBST_CLASSES = {frozenset("gh"), frozenset("bp"), frozenset("fv")}


def _one_letter_apart(a: str, b: str) -> bool:
    """One insertion/deletion, or one substitution of vowel for vowel or within a class."""
    if jellyfish.levenshtein_distance(a, b) != 1:
        return False
    if len(a) != len(b):
        return True
    x, y = next((x, y) for x, y in zip(a, b, strict=False) if x != y)
    return (x in _VOWELS and y in _VOWELS) or frozenset((x, y)) in _SUBST_CLASSES


def _gender_clash(a: str, b: str) -> bool:
    fa, fb = a.endswith(("a", "e")), b.endswith(("a", "e"))
    if fa == fb:
        return False
    other = b if fa else a
    return not other.endswith("at")


def _compare_latin(a: str, b: str) -> tuple[Level, float]:
    jw = jellyfish.jaro_winkler_similarity(a, b)
    if _gender_clash(a, b):
        return "different", jw
    if _same_latin(a, b):
        return "same", 1.0
    if _same_latin(a.replace("g", "h"), b.replace("g", "h")):
        return "similar", jw
    shorter = min(len(a), len(b))
    if shorter >= MIN_LEN_ONE_EDIT and _one_letter_apart(a, b):
        return "similar", jw
    if shorter >= MIN_LEN_LONG and jw >= JW_SIMILAR and jellyfish.levenshtein_distance(a, b) <= MAX_EDITS_LONG:
        return "similar", jw
    return "different", jw


# ---------------------------------------------------------------------------------------------
# Arabic script


def _compare_arabic(ar: _Token, other: _Token) -> tuple[Level, float]:
    assert ar.arabic is not None
    if other.arabic is not None:
        if _arabic_plain(ar.arabic.replace("+", "")) == _arabic_plain(other.arabic.replace("+", "")):
            return "same", 1.0
        return "different", jellyfish.jaro_winkler_similarity(ar.key, other.key)
    jw = jellyfish.jaro_winkler_similarity(ar.key, other.key)
    if _arabic_regex(ar.arabic, False).fullmatch(other.key):
        return "same", 1.0
    if _arabic_regex(ar.arabic, True).fullmatch(other.key):
        return "similar", jw
    return "different", jw


# ---------------------------------------------------------------------------------------------
# public


def _compare_tokens(a: _Token, b: _Token) -> tuple[Level, float]:
    if a.arabic is not None:
        return _compare_arabic(a, b)
    if b.arabic is not None:
        return _compare_arabic(b, a)
    return _compare_latin(a.key, b.key)


def compare_names(report_name: str | None, child_name: str | None) -> NameAgreement:
    """How well a report's name and a child's name agree (see the module docstring)."""
    rt, ct = _tokens(report_name), _tokens(child_name)
    report_form = " ".join(t.display for t in rt)
    child_form = " ".join(t.display for t in ct)
    if not rt or not ct:
        return NameAgreement("unknown", 0.0, report_form, child_form, None)
    best: tuple[int, float, _Token, _Token] | None = None
    for a in rt:
        for b in ct:
            level, score = _compare_tokens(a, b)
            key = (name_rank(level), -score)
            if best is None or key < (best[0], -best[1]):
                best = (name_rank(level), score, a, b)
    assert best is not None
    return NameAgreement(LEVELS[best[0]], round(best[1], 4), report_form, child_form, (best[2].display, best[3].display))
