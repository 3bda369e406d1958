"""The one choice of the version pricing a contract at an instant: cohorts, grandfathering, price protection (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from apps.catalog.cohorts import Cohort, ContractFacts, Rule, version_for_contract

JAN, MAR, JUN, SEP = (datetime(2026, m, 1, tzinfo=UTC) for m in (1, 3, 6, 9))


@dataclass(frozen=True)
class V:
    id: int
    number: int
    effective_from: datetime
    cohort: str = Cohort.ALL
    cohort_customers: frozenset[str] = frozenset()
    cohort_segments: frozenset[str] = frozenset()
    grandfather_until: datetime | None = None


def facts(starts_at=JAN, customer="acme", segment="smb", **kw) -> ContractFacts:
    return ContractFacts(customer=customer, segment=segment, starts_at=starts_at, **kw)


OLD = V(1, 1, JAN)


def pick(versions, contract, at):
    choice = version_for_contract(versions, contract, at)
    return (choice.version.number, choice.rule) if choice else None


def test_all_contracts_is_the_latest_effective_version():
    new = V(2, 2, MAR)
    assert pick([OLD, new], facts(), JAN) == (1, Rule.IN_FORCE)
    assert pick([OLD, new], facts(), MAR) == (2, Rule.IN_FORCE)  # exact at the boundary
    assert pick([OLD, new], facts(), datetime(2025, 1, 1, tzinfo=UTC)) is None


def test_new_contracts_only_grandfathers_existing_contracts_and_prices_new_ones():
    new = V(2, 2, MAR, cohort=Cohort.NEW_CONTRACTS)
    existing, fresh = facts(starts_at=JAN), facts(starts_at=JUN, customer="newco")
    choice = version_for_contract([OLD, new], existing, JUN)
    assert (choice.version.number, choice.rule) == (1, Rule.GRANDFATHERED)
    assert "v2" in choice.explanation and "2026-03-01" in choice.explanation
    assert pick([OLD, new], fresh, JUN) == (2, Rule.NEW_CONTRACT)
    # a contract starting exactly at the effective instant is new; a renewal (a new contract) is new too
    assert pick([OLD, new], facts(starts_at=MAR), MAR) == (2, Rule.NEW_CONTRACT)


def test_grandfathering_ends_at_its_date():
    new = V(2, 2, MAR, cohort=Cohort.NEW_CONTRACTS, grandfather_until=SEP)
    assert pick([OLD, new], facts(), datetime(2026, 8, 31, 23, 59, tzinfo=UTC)) == (1, Rule.GRANDFATHERED)
    assert pick([OLD, new], facts(), SEP) == (2, Rule.GRANDFATHERING_ENDED)


def test_chosen_customers_and_segments():
    new = V(2, 2, MAR, cohort=Cohort.CHOSEN, cohort_customers=frozenset({"acme"}), cohort_segments={"enterprise"})
    assert pick([OLD, new], facts(customer="acme"), JUN) == (2, Rule.CHOSEN_CUSTOMER)
    assert pick([OLD, new], facts(customer="big", segment="enterprise"), JUN) == (2, Rule.CHOSEN_SEGMENT)
    assert pick([OLD, new], facts(customer="other"), JUN) == (1, Rule.GRANDFATHERED)
    assert pick([OLD, new], facts(customer="other", starts_at=JUN), JUN) == (2, Rule.NEW_CONTRACT)


def test_grandfathered_contract_walks_back_to_the_newest_version_whose_cohort_includes_it():
    v2 = V(2, 2, MAR)
    v3 = V(3, 3, JUN, cohort=Cohort.NEW_CONTRACTS)
    v4 = V(4, 4, SEP, cohort=Cohort.CHOSEN, cohort_segments=frozenset({"enterprise"}))
    at = datetime(2026, 10, 1, tzinfo=UTC)
    assert pick([OLD, v2, v3, v4], facts(), at) == (2, Rule.GRANDFATHERED)
    assert pick([OLD, v2, v3, v4], facts(starts_at=JUN), at) == (3, Rule.GRANDFATHERED)
    assert pick([OLD, v2, v3, v4], facts(segment="enterprise"), at) == (4, Rule.CHOSEN_SEGMENT)


def test_the_oldest_version_prices_a_contract_outside_its_cohort_when_there_is_nothing_older():
    only = V(1, 1, MAR, cohort=Cohort.NEW_CONTRACTS)
    assert pick([only], facts(starts_at=JAN), JUN) == (1, Rule.OLDEST)


def test_price_protection_wins_until_its_date_then_the_cohort_rules_apply():
    new = V(2, 2, MAR)
    protected = facts(protected_version_id=OLD.id, protected_until=SEP)
    choice = version_for_contract([OLD, new], protected, JUN)
    assert (choice.version.number, choice.rule) == (1, Rule.PROTECTED)
    assert "until 2026-09-01" in choice.explanation
    assert pick([OLD, new], protected, SEP) == (2, Rule.IN_FORCE)


def test_protection_by_a_version_not_yet_in_force_or_unknown_does_not_apply():
    new = V(2, 2, JUN)
    assert pick([OLD, new], facts(protected_version_id=new.id, protected_until=SEP), MAR) == (1, Rule.IN_FORCE)
    assert pick([OLD, new], facts(protected_version_id=99, protected_until=SEP), JUN) == (2, Rule.IN_FORCE)
