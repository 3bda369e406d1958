"""Which approved version prices a contract at an instant: the one home of that rule (pure: no ORM, no clock).

An approved version applies, from its effective instant, to a cohort:
- ``all``: every contract on the table (the default);
- ``new_contracts``: only contracts that start on or after its effective instant ("new customers first");
- ``chosen``: the chosen customers (by external id) and segments.

A contract that starts on or after a version's effective instant is new to it (a renewal is a new contract), so
every version prices the contracts that start after it. A contract outside a version's cohort stays on the version
it had ("grandfathered") until the version's ``grandfather_until`` instant, if it has one. A contract's price
protection (a named version until an instant) wins over all of this while it lasts.

Callers pass the versions (any objects with the attributes of selectors.VersionSpec, sorted by effective_from) and
the contract's facts as plain values, so rating, re-rating, simulation, statements, "why this charge" and the
per-version counts of the rate table page all pick the same version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class Cohort:
    ALL = "all"
    NEW_CONTRACTS = "new_contracts"
    CHOSEN = "chosen"

    choices = (
        (ALL, "All contracts on the table"),
        (NEW_CONTRACTS, "New contracts only (starting on or after the effective date)"),
        (CHOSEN, "Chosen customers and segments (and new contracts)"),
    )
    values = (ALL, NEW_CONTRACTS, CHOSEN)


class VersionLike(Protocol):
    id: int
    number: int
    effective_from: datetime
    cohort: str
    cohort_customers: frozenset[str]
    cohort_segments: frozenset[str]
    grandfather_until: datetime | None


@dataclass(frozen=True)
class ContractFacts:
    """What the choice needs to know about a contract (plain values: catalog reads no contracts)."""

    customer: str  # external id
    segment: str
    starts_at: datetime
    protected_version_id: int | None = None
    protected_until: datetime | None = None  # exclusive


class Rule:
    PROTECTED = "protected"
    IN_FORCE = "in_force"
    NEW_CONTRACT = "new_contract"
    CHOSEN_CUSTOMER = "chosen_customer"
    CHOSEN_SEGMENT = "chosen_segment"
    GRANDFATHERING_ENDED = "grandfathering_ended"
    GRANDFATHERED = "grandfathered"
    OLDEST = "oldest"


@dataclass(frozen=True)
class VersionChoice:
    version: VersionLike
    rule: str  # a Rule
    explanation: str  # e.g. "grandfathered: the contract started before v3 took effect (2026-11-01)"


def _day(at: datetime) -> str:
    return f"{at:%Y-%m-%d}" if at.hour == at.minute == at.second == 0 else f"{at:%Y-%m-%d %H:%M} UTC"


def _takes(version: VersionLike, contract: ContractFacts, at: datetime) -> tuple[str, str] | None:
    """(rule, explanation) when the version prices the contract at `at` (given it is the newest one to ask)."""
    if version.cohort == Cohort.ALL:
        return (
            Rule.IN_FORCE,
            f"in force: v{version.number} applies to all contracts from {_day(version.effective_from)}",
        )
    if contract.starts_at >= version.effective_from:
        return (
            Rule.NEW_CONTRACT,
            f"new contract: it started on or after v{version.number} took effect ({_day(version.effective_from)})",
        )
    if version.cohort == Cohort.CHOSEN:
        if contract.customer in version.cohort_customers:
            return Rule.CHOSEN_CUSTOMER, f"cohort: v{version.number} applies to chosen customers, this one included"
        if contract.segment in version.cohort_segments:
            return Rule.CHOSEN_SEGMENT, f"cohort: v{version.number} applies to the {contract.segment} segment"
    if version.grandfather_until is not None and at >= version.grandfather_until:
        return (
            Rule.GRANDFATHERING_ENDED,
            f"grandfathering ended: v{version.number} applies to every contract from {_day(version.grandfather_until)}",
        )
    return None


def version_for_contract(
    versions: Sequence[VersionLike], contract: ContractFacts, at: datetime
) -> VersionChoice | None:
    """The approved version that prices `contract` at `at`, and the rule that picked it (None: none in force).

    `versions` are one table's approved versions sorted by effective_from."""
    if contract.protected_version_id is not None and (
        contract.protected_until is None or at < contract.protected_until
    ):
        for version in versions:
            if version.id == contract.protected_version_id and version.effective_from <= at:
                until = f" until {_day(contract.protected_until)}" if contract.protected_until else ""
                return VersionChoice(version, Rule.PROTECTED, f"price protection: v{version.number}{until}")
    skipped: VersionLike | None = None
    for version in reversed(versions):
        if version.effective_from > at:
            continue
        taken = _takes(version, contract, at)
        if taken is None:
            skipped = skipped or version
            continue
        rule, explanation = taken
        if skipped is not None:
            until = f" until {_day(skipped.grandfather_until)}" if skipped.grandfather_until else ""
            return VersionChoice(
                version,
                Rule.GRANDFATHERED,
                f"grandfathered: the contract started before v{skipped.number} took effect "
                f"({_day(skipped.effective_from)}) and is outside its cohort{until}; v{version.number} still prices it",
            )
        return VersionChoice(version, rule, explanation)
    if skipped is not None:  # outside the cohort of the oldest version in force: there is nothing older
        return VersionChoice(
            skipped, Rule.OLDEST, f"in force: v{skipped.number} is the oldest approved version (no earlier one)"
        )
    return None


def cohort_summary(*, cohort: str, customers, segments, grandfather_until: datetime | None) -> str:
    """One line for pages and the review diff, e.g. "new contracts only; others move on 2027-01-01"."""
    if cohort == Cohort.NEW_CONTRACTS:
        text = "new contracts only"
    elif cohort == Cohort.CHOSEN:
        parts = []
        if customers:
            parts.append("customers " + ", ".join(sorted(customers)))
        if segments:
            parts.append("segments " + ", ".join(sorted(segments)))
        text = "chosen: " + ("; ".join(parts) if parts else "nobody yet") + " (and new contracts)"
    else:
        return "all contracts"
    if grandfather_until is not None:
        text += f"; the others move on {_day(grandfather_until)}"
    else:
        text += "; the others stay on their version until they renew"
    return text
