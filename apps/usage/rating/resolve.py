"""Step 1, resolve terms: per event, the contract in force at its timestamp, the approved version that prices the contract at it
(its cohort, grandfathering, price protection),
the rate for its meter, its billing period (clipped to the contract) and its meter cost."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from apps.catalog.selectors import (
    VersionSpec,
    meter_cost_history,
    meters_by_code,
    rate_table_versions_approved,
    version_for_contract_at,
)
from apps.contracts.selectors import ContractTerms, contracts_for_customers
from apps.core.money import ZERO

from .types import EventInput, Resolution, Resolved, RunState, Unrated, _utc_day

if TYPE_CHECKING:
    from apps.catalog.cohorts import ContractFacts


class ResolveStep(RunState):
    contracts: dict[int, list[ContractTerms]]  # per customer, by start
    versions: dict[int, list[VersionSpec]]  # approved, per rate table, by effective_from
    costs: dict[int, list[tuple[datetime, Decimal]]]  # per meter, by effective_from
    count_meters: set[int]
    _periods: dict[tuple[int, date], tuple[datetime, datetime]]  # (contract, UTC day) -> its billing period
    # per contract: the instants where its version choice can change, its versions and facts, and the choice
    # made in each interval between those instants (see _version_at)
    _choices: dict[int, tuple[list[datetime], list[VersionSpec], ContractFacts, dict[int, VersionSpec | None]]]

    def _load_context(self, customer_ids: Iterable[int], meter_ids: Iterable[int]) -> None:
        self.contracts = contracts_for_customers(customer_ids=customer_ids)
        table_ids = {c.rate_table_id for terms in self.contracts.values() for c in terms}
        self.versions = rate_table_versions_approved(rate_table_ids=table_ids) if table_ids else {}
        self.costs = meter_cost_history(meter_ids=meter_ids)
        self.count_meters = {m.id for m in meters_by_code().values() if m.aggregation == "count"}
        self._choices = {}

    def _contract_at(self, customer_id: int, at: datetime) -> ContractTerms | None:
        found = None
        for terms in self.contracts.get(customer_id, ()):
            if terms.in_force_at(at):
                found = terms  # the latest starting one wins, like contract_in_force
        return found

    def _cost_at(self, meter_id: int, at: datetime) -> Decimal:
        cost = ZERO
        for effective_from, per_unit in self.costs.get(meter_id, ()):
            if effective_from > at:
                break
            cost = per_unit
        return cost

    def _version_at(self, contract: ContractTerms, at: datetime) -> VersionSpec | None:
        """version_for_contract_at, chosen once per interval between the instants where the choice can change.

        The choice compares `at` only with the versions' effective instants and grandfathering ends and with the
        contract's price protection end, always as `at >= instant` (or its negation). So two instants with the
        same count of those instants at or before them (bisect_right) get the same choice."""
        known = self._choices.get(contract.id)
        if known is None:
            versions = self.versions.get(contract.rate_table_id, [])
            changes = {v.effective_from for v in versions}
            changes.update(v.grandfather_until for v in versions if v.grandfather_until is not None)
            if contract.protected_until is not None:
                changes.add(contract.protected_until)
            known = self._choices[contract.id] = (sorted(changes), versions, contract.facts, {})
        instants, versions, facts, chosen = known
        interval = bisect_right(instants, at)
        if interval in chosen:
            return chosen[interval]
        version = chosen[interval] = version_for_contract_at(versions, facts, at)
        return version

    def _resolve(self, event: EventInput) -> Resolution:
        contract = self._contract_at(event.customer_id, event.timestamp)
        if contract is None:
            return Unrated("no contract in force at the event's timestamp")
        # cohorts, grandfathering and price protection: the one choice (apps.catalog.cohorts)
        version = self._version_at(contract, event.timestamp)
        if version is None:
            return Unrated("no approved rate table version in force at the event's timestamp")
        rate = version.rates.get(event.meter_id)
        if rate is None:
            return Unrated(f"the meter has no rate in {contract.rate_table_code or 'the rate table'} v{version.number}")
        # Periods start at midnight UTC, so a contract's period is a function of the UTC day: computed once a day.
        day_key = (contract.id, _utc_day(event.timestamp))
        period = self._periods.get(day_key)
        if period is None:
            period = self._periods[day_key] = contract.billing_period(event.timestamp)
        if not period[0] <= event.timestamp < period[1]:  # a contract starting or ending within that day
            period = contract.billing_period(event.timestamp)
        start, end = period
        quantity = Decimal(1) if event.meter_id in self.count_meters else event.quantity
        return Resolved(
            event=event,
            contract=contract,
            version=version,
            rate=rate,
            period=(start, end),
            cost_per_unit=self._cost_at(event.meter_id, event.timestamp),
            quantity=quantity,
        )
