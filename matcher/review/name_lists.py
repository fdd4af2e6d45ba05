"""Word lists for ``review.names`` (data): particles that are not given names, placeholders
that mean "no name", compound-name heads, and the characters read as apostrophes."""

from __future__ import annotations

APOSTROPHES = "'’ʼʻ`´ʹ\u02bf\u02be"
UKRAINIAN = set("іїєґ")

PARTICLES = {
    "bin",
    "ibn",
    "bint",
    "binti",
    "ben",
    "al",
    "el",
    "ul",
    "ould",
    "von",
    "van",
    "der",
    "de",
    "da",
    "di",
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "sheikh",
    "shaikh",
    "haji",
    "hajji",
}
PLACEHOLDERS = {
    "unknown",
    "unkown",
    "unnamed",
    "noname",
    "none",
    "na",
    "nn",
    "xx",
    "xxx",
    "anonymous",
    "name",
    "boy",
    "girl",
    "baby",
    "child",
    "neizvestno",
    "neizvestnyi",
    "neizvestnyy",
    "neizvestnaia",
    "neizvestnaya",
    "nevidomo",
    "nevidomii",
    "nevidomiy",
    "nevidomyi",
    "nevidomyy",
    "bezymiannyi",
}
COMPOUND_HEADS = {"abd", "abdul", "abdel", "abdal", "abdol", "abdu", "abdoul", "abdur", "abu", "abou"}
AR_PARTICLES = {"بن", "ابن", "بنت", "ال"}
AR_PLACEHOLDERS = {"مجهول", "مجهوله", "غير", "معروف"}
AR_COMPOUND_HEADS = {"عبد", "ابو"}
