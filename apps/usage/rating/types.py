"""The values passed between the rating steps (no ORM queries here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from apps.core.money import ZERO

from . import pricing

if TYPE_CHECKING:
    from apps.catalog.pricing import RateSpec
    from apps.catalog.selectors import VersionSpec
    from apps.contracts.selectors import ContractTerms
    from apps.core.actors import Actor

    from ..models import RatedUsage, RatingBatch, RatingCursor

ATTRIBUTION_KEYS = ("user", "agent", "team")


@dataclass
class EventInput:
    """An event to rate (new) or re-rate (`current` is its current record)."""

    pk: int
    customer_id: int
    meter_id: int
    quantity: Decimal  # as reported
    timestamp: datetime
    ref: str
    attributes: dict
    current: RatedUsage | None = None

    @property
    def key(self) -> tuple[datetime, str]:
        return (self.timestamp, self.ref)


@dataclass(slots=True)
class Resolved:
    """An event with the terms it is rated under: the contract and approved version in force at its timestamp,
    the rate for its meter, its billing period (clipped to the contract) and its meter cost per unit."""

    event: EventInput
    contract: ContractTerms
    version: VersionSpec
    rate: RateSpec
    period: tuple[datetime, datetime]
    cost_per_unit: Decimal
    quantity: Decimal  # billable (1 per event on a count meter)

    def priced_as(self, priced: pricing.Priced) -> Charge:
        return Charge(
            self.event, self.contract, self.version, self.rate, self.period, self.cost_per_unit, self.quantity, priced
        )


@dataclass(slots=True)
class Charge(Resolved):
    """A resolved event priced at its position in the period (what settlement takes)."""

    priced: pricing.Priced


@dataclass(frozen=True, slots=True)
class Unrated:
    """An event that cannot be rated, and why (the reason is stored on the event)."""

    reason: str


Resolution = Resolved | Unrated


@dataclass
class _Priced:
    """A customer's run priced (no queries yet): the new items in rating order, the records they supersede, the
    records kept with a new position; what each new item charges and the items drawing credits per period
    (DrawStep._settles_alone fills these)."""

    customer_id: int
    new_items: list[Charge]
    superseded: list[RatedUsage]
    kept_priors: list[RatedUsage]
    needs: list[Decimal] = field(default_factory=list)
    by_period: dict[datetime, list[int]] = field(default_factory=dict)


@dataclass
class _Work:
    """What rating one customer produced, written for all customers at the end of the run."""

    customer_id: int
    new_items: list[Charge]
    rows: list[RatedRow]  # one per new item, same order
    superseded: list[RatedUsage]
    kept_priors: list[RatedUsage]
    cursors: list[RatingCursor]


@dataclass
class RunResult:
    written: int = 0
    superseded: int = 0
    errors: int = 0
    customers: int = 0
    totals_before: dict = field(default_factory=dict)
    totals_after: dict = field(default_factory=dict)
    ledger_entries: list = field(default_factory=list)
    changed: set = field(default_factory=set)  # customers with records written or superseded
    # Customers to whose wallet this run gave credits back (superseded draws, volume true-ups): credits that may
    # now pay for their usage left over the limit (services: usage over the limit is settled again).
    gave_back: set = field(default_factory=set)

    def merge(self, other: RunResult) -> None:
        self.changed |= other.changed
        self.gave_back |= other.gave_back
        self.written += other.written
        self.superseded += other.superseded
        self.errors += other.errors
        self.customers += other.customers
        for mine, theirs in ((self.totals_before, other.totals_before), (self.totals_after, other.totals_after)):
            for name, value in theirs.items():
                mine[name] = mine.get(name, ZERO) + value
        self.ledger_entries.extend(other.ledger_entries)


TOTAL_FIELDS = ("quantity", "amount", "credits_drawn", "overage_amount", "revenue", "cost")
# What re-pricing a suffix reads of the current records (and what superseding one needs).
SUFFIX_FIELDS = (
    "id",
    "event_id",
    "customer_id",
    "meter_id",
    "timestamp",
    "day",
    "event_ref",
    "contract_id",
    "period_start",
    "rate_version_id",
    "quantity",
    "prior_quantity",
    "amount",
    "included_quantity",
    "unit_price",
    "tier",
    "override_kind",
    "override_value",
    "billing_model",
    "enforcement",
    "credit_price",
    "cost",
    "credits_drawn",
    "ledger_entry_id",
    "allocations",
    "overage_units",
    "overage_amount",
    "revenue",
    "attr_user",
    "attr_agent",
    "attr_team",
    "over_limit",
)


# Every figure a record or cursor stores is a numeric(30, 12): below 10^18. An event whose figures would not fit
# (a huge quantity at a high rate, or a period's cumulative quantity) is marked `error`, not rated, and never


def _attr(attributes: dict, name: str) -> str:
    value = attributes.get(name) if isinstance(attributes, dict) else None
    if type(value) is str:
        return value[:120]
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)[:120]


def _attrs(attributes: dict) -> tuple[str, str, str]:
    """(_attr user, agent, team): the usual attributes (short strings, or absent) without a call each."""
    if type(attributes) is not dict:
        return _attr(attributes, "user"), _attr(attributes, "agent"), _attr(attributes, "team")
    user, agent, team = attributes.get("user"), attributes.get("agent"), attributes.get("team")
    if (
        (user is None or (type(user) is str and len(user) <= 120))
        and (agent is None or (type(agent) is str and len(agent) <= 120))
        and (team is None or (type(team) is str and len(team) <= 120))
    ):
        return user or "", agent or "", team or ""
    return _attr(attributes, "user"), _attr(attributes, "agent"), _attr(attributes, "team")


def _utc_day(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


@dataclass(frozen=True)
class _Part:
    """A record's share of one ledger movement: credits drawn from a grant by a debit (negative: given back by a
    true-up), with the revenue they carried."""

    entry_id: int
    grant_id: int
    credits: Decimal
    revenue: Decimal
    kind: str
    price_per_credit: Decimal

    def as_dict(self) -> dict:
        return {
            "entry_id": self.entry_id,
            "grant_id": self.grant_id,
            "credits": str(self.credits),
            "revenue": str(self.revenue),
            "kind": self.kind,
            "price_per_credit": str(self.price_per_credit),
        }


def _parts(record: RatedUsage) -> list[_Part]:
    """A stored record's allocations (records written before entry ids were kept use the record's debit)."""
    return [
        _Part(
            int(a.get("entry_id") or record.ledger_entry_id or 0),
            int(a["grant_id"]),
            Decimal(a["credits"]),
            Decimal(a["revenue"]),
            a.get("kind", ""),
            Decimal(a.get("price_per_credit", "0")),
        )
        for a in (record.allocations or [])
        if Decimal(a["credits"]) != 0
    ]


class RunState:
    """What the steps of one rating run share (set by Engine.__init__)."""

    batch: RatingBatch
    actor: Actor
    now: datetime
    window: tuple[datetime, datetime] | None  # re-rating: the events carry every current record in it
    result: RunResult
    _errors: dict[str, list[int]]  # reason -> event ids that could not be rated
    _rated_event_ids: list[int]
    _touched: set[tuple[int, date]]  # rollup buckets (customer, UTC day) to rebuild: records superseded there
    _added: list[tuple[int, date, int]]  # records written: (customer, UTC day, event), added to their buckets
    _cumulative: dict[tuple, Decimal]  # cumulative prices by position (pricing.price_position)
    _included: set[tuple[int, datetime]]  # contract periods whose included credits exist


@dataclass(frozen=True)
class WalletDraw:
    """What the wallet did for one customer's new items (index: position in the items, in rating order): the
    charge each needs (credits for wallet-backed contracts, currency otherwise), its parts of the ledger (draws,
    true-up give-backs, shortfalls charged back) and the debit it drew from."""

    needs: tuple[Decimal, ...]
    shares: Mapping[int, tuple[_Part, ...]]
    debit_of: Mapping[int, int | None]
    cancels: Mapping[int, Decimal] = field(default_factory=dict)  # true-up -> what it cancelled over the limit


@dataclass(frozen=True)
class RatedRow:
    """One usage_rated row as the write step inserts it: exactly RatedUsage's concrete fields but the id
    (attribute names; a test fails if the two drift apart)."""

    event_id: int
    batch_id: int
    customer_id: int
    meter_id: int
    timestamp: datetime
    day: date
    event_ref: str
    contract_id: int
    period_start: datetime
    rate_version_id: int
    pricing_unit: str
    currency: str
    billing_model: str
    enforcement: str
    credit_price: Decimal
    allowance: Decimal
    pricing_model: str
    override_kind: str
    override_value: Decimal | None
    quantity: Decimal
    prior_quantity: Decimal
    included_quantity: Decimal
    credit_quantity: Decimal
    overage_quantity: Decimal
    over_limit_quantity: Decimal
    tier: int | None
    unit_price: Decimal
    price_per_units: Decimal
    lines: list[dict[str, Any]]
    amount: Decimal
    credits: Decimal
    credits_drawn: Decimal
    overage_units: Decimal
    overage_amount: Decimal
    revenue: Decimal
    cost: Decimal
    over_limit: bool
    ledger_entry_id: int | None
    allocations: list[dict[str, str]]
    attr_user: str
    attr_agent: str
    attr_team: str
    superseded_at: datetime | None
    superseded_by_id: int | None
    created_at: datetime


_ROW_FIELDS = frozenset(f.name for f in fields(RatedRow))


def _fill_row(self: RatedRow, **values: Any) -> None:
    """RatedRow's constructor at run time: the same keyword-only fields, all required (checked), stored in one
    step. The generated frozen __init__ sets 45 fields one object.__setattr__ at a time, and rating builds one
    row per event (~10 µs each: a measurable share of the hot path). Type checkers still see the generated
    signature; instances stay frozen afterwards."""
    if values.keys() != _ROW_FIELDS:
        missing, extra = _ROW_FIELDS - values.keys(), values.keys() - _ROW_FIELDS
        raise TypeError(f"RatedRow: missing fields {sorted(missing)}, unknown fields {sorted(extra)}")
    self.__dict__.update(values)


if not TYPE_CHECKING:
    RatedRow.__init__ = _fill_row
