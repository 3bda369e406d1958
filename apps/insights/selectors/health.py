"""Account health: included-usage progress, balance and runway of many customers in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from django.utils import timezone

from apps.contracts.selectors import contracts_in_force
from apps.core.money import ZERO
from apps.usage.selectors import rollup_days_since
from apps.wallets.selectors import RunwayView, wallet_runways

from .common import MeterInfo, meter_infos, utc_today
from .customer import Allowance, allowance_rows

Runway = RunwayView  # balance, burn per day, when it runs out (wallets.selectors.wallet_runways)


# --- account health (many customers, bounded queries) ---------------------------------------------------------


@dataclass(frozen=True)
class AccountHealth:
    customer_id: int
    external_id: str
    name: str
    billing_model: str
    top_allowance: Allowance | None  # the meter closest to (or furthest over) its allowance
    allowances: list[Allowance]
    balance: Decimal | None
    runway_days: Decimal | None
    runs_out_on: date | None
    burn_per_day: Decimal

    @property
    def has_wallet(self) -> bool:
        return self.balance is not None


def accounts_health(
    *, customers: list, now: datetime | None = None, meters: dict[int, MeterInfo] | None = None
) -> list[AccountHealth]:
    """Included-usage progress, balance and runway of many customers (a fixed number of queries).
    `customers` are objects with pk, external_id and name."""
    now = now or timezone.now()
    ids = [c.pk for c in customers]
    if not ids:
        return []
    meters = meters or meter_infos()
    terms = contracts_in_force(customer_ids=ids, at=now)
    today = utc_today(now)
    starts = {}
    for cid, t in terms.items():
        if t.allowances:
            start, _end = t.billing_period(now)
            starts[cid] = start.astimezone(UTC).date()
    days = rollup_days_since(starts=starts, until=today)
    runways = wallet_runways(customer_ids=ids, now=now)
    result = []
    for c in customers:
        t = terms.get(c.pk)
        rows = (
            allowance_rows(t.allowances, t.alert_thresholds, days.get(c.pk, []), meters) if t and t.allowances else []
        )
        runway = runways.get(c.pk)
        result.append(
            AccountHealth(
                customer_id=c.pk,
                external_id=c.external_id,
                name=c.name,
                billing_model=t.billing_model if t else "",
                top_allowance=rows[0] if rows else None,
                allowances=rows,
                balance=runway.balance if runway else None,
                runway_days=runway.days_left if runway else None,
                runs_out_on=runway.runs_out_at.date() if runway and runway.runs_out_at else None,
                burn_per_day=runway.burn_per_day if runway else ZERO,
            )
        )
    return result
