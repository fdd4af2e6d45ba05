"""Peer policies: what a peer may do, validated; the facts a query carries, closed."""

from __future__ import annotations

import pytest

from matcher.errors import FederationPayloadError, PeerForbidden, PeerPolicyError
from matcher.federation.policy import PeerPolicy, QueryFacts
from matcher.types import QueryFact, SearchMode, Side


def test_default_policy_searches_nothing_encrypted_only_no_disclosure():
    policy = PeerPolicy()
    assert policy.sides == frozenset() and policy.facts == frozenset()
    assert policy.modes == {SearchMode.ENCRYPTED} and policy.disclosure is False
    with pytest.raises(PeerForbidden, match="may not search our children"):
        policy.admit(Side.CHILD, SearchMode.ENCRYPTED, QueryFacts(), 1)


def test_policy_from_an_admins_mapping_round_trips():
    data = {
        "sides": ["children"],
        "facts": ["sex", "birth_year_range"],
        "queries_per_hour": 30,
        "disclosure": True,
        "modes": ["encrypted", "plain"],
        "max_faces": 4,
    }
    policy = PeerPolicy.from_mapping(data)
    assert policy.sides == {Side.CHILD} and policy.facts == set(QueryFact) and policy.modes == set(SearchMode)
    assert PeerPolicy.from_mapping(policy.to_mapping()) == policy
    assert policy.to_mapping() == data | {"facts": ["birth_year_range", "sex"]}


@pytest.mark.parametrize("fact", ["name", "names", "contact", "place", "Places"])
def test_names_contacts_and_places_can_never_be_configured_to_travel(fact):
    with pytest.raises(PeerPolicyError, match="never travel") as info:
        PeerPolicy.from_mapping({"facts": [fact]})
    assert info.value.field == "facts"
    with pytest.raises(PeerPolicyError, match="never travel"):
        PeerPolicy(facts=frozenset({fact}))


def test_a_policy_field_for_names_is_refused_rather_than_ignored():
    with pytest.raises(PeerPolicyError, match="never travel"):
        PeerPolicy.from_mapping({"sides": ["children"], "names": True})
    with pytest.raises(PeerPolicyError, match="unknown peer policy field 'rate'"):
        PeerPolicy.from_mapping({"rate": 5})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"sides": ["adults"]}, "sides"),
        ({"sides": "children"}, "sides"),
        ({"facts": ["age"]}, "facts"),
        ({"modes": ["fast"]}, "modes"),
        ({"modes": []}, "modes"),
        ({"queries_per_hour": 0}, "queries_per_hour"),
        ({"queries_per_hour": 10**6}, "queries_per_hour"),
        ({"queries_per_hour": "60"}, "queries_per_hour"),
        ({"max_faces": 33}, "max_faces"),
        ({"max_faces": True}, "max_faces"),
        ({"disclosure": "yes"}, "disclosure"),
    ],
)
def test_invalid_policies_are_refused_naming_the_field(data, field):
    with pytest.raises(PeerPolicyError) as info:
        PeerPolicy.from_mapping(data)
    assert info.value.field == field and info.value.status == 422


def test_admit_checks_side_mode_facts_and_faces():
    policy = PeerPolicy(sides=frozenset({Side.CHILD}), facts=frozenset({QueryFact.SEX}), max_faces=3)
    policy.admit(Side.CHILD, SearchMode.ENCRYPTED, QueryFacts(sex="female"), 3)
    with pytest.raises(PeerForbidden, match="reports"):
        policy.admit(Side.REPORT, SearchMode.ENCRYPTED, QueryFacts(), 1)
    with pytest.raises(PeerForbidden, match="plain search"):
        policy.admit(Side.CHILD, SearchMode.PLAIN, QueryFacts(), 1)
    with pytest.raises(PeerForbidden, match="birth_year_range"):
        policy.admit(Side.CHILD, SearchMode.ENCRYPTED, QueryFacts(2010, 2012), 1)
    with pytest.raises(PeerForbidden, match="1 to 3 template faces"):
        policy.admit(Side.CHILD, SearchMode.ENCRYPTED, QueryFacts(), 4)
    assert PeerForbidden.status == 403


def test_query_facts_hold_only_a_birth_year_range_and_sex():
    facts = QueryFacts.from_mapping({"birth_year_range": [2012, 2014], "sex": "male"})
    assert facts.present == set(QueryFact) and QueryFacts.from_mapping(facts.to_mapping()) == facts
    assert QueryFacts().to_mapping() == {} and QueryFacts().present == frozenset()
    for bad in ({"name": "Amal"}, {"place_last_seen": "X"}, {"contact": "+1"}):
        with pytest.raises(FederationPayloadError, match="never travel"):
            QueryFacts.from_mapping(bad)


@pytest.mark.parametrize(
    "kwargs",
    [{"birth_year_min": 2010}, {"birth_year_min": 2014, "birth_year_max": 2012}, {"birth_year_min": 1800, "birth_year_max": 1810}, {"sex": "unknown"}],
)
def test_query_facts_out_of_range_are_refused(kwargs):
    with pytest.raises(FederationPayloadError):
        QueryFacts(**kwargs)
