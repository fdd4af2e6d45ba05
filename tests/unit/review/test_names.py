"""Name agreement across Arabic, Cyrillic and Latin scripts (matcher.review.names)."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.review.names import LEVELS, NameAgreement, compare_names, name_rank

KNOWN = "KNOWN LIMIT"  # rows whose expectation is right but the algorithm gets wrong (xfail, strict)

# (report name, child name, expected level, note)
TABLE: list[tuple[str | None, str | None, str, str]] = [
    # --- true variants: one name written in two scripts or spellings -------------------------
    ("Билал", "بلال", "same", "Cyrillic vs Arabic skeleton"),
    ("Bilal", "Bilel", "same", "Tunisian e for long a"),
    ("Bilal", "بلال", "same", "Latin vs Arabic"),
    ("Билал", "Bilal", "same", "Cyrillic vs Latin"),
    ("Bilal Hassan", "بلال", "same", "full name vs given name"),
    ("Bilal Hassan", "Bilel", "same", "full name vs given-name variant"),
    ("Mohammed", "Muhammad", "same", "o~u, e~a, doubled letters"),
    ("Мухаммад", "محمد", "same", "Russian kh for Arabic h"),
    ("Mukhammad", "Mohamed", "same", "kh -> h"),
    ("Магомед", "محمد", "same", "Dagestani/Chechen form (alias)"),
    ("Mehmet", "محمد", "same", "Turkish form, final devoicing"),
    ("Aisha", "Ayesha", "similar", "extra vowel: one letter apart"),
    ("Aïcha", "عائشة", "same", "French ch for sh, diaeresis"),
    ("Аиша", "Aisha", "same", "Cyrillic vs Latin"),
    ("Айша", "عائشة", "same", "Cyrillic vs Arabic"),
    ("Ayşe", "Aisha", "same", "Turkish ş and final -e"),
    ("Yusuf", "Youssef", "similar", "u vs e in the second vowel"),
    ("Юсуф", "يوسف", "same", "Cyrillic vs Arabic"),
    ("Youssef", "يوسف", "same", "French ou, doubled s"),
    ("Omar", "Umar", "same", "o~u"),
    ("Омар", "عمر", "same", "ain carries the first vowel"),
    ("Ömer", "Omar", "same", "Turkish form"),
    ("Fatima", "Fatimah", "same", "final -ah"),
    ("Фатима", "فاطمة", "same", "ta marbuta"),
    ("Fatma", "فاطمة", "same", "short vowel dropped (Turkish)"),
    ("Ahmad", "Ahmed", "same", "a~e"),
    ("Ахмед", "أحمد", "same", "hamza seat"),
    ("Khadija", "خديجة", "same", "Latin vs Arabic"),
    ("Хадижат", "خديجة", "same", "Caucasian -at for ta marbuta"),
    ("Khadija", "Хадижат", "similar", "Caucasian -at form vs -a (decided: similar)"),
    ("Olexandr", "Oleksandr", "same", "x = ks"),
    ("Олександр", "Oleksandr", "same", "Ukrainian Cyrillic vs Latin"),
    ("Олександр", "Александр", "similar", "Ukrainian vs Russian form: one vowel apart"),
    ("Andriy", "Андрій", "same", "Ukrainian"),
    ("Serhii", "Сергій", "same", "Ukrainian г = h"),
    ("Юлія", "Yulia", "same", "iya = ia"),
    ("Julia", "Юлия", "same", "initial j = y"),
    ("Ганна Іванівна", "Hanna", "same", "Ukrainian name: г = h"),
    ("Ганна", "Hanna", "similar", "г alone could be Russian g: g~h"),
    ("Ibrahim", "Ибрагим", "similar", "Russian г for Arabic h"),
    ("Гасан", "حسن", "similar", "Russian г for Arabic h"),
    ("Abdul Rahman", "عبد الرحمن", "same", "compound with article"),
    ("Abdurrahman", "Abd al-Rahman", "same", "assimilated article"),
    ("Abdullah", "عبدالله", "same", "Abd Allah written as one word"),
    ("Абдулла", "Abdallah", "same", "Abdulla = Abdallah"),
    ("Rachid", "رشيد", "same", "French ch"),
    ("Chamil", "Шамиль", "same", "French ch, soft sign"),
    ("Khalid", "خالد", "same", "Latin vs Arabic"),
    ("Халид", "Khaled", "same", "i~e"),
    ("Yahya", "يحيى", "same", "alef maqsura"),
    ("Layla", "ليلى", "same", "y for ya"),
    ("Mustafa", "مصطفى", "same", "emphatic s and t"),
    ("Hussein", "حسين", "same", "ei for ya"),
    ("Hasan", "Хасан", "same", "Russian kh for h"),
    ("al-Hassan", "حسن", "same", "article dropped"),
    ("Ayoub", "أيوب", "same", "hamza seat, French ou"),
    ("Nataliya", "Наталья", "same", "soft sign, iya"),
    ("Jamila", "جميلة", "same", "ta marbuta"),
    ("Walid", "Валид", "same", "w = v"),
    ("Ali", "Али ибн Мухаммад", "same", "ibn chain: any given-name token"),
    ("Yasmin", "Yasmina", "similar", f"{KNOWN}: the gender-ending guard treats -a as another name"),
    ("Mykola", "Николай", "similar", f"{KNOWN}: Ukrainian/Russian cognates, not a transliteration"),
    # --- near misses: different names ---------------------------------------------------------
    ("Ali", "Alia", "different", "feminine ending"),
    ("علي", "Alia", "different", "feminine ending vs Arabic"),
    ("Amin", "Amina", "different", "feminine ending"),
    ("أمين", "Amina", "different", "feminine ending vs Arabic"),
    ("Omar", "Amir", "different", "same consonants, other vowels"),
    ("Yusuf", "Yunus", "different", "other consonant"),
    ("يوسف", "Yunus", "different", "other consonant vs Arabic"),
    ("Said", "Saad", "different", "long i vs ain (decided: different)"),
    ("سعد", "Said", "different", "Arabic has no ya"),
    ("Hassan", "Hussein", "different", "other vowels (decided: different)"),
    ("حسن", "Hussein", "different", "Arabic has no ya"),
    ("Maria", "Mario", "different", "feminine ending"),
    ("Ivan", "Iwona", "different", "feminine ending"),
    ("Іван", "Iwona", "different", "Ukrainian vs Polish"),
    ("Samir", "Samira", "different", "feminine ending"),
    ("Samir", "سميرة", "different", "feminine ending vs Arabic"),
    ("Jamal", "Kamal", "different", "other first consonant"),
    ("Ammar", "Omar", "different", "short name, other vowel"),
    ("Dina", "Diana", "different", "short name, extra vowel"),
    ("Sara", "Zara", "different", "short name, other consonant"),
    ("Abdulrahman", "Abdulrahim", "different", "other second part"),
    ("عبد الرحمن", "عبد الرحيم", "different", "other second part, both Arabic"),
    ("Rustam", "Ruslan", "different", "two letters apart"),
    ("Mahmoud", "Muhammad", "different", "other vowels, Latin"),
    ("Salih", "Salim", "different", "other final consonant"),
    ("Nadia", "Nadir", "different", "feminine ending"),
    ("Zaid", "Said", "different", "short name, other consonant"),
    ("Mahmoud", "محمد", "different", f"{KNOWN}: unwritten short vowels let Mahmud fit m-h-m-d"),
    ("Amir", "عمر", "different", f"{KNOWN}: unwritten short vowels let Amir fit ain-m-r"),
    ("Lina", "Lena", "different", f"{KNOWN}: e~i are one class (kasra is written both ways)"),
    # --- unknown: no evidence ------------------------------------------------------------------
    (None, "Bilal", "unknown", "missing report name"),
    ("", "بلال", "unknown", "blank"),
    ("?", "Ali", "unknown", "punctuation only"),
    ("M.", "Mohammed", "unknown", "initial only"),
    ("unknown boy", "Ali", "unknown", "placeholder"),
    ("Неизвестный", "Ali", "unknown", "Russian placeholder"),
    ("مجهول", "Ali", "unknown", "Arabic placeholder"),
    ("Bilal", "   ", "unknown", "blank child name"),
]


def _params():
    for report, child, expected, note in TABLE:
        marks = [pytest.mark.xfail(strict=True, reason=note)] if note.startswith(KNOWN) else []
        yield pytest.param(report, child, expected, id=note, marks=marks)


@pytest.mark.parametrize(("report", "child", "expected"), list(_params()))
def test_name_agreement_table(report, child, expected):
    assert compare_names(report, child).level == expected


def test_table_covers_scripts_and_near_misses():
    assert len(TABLE) >= 40
    text = " ".join(f"{r or ''} {c or ''}" for r, c, _, _ in TABLE)
    assert any("\u0600" <= ch <= "\u06ff" for ch in text)  # Arabic
    assert any("\u0400" <= ch <= "\u04ff" for ch in text)  # Cyrillic
    assert any(ch in "іїєґ" for ch in text)  # Ukrainian
    assert any(ch in "ïşö" for ch in text)  # Latin with diacritics
    assert sum(e == "different" for _, _, e, _ in TABLE) >= 15


def test_precision_and_recall_of_agreement_over_table():
    agrees = {"same", "similar"}
    tp = fp = fn = tn = 0
    exact = 0
    rows = [row for row in TABLE if row[2] != "unknown"]
    for report, child, expected, _ in rows:
        got = compare_names(report, child).level
        exact += got == expected
        if expected in agrees:
            tp += got in agrees
            fn += got not in agrees
        else:
            fp += got in agrees
            tn += got not in agrees
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    print(
        json.dumps(
            {
                "rows": len(TABLE),
                "scored_rows": len(rows),
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "tn": tn,
                "precision": round(precision, 3),
                "recall": round(recall, 3),
                "exact_level": round(exact / len(rows), 3),
            }
        )
    )
    # Measured on this table: the known-limit rows above are the only errors.
    assert precision >= 0.95
    assert recall >= 0.95


@pytest.mark.parametrize(("report", "child", "_expected", "_note"), TABLE)
def test_level_is_symmetric(report, child, _expected, _note):
    assert compare_names(report, child).level == compare_names(child, report).level


def test_compare_names_never_logs(caplog):
    caplog.set_level(logging.DEBUG)
    for report, child, _, _ in TABLE:
        compare_names(report, child)
    assert caplog.records == []


def test_rank_orders_missing_between_similar_and_different():
    assert [name_rank(level) for level in ("same", "similar", "unknown", "different")] == [0, 1, 2, 3]
    assert sorted(LEVELS, key=name_rank) == ["same", "similar", "unknown", "different"]


def test_result_is_frozen_and_serialisable():
    r = compare_names("Bilal Hassan", "بلال")
    assert isinstance(r, NameAgreement)
    d = r.as_dict()
    assert d["level"] == "same" and d["score"] == 1.0
    assert d["tokens"] == ["bilal", "bll"]
    assert d["report_form"] == "bilal hassan"
    json.dumps(d)
    with pytest.raises(AttributeError):
        r.level = "different"  # type: ignore[misc]


def test_unknown_has_no_tokens():
    r = compare_names(None, "Ali")
    assert r.level == "unknown" and r.tokens is None and r.score == 0.0


_ALPHABET = "abcdeijklmnosuyz -.'ïşöабвгджиклмнорсухцшьяіїєґابتجحخدرسشعغقلمنهويةىءأإئ"


@given(st.text(alphabet=_ALPHABET, max_size=20), st.text(alphabet=_ALPHABET, max_size=20))
@settings(max_examples=300, deadline=None)
def test_any_input_gives_a_symmetric_level(report, child):
    a, b = compare_names(report, child), compare_names(child, report)
    assert a.level in LEVELS and a.level == b.level
    assert 0.0 <= a.score <= 1.0
