"""Queue load at archive scale (issue 17): 1,200 distinct children and 200 reports of other
people, embeddings drawn to match the default pack's impostor distribution. Nobody is anyone
else, so every duplicate lead is false: the open-set gate must keep them to a handful, and
every report's list must stay within the shortlist size."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from matcher.container import Services
from matcher.evaluation.synthetic import impostor_vectors, index_records, store_records
from matcher.store.tables import Candidate, Record
from tests.conftest import make_settings

pytestmark = pytest.mark.slow


def test_thousand_distinct_children_yield_few_false_duplicates_and_bounded_lists(tmp_path, model_cache):
    services = Services(make_settings(tmp_path / "var"))
    info = services.pack_info()
    mean, std = info.impostor_prior
    vectors = impostor_vectors(1400, info.embedding_dim, mean, std, seed=3)
    with services.sessions.begin() as session:
        kids = store_records(session, "child", vectors[:1200], info.name, "C", birth_year=2012)
        reports = store_records(session, "report", vectors[1200:], info.name, "R", birth_year=2012)
    index_records(services, "child", info.name, info.embedding_dim, kids)
    index_records(services, "report", info.name, info.embedding_dim, reports)
    services.match_records([r for r, _, _ in kids + reports])

    with services.sessions() as session:
        cands = session.query(Candidate).all()
        pending = session.query(Record).filter(Record.needs_match.is_(True)).count()
    dups = [c for c in cands if c.kind == "duplicate" and c.status == "open"]
    per_report = Counter(c.report_id for c in cands if c.kind == "match" and c.status == "open")
    strong = sum(1 for c in cands if c.kind == "match" and c.evidence.get("strong"))
    print(
        json.dumps(
            {
                "children": 1200,
                "reports": 200,
                "false_duplicates": len(dups),
                "match_candidates": sum(per_report.values()),
                "largest_list": max(per_report.values()),
                "strong_false_matches": strong,
            }
        )
    )
    assert pending == 0
    assert len(dups) <= 10
    assert len(per_report) == 200 and max(per_report.values()) <= services.settings.shortlist
    assert min(per_report.values()) == services.settings.shortlist  # every report has its full list
    assert strong <= 10  # "strong" is gated on the same open-set rate
