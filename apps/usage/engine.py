"""The rating engine: prices events at their period position, settles the wallet once per customer, writes
rated records, keeps the rating cursors exact and rebuilds the touched rollup buckets.

It runs inside the caller's transaction (services.py) and serializes per customer with a transaction-scoped
lock, so two workers never price the same customer's period at once. Steps for one run:

1. resolve, per event, the contract in force at its timestamp, the approved version in force at it, the rate
   for its meter, its billing period (clipped to the contract) and its meter cost;
2. per customer x meter x period: if every event sorts after the last position rated (the usual case), price
   them from the cursor's cumulative quantity; otherwise (late events, re-rating) read the current records
   from the earliest position on, and re-price that whole suffix in order. A record whose figures change is
   superseded by a new one; an unchanged one is kept (only its recorded position is updated);
3. per customer: give back (reverse) exactly the credits the superseded records drew, to the grants they drew
   from; issue the period's included credits if none exist yet; then ONE wallet debit per billing period met
   (usually one) for the credits the new records need, split over them in rating order; a negative charge (a
   volume true-up) gives back to the grants the period's earlier records drew; what the wallet cannot cover becomes
   overage up to the policy's cap, the rest is rated, flagged over limit and not charged;
4. write records, mark events, update cursors, rebuild rollups (customer x meter x day and customer x day x
   attribution) for every touched bucket from the current records.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from operator import attrgetter
from types import SimpleNamespace
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from django.db import DataError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.money import DECIMAL_PLACES, MAX_DIGITS, ZERO

from . import rating
from .models import DailyAttribution, DailyUsage, RatedUsage, RatingBatch, RatingCursor, UsageEvent

log = logging.getLogger(__name__)

ATTRIBUTION_KEYS = ("user", "agent", "team")
LOCK_NAMESPACE = 0x55534147 << 32  # "USAG": advisory lock keys for customers


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


@dataclass
class _Item:
    event: EventInput
    contract: object
    version: object
    rate: object
    period: tuple[datetime, datetime]
    cost_per_unit: Decimal
    quantity: Decimal  # billable
    priced: rating.Priced | None = None
    record: RatedUsage | None = None  # the new record, when one is written


@dataclass
class _Work:
    """What rating one customer produced, written for all customers at the end of the run."""

    customer_id: int
    new_items: list[_Item]
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

    def merge(self, other: "RunResult") -> None:
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
SUFFIX_FIELDS = ("id", "event_id", "customer_id", "meter_id", "timestamp", "day", "event_ref", "contract_id",
                 "period_start", "rate_version_id", "quantity", "prior_quantity", "amount", "included_quantity",
                 "unit_price", "tier", "override_kind", "override_value", "billing_model", "enforcement",
                 "credit_price", "cost", "credits_drawn", "ledger_entry_id", "allocations", "overage_units", "overage_amount",
                 "revenue", "attr_user", "attr_agent", "attr_team")


# Every figure a record or cursor stores is a numeric(30, 12): below 10^18. An event whose figures would not fit
# (a huge quantity at a high rate, or a period's cumulative quantity) is marked `error`, not rated, and never
# stops the other events or customers; re-rating retries it once the rate or the event is fixed.
STORABLE_LIMIT = Decimal(10) ** (MAX_DIGITS - DECIMAL_PLACES)


def failure_reason(exc: Exception) -> str:
    """A reason a person can read for an event or customer that could not be rated."""
    if isinstance(exc, DataError):
        return "rating failed: a figure is too large to store (above 10^18); check the rate and the quantity"
    message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    return f"rating failed: {message}"[:200]


def _too_large(item: "_Item", credits: Decimal) -> str | None:
    p = item.priced
    c = item.contract
    position = p.prior_quantity + item.quantity
    if position >= STORABLE_LIMIT:
        return ("the period's cumulative quantity would reach 10^18 or more: too large to store; "
                "the event cannot be rated")
    for label, value in (("amount", p.amount), ("credits", credits), ("cost", item.quantity * item.cost_per_unit),
                         ("amount in the currency", credits * c.credit_price)):
        if abs(value) >= STORABLE_LIMIT:
            return (f"the {label} ({value:.4E}) is 10^18 or more: too large to store; check the rate "
                    f"({c.rate_table_code or 'rate table'}) and the quantity")
    return None


def _add_totals(totals: dict, record: RatedUsage, sign: int = 1) -> None:
    for name in TOTAL_FIELDS:
        totals[name] = totals.get(name, ZERO) + sign * getattr(record, name)


def lock_customers(customer_ids) -> None:
    """Serialize rating per customer until the transaction ends (PostgreSQL advisory locks, ascending order;
    SQLite transactions are already serialized)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for customer_id in sorted(set(customer_ids)):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_NAMESPACE + int(customer_id)])


def _attr(attributes: dict, name: str) -> str:
    value = attributes.get(name) if isinstance(attributes, dict) else None
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)[:120]


def fast_insert(model, objects: list) -> None:
    """Insert rows without the ORM's per-row statement building (ids are not read back): COPY on PostgreSQL,
    executemany elsewhere. `objects` are model instances or any objects with the fields' attnames (the rating
    hot path uses plain namespaces: building 50-field model instances costs more than writing them)."""
    if not objects:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    now = timezone.now()
    for field in fields:  # auto_now_add fields are filled like the ORM would
        if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
            for obj in objects:
                if getattr(obj, field.attname, None) is None:
                    setattr(obj, field.attname, now)
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    names = [f.attname for f in fields]
    json_at = [i for i, f in enumerate(fields) if f.get_internal_type() == "JSONField"]
    if connection.vendor == "postgresql":
        values = attrgetter(*names)
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                row = list(values(obj))
                for i in json_at:
                    row[i] = json.dumps(row[i])
                copy.write_row(row)
        return
    rows = [[f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields] for obj in objects]
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", rows)


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
        return {"entry_id": self.entry_id, "grant_id": self.grant_id, "credits": str(self.credits),
                "revenue": str(self.revenue), "kind": self.kind, "price_per_credit": str(self.price_per_credit)}


def _parts(record) -> list[_Part]:
    """A stored record's allocations (records written before entry ids were kept use the record's debit)."""
    return [_Part(int(a.get("entry_id") or record.ledger_entry_id), int(a["grant_id"]), Decimal(a["credits"]),
                  Decimal(a["revenue"]), a.get("kind", ""), Decimal(a.get("price_per_credit", "0")))
            for a in (record.allocations or []) if Decimal(a["credits"]) != 0]


class Engine:
    def __init__(self, *, batch: RatingBatch, actor: Actor, now: datetime | None = None):
        self.batch = batch
        self.actor = actor
        self.now = now or timezone.now()
        self.result = RunResult()
        self._errors: dict[str, list[int]] = defaultdict(list)
        self._rated_event_ids: list[int] = []
        self._touched: set[tuple[int, date]] = set()
        self._periods: dict[tuple[int, date], tuple[datetime, datetime]] = {}
        self._cumulative: dict = {}  # cumulative prices by position (rating.price_position)
        self._included: set[tuple[int, datetime]] = set()  # contract periods whose included credits exist

    # --- resolution ------------------------------------------------------------------------------------
    def _load_context(self, customer_ids, meter_ids) -> None:
        from apps.catalog.selectors import (meter_cost_history, meters_by_code, rate_table_versions_approved,
                                            version_for_instant)
        from apps.contracts.selectors import contracts_for_customers

        self._version_for_instant = version_for_instant

        self.contracts = contracts_for_customers(customer_ids=customer_ids)
        table_ids = {c.rate_table_id for terms in self.contracts.values() for c in terms}
        self.versions = rate_table_versions_approved(rate_table_ids=table_ids) if table_ids else {}
        self.costs = meter_cost_history(meter_ids=meter_ids)
        self.count_meters = {m.id for m in meters_by_code().values() if m.aggregation == "count"}

    def _contract_at(self, customer_id: int, at: datetime):
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

    def _resolve(self, event: EventInput) -> _Item | str:
        contract = self._contract_at(event.customer_id, event.timestamp)
        if contract is None:
            return "no contract in force at the event's timestamp"
        version = self._version_for_instant(self.versions.get(contract.rate_table_id, []), event.timestamp)
        if version is None:
            return "no approved rate table version in force at the event's timestamp"
        rate = version.rates.get(event.meter_id)
        if rate is None:
            return f"the meter has no rate in {contract.rate_table_code or 'the rate table'} v{version.number}"
        # Periods start at midnight UTC, so a contract's period is a function of the UTC day: computed once a day.
        day_key = (contract.id, _utc_day(event.timestamp))
        period = self._periods.get(day_key)
        if period is None:
            start, end = contract.period(event.timestamp)
            start = max(start, contract.starts_at)
            if contract.ends_at is not None:
                end = min(end, contract.ends_at)
            period = self._periods[day_key] = (start, end)
        if not period[0] <= event.timestamp < period[1]:  # a contract starting or ending within that day
            start, end = contract.period(event.timestamp)
            period = (max(start, contract.starts_at), end if contract.ends_at is None else min(end, contract.ends_at))
        start, end = period
        quantity = Decimal(1) if event.meter_id in self.count_meters else event.quantity
        return _Item(event=event, contract=contract, version=version, rate=rate, period=(start, end),
                     cost_per_unit=self._cost_at(event.meter_id, event.timestamp), quantity=quantity)

    # --- the run ----------------------------------------------------------------------------------------
    def run(self, events: list[EventInput]) -> RunResult:
        if not events:
            return self.result
        customer_ids = sorted({e.customer_id for e in events})
        lock_customers(customer_ids)
        self._load_context(customer_ids, {e.meter_id for e in events})
        by_customer: dict[int, list[EventInput]] = defaultdict(list)
        for event in events:
            by_customer[event.customer_id].append(event)
        resolved = {c: self._group(by_customer[c]) for c in customer_ids}
        starts = {p for groups, errored, _ in resolved.values() for _, p in groups} | {
            r.period_start for _, errored, _ in resolved.values() for r in errored}
        cursors: dict[int, dict] = defaultdict(dict)
        for cursor in RatingCursor.objects.filter(customer_id__in=customer_ids, period_start__in=starts):
            cursors[cursor.customer_id][(cursor.meter_id, cursor.period_start)] = cursor
        self._suffixes = self._load_suffixes(resolved, cursors)
        self.result.customers = len(by_customer)
        work: list[_Work] = []
        for customer_id in customer_ids:
            groups, errored, errors = resolved[customer_id]
            try:
                with transaction.atomic():
                    done = self._rate_customer(customer_id, groups, errored, cursors[customer_id])
            except (OperationalError, InterfaceError):
                raise  # transient: the whole batch is retried
            except Exception as exc:  # noqa: BLE001 - one customer's failure never stops the others
                log.warning("rating customer %s failed: %s", customer_id, exc, exc_info=True)
                message = failure_reason(exc)
                for event in by_customer[customer_id]:
                    if event.current is None:
                        self._errors[f"rating failed: {message}"[:200]].append(event.pk)
                continue
            for message, ids in errors.items():
                self._errors[message].extend(ids)
            if done is not None:
                work.append(done)
        self._write(work)
        self._finish()
        return self.result

    def _group(self, events: list[EventInput]):
        """Resolve a customer's events and group them by meter x period; errors aside."""
        groups: dict[tuple[int, datetime], list[_Item]] = defaultdict(list)
        errored_current: list[RatedUsage] = []
        errors: dict[str, list[int]] = defaultdict(list)
        for event in events:
            item = self._resolve(event)
            if isinstance(item, str):
                errors[item].append(event.pk)
                if event.current is not None:
                    errored_current.append(event.current)
                continue
            groups[(event.meter_id, item.period[0])].append(item)
        return groups, errored_current, errors

    def _rate_customer(self, customer_id: int, groups: dict, errored_current: list[RatedUsage],
                       cursors: dict) -> _Work | None:
        new_items: list[_Item] = []
        superseded: list[RatedUsage] = list(errored_current)
        kept_priors: list[RatedUsage] = []
        for (meter_id, period_start), items in groups.items():
            cursor = cursors.get((meter_id, period_start))
            sequence, prior = self._sequence(customer_id, meter_id, items, cursor)
            for item in sequence:
                contract = item.contract
                item.priced = rating.price_position(
                    rate=item.rate, override=contract.overrides.get(meter_id), quantity=item.quantity,
                    prior=prior, allowance=contract.allowances.get(meter_id, ZERO), memo=self._cumulative)
                problem = _too_large(item, rating.to_credits(
                    item.priced.amount, pricing_unit=contract.pricing_unit, credit_price=contract.credit_price)
                    if contract.pricing_unit.lower() != rating.CREDITS else item.priced.amount)
                if problem is not None:
                    self._errors[problem[:200]].append(item.event.pk)
                    if item.event.current is not None:
                        superseded.append(item.event.current)
                    continue  # takes no position: the events after it are priced as if it were not there
                prior += item.quantity
                current = item.event.current
                if current is not None and current.period_start == item.period[0] and self._same(current, item):
                    if current.prior_quantity != item.priced.prior_quantity:
                        current.prior_quantity = item.priced.prior_quantity
                        kept_priors.append(current)
                    continue
                if current is not None:
                    superseded.append(current)
                new_items.append(item)

        if not new_items and not superseded and not kept_priors:
            return None
        ledger_mark = len(self.result.ledger_entries)
        try:
            self._settle(customer_id, new_items, superseded, cursors)
        except Exception:
            del self.result.ledger_entries[ledger_mark:]
            raise
        return _Work(customer_id, new_items, superseded, kept_priors,
                     self._cursor_changes(customer_id, new_items, superseded, cursors))

    def _load_suffixes(self, resolved: dict, cursors: dict) -> dict:
        """One read for every late group of the run: the current records from each group's first position on
        (what re-pricing a suffix needs)."""
        late: dict[tuple[int, int, datetime], tuple[datetime, str]] = {}
        for customer_id, (groups, _, _) in resolved.items():
            for (meter_id, period_start), items in groups.items():
                cursor = cursors[customer_id].get((meter_id, period_start))
                first = min(i.event.key for i in items)
                if cursor is not None and cursor.last_timestamp is not None and \
                        (cursor.last_timestamp, cursor.last_event_ref) >= first:
                    late[(customer_id, meter_id, period_start)] = first
        suffixes: dict[tuple[int, int, datetime], list[RatedUsage]] = defaultdict(list)
        if not late:
            return suffixes
        since = min(first for first in late.values())[0]
        records = (RatedUsage.objects.filter(customer_id__in={k[0] for k in late}, meter_id__in={k[1] for k in late},
                                             period_start__in={k[2] for k in late}, superseded_at__isnull=True,
                                             day__gte=_utc_day(since), timestamp__gte=since)
                   .only(*SUFFIX_FIELDS))
        for record in records.iterator(chunk_size=5000):
            key = (record.customer_id, record.meter_id, record.period_start)
            first = late.get(key)
            if first is not None and (record.timestamp, record.event_ref) >= first:
                suffixes[key].append(record)
        return suffixes

    def _sequence(self, customer_id: int, meter_id: int, items: list[_Item], cursor: RatingCursor | None):
        """The items to price in order, and the cumulative quantity before the first of them."""
        items.sort(key=lambda i: i.event.key)
        first = items[0].event.key
        if cursor is None:
            return items, ZERO
        if cursor.last_timestamp is None or (cursor.last_timestamp, cursor.last_event_ref) < first:
            return items, cursor.quantity
        # Late or re-rated events: re-price the period's current records from the first position on.
        period_start = items[0].period[0]
        suffix = self._suffixes.get((customer_id, meter_id, period_start), [])
        prior = cursor.quantity - sum((r.quantity for r in suffix), ZERO)
        by_event = {i.event.pk: i for i in items}
        for record in suffix:
            if record.event_id in by_event:
                by_event[record.event_id].event.current = record
                continue
            resolved = self._resolve(EventInput(
                pk=record.event_id, customer_id=customer_id, meter_id=meter_id, quantity=record.quantity,
                timestamp=record.timestamp, ref=record.event_ref, current=record,
                attributes={"user": record.attr_user, "agent": record.attr_agent, "team": record.attr_team}))
            if isinstance(resolved, str) or resolved.period[0] != period_start:
                # Its terms changed since it was rated; it stays as it is until re-rated explicitly.
                prior += record.quantity
                continue
            by_event[record.event_id] = resolved
        sequence = sorted(by_event.values(), key=lambda i: i.event.key)
        return sequence, prior

    @staticmethod
    def _same(record: RatedUsage, item: _Item) -> bool:
        p = item.priced
        c = item.contract
        return (record.contract_id == c.id and record.rate_version_id == item.version.id
                and record.quantity == item.quantity and record.amount == p.amount
                and record.included_quantity == p.included_quantity and record.unit_price == p.unit_price
                and record.tier == p.tier and record.override_kind == p.override_kind
                and record.override_value == p.override_value and record.billing_model == c.billing_model
                and record.enforcement == c.enforcement and record.credit_price == c.credit_price
                and record.cost == rating.q12(item.quantity * item.cost_per_unit))

    # --- wallet and policy ---------------------------------------------------------------------------------
    def _settle(self, customer_id: int, new_items: list[_Item], superseded: list[RatedUsage],
                cursors: dict) -> None:
        """Wallet and policy for one customer's new records. Every record's allocations are exactly its share of
        the ledger (grant, debit, credits, revenue), so for every grant the ledger's allocations equal the current
        records' draws, and the ledger's revenue equals theirs:

        - a superseded record's draws go back to exactly the grants (and debits) they came from, with their
          revenue, before the new records draw (a give-back);
        - ONE debit per customer, run and billing period covers the new records that need credits, split over
          them in rating order (the period's included credits are issued first when missing);
        - a negative charge (a volume-tier true-up: a later event lowers the price of earlier ones) gives the
          difference back to the grants the period's earlier records drew from, last drawn first; what they had
          not drawn from the wallet reduces overage (never below what was accrued on a hard contract: nothing).
        """
        from apps.wallets.services import wallet_debit

        # 1. Credits the superseded records drew go back to the grants they came from.
        back: dict[int, dict[int, list[Decimal]]] = defaultdict(lambda: defaultdict(lambda: [ZERO, ZERO]))
        for record in superseded:
            for part in _parts(record):
                acc = back[part.entry_id][part.grant_id]
                acc[0] += part.credits
                acc[1] += part.revenue
        short = self._give_back(back, key=f"usage-rev:{self.batch.key}", reference=f"re-rating {self.batch.key}",
                                note="credits of superseded charges given back to the grants they were drawn from")

        # 2. Overage used so far in each period (without the superseded records), for the caps.
        used: dict[datetime, Decimal] = defaultdict(lambda: ZERO)
        for (meter_id, period_start), cursor in cursors.items():
            used[period_start] += cursor.overage_units
        for record in superseded:
            used[record.period_start] -= max(record.overage_units, ZERO)

        # 3. Debits for the credits the new records need, split over them in rating order.
        new_items.sort(key=lambda i: (i.event.key, i.event.meter_id))
        needs: list[Decimal] = []
        for item in new_items:
            c = item.contract
            convert = rating.to_credits if c.billing_model in rating.WALLET_MODELS else rating.to_currency
            needs.append(convert(item.priced.amount, pricing_unit=c.pricing_unit, credit_price=c.credit_price))
        drawing = [i for i, item in enumerate(new_items)
                   if item.contract.billing_model in rating.WALLET_MODELS and needs[i] > 0]
        # One debit per billing period met (usually one): each draws the grants as they stood in its period, so
        # a period's included credits pay for that period's usage only.
        by_period: dict[datetime, list[int]] = defaultdict(list)
        for i in drawing:
            by_period[new_items[i].period[0]].append(i)
        takes: dict[int, Decimal] = {}
        share_of: dict[int, list[_Part]] = {}
        debit_of: dict[int, int] = {}
        for period_start, indexes in sorted(by_period.items()):
            self._ensure_included(customer_id, [new_items[i] for i in indexes])
            demand = sum((needs[i] for i in indexes), ZERO)
            # The debit happens at the usage's instant (the latest event it pays for; at most now): balances,
            # burn rates and runways follow usage, and grants are drawn as they stood then.
            at = min(self.now, max(new_items[i].event.timestamp for i in indexes))
            key = f"usage:{self.batch.key}:c{customer_id}"
            if len(by_period) > 1:
                key += f":p{period_start:%Y%m%d%H%M}"
            debit = wallet_debit(customer_id=customer_id, amount=demand, actor=self.actor, at=at,
                                 idempotency_key=key, reference=f"usage {self.batch.key}")
            if debit.entry_id:
                self.result.ledger_entries.append(("debit", debit.entry_id, -debit.drawn))
            pool = debit.drawn
            for i in indexes:
                takes[i] = min(needs[i], pool)
                pool -= takes[i]
                debit_of[i] = debit.entry_id
            shares = rating.split_allocations([takes[i] for i in indexes], debit.allocations)
            for i, group in zip(indexes, shares, strict=True):
                share_of[i] = [_Part(debit.entry_id, s.grant_id, s.credits, s.revenue, s.kind, s.price_per_credit)
                               for s in group]

        # 3a. What a superseded true-up had given back and the grant no longer holds stays given back: it is
        # charged to a new record of the same meter x period instead (a shortfall: overage or over the limit).
        if short:
            self._charge_short(short, superseded, new_items, share_of)

        # 3b. True-ups give back to what the period's earlier records drew.
        trueups = [i for i, item in enumerate(new_items)
                   if item.contract.billing_model in rating.WALLET_MODELS and needs[i] < 0]
        if trueups:
            self._true_ups(customer_id, new_items, needs, trueups, share_of, superseded)

        # 4. Per record: credits, overage within the cap, over limit beyond it.
        caps: dict[datetime, Decimal | None] = {}
        for index, item in enumerate(new_items):
            c = item.contract
            p = item.priced
            period_start = item.period[0]
            if period_start not in caps:
                cap = rating.overage_cap(billing_model=c.billing_model, enforcement=c.enforcement,
                                         overdraft_limit=c.overdraft_limit)
                caps[period_start] = None if cap is None else cap - used[period_start]
            need = needs[index]
            wallet = c.billing_model in rating.WALLET_MODELS
            grant_shares = share_of.get(index, [])
            take = sum((s.credits for s in grant_shares), ZERO) if index in share_of else ZERO
            shortfall = need - take
            cap_left = caps[period_start]
            if shortfall > 0 and cap_left is not None:
                overage = min(shortfall, max(cap_left, ZERO))
                caps[period_start] = cap_left - overage
            elif shortfall < 0 and wallet and cap_left is not None and cap_left <= 0 and used[period_start] <= 0:
                overage = ZERO  # a true-up beyond what was drawn, on a contract that accrued no overage
            else:
                overage = shortfall  # no cap, or a credit note against overage (negative)
            over_limit = max(shortfall - overage, ZERO)
            overage_amount = rating.credits_to_currency(overage, credit_price=c.credit_price) if wallet else overage
            chargeable = p.chargeable_quantity
            if need != 0:
                credit_q = rating.proportion(take, need, chargeable)
                overage_q = rating.proportion(overage, need, chargeable)
            elif wallet and need == 0:
                credit_q, overage_q = chargeable, ZERO
            else:
                credit_q, overage_q = ZERO, chargeable
            item.record = SimpleNamespace(  # a RatedUsage row, written with fast_insert (no model instance)
                event_id=item.event.pk, batch_id=self.batch.pk, customer_id=customer_id, meter_id=item.event.meter_id,
                timestamp=item.event.timestamp, day=_utc_day(item.event.timestamp), event_ref=item.event.ref,
                contract_id=c.id, period_start=period_start, rate_version_id=item.version.id,
                pricing_unit=c.pricing_unit, currency=c.currency, billing_model=c.billing_model,
                enforcement=c.enforcement, credit_price=c.credit_price,
                allowance=c.allowances.get(item.event.meter_id, ZERO), pricing_model=p.pricing_model,
                override_kind=p.override_kind, override_value=p.override_value, quantity=item.quantity,
                prior_quantity=p.prior_quantity, included_quantity=p.included_quantity,
                credit_quantity=credit_q, overage_quantity=overage_q,
                over_limit_quantity=chargeable - credit_q - overage_q, tier=p.tier, unit_price=p.unit_price,
                price_per_units=p.price_per_units, lines=list(p.lines), amount=p.amount,
                credits=need if wallet else ZERO, credits_drawn=take, overage_units=overage,
                overage_amount=overage_amount,
                revenue=sum((s.revenue for s in grant_shares), ZERO) + overage_amount,
                cost=rating.q12(item.quantity * item.cost_per_unit), over_limit=over_limit > 0,
                ledger_entry_id=debit_of.get(index) if grant_shares and need > 0 else None,
                allocations=[s.as_dict() for s in grant_shares],
                attr_user=_attr(item.event.attributes, "user"), attr_agent=_attr(item.event.attributes, "agent"),
                attr_team=_attr(item.event.attributes, "team"), superseded_at=None, superseded_by_id=None,
                created_at=self.now)

    def _charge_short(self, short: dict, superseded: list[RatedUsage], new_items: list[_Item],
                      share_of: dict) -> None:
        groups: dict[tuple[int, int], tuple[int, datetime]] = {}
        for record in superseded:
            for part in _parts(record):
                if part.credits < 0:
                    groups.setdefault((part.entry_id, part.grant_id), (record.meter_id, record.period_start))
        kinds = {(p.entry_id, p.grant_id): p for r in superseded for p in _parts(r)}
        for key, (credits, revenue) in short.items():
            group = groups.get(key)
            candidates = [i for i, item in enumerate(new_items)
                          if (item.event.meter_id, item.period[0]) == group] or list(range(len(new_items)))
            if not candidates:
                log.error("give-back %s of %s credits could not be taken back nor charged", key, credits)
                continue
            index = candidates[0]  # the earliest: later true-ups of the period see that it stays given back
            like = kinds[key]
            share_of.setdefault(index, []).append(
                _Part(key[0], key[1], credits, revenue, like.kind, like.price_per_credit))

    def _ensure_included(self, customer_id: int, items: list[_Item]) -> None:
        """A period's included credits are a grant issued at the period's start (beat task); if rating meets a
        period that has none yet, it is issued now (idempotent per contract period)."""
        from apps.wallets.services import included_credits_issue

        for item in items:
            c = item.contract
            key = (c.id, item.period[0])
            if c.included_credits <= 0 or key in self._included:
                continue
            self._included.add(key)
            included_credits_issue(customer_id=customer_id, contract_id=c.id, amount=c.included_credits,
                                   period_start=item.period[0], period_end=item.period[1], actor=self.actor)

    def _give_back(self, back: dict, *, key: str, reference: str, note: str) -> dict[tuple[int, int], tuple]:
        """One reversal per debit, with exact parts per grant (negative parts take back what an earlier true-up
        gave back). Returns what could not be taken back (the grant no longer holds it), per (debit, grant):
        (credits, revenue); the caller charges it to a new record instead."""
        from apps.wallets.services import wallet_reverse

        short: dict[tuple[int, int], tuple] = {}
        for entry_id in sorted(back):
            parts = {g: (c, r) for g, (c, r) in sorted(back[entry_id].items()) if c != 0}
            if not parts:
                continue
            entry = wallet_reverse(entry_id=entry_id, parts=parts, actor=self.actor, reference=reference,
                                   idempotency_key=f"{key}:{entry_id}", note=note)
            done = {a.grant_id: (a.amount, a.revenue) for a in entry.allocations.all()} if entry else {}
            if entry is not None:
                self.result.ledger_entries.append(("reversal", entry.pk, entry.amount))
            for grant_id, (credits, revenue) in parts.items():
                got, got_revenue = done.get(grant_id, (ZERO, ZERO))
                if credits < 0 and got != credits:
                    short[(entry_id, grant_id)] = (credits - got, revenue + got_revenue)
        return short

    def _true_ups(self, customer_id: int, new_items: list[_Item], needs: list[Decimal], trueups: list[int],
                  share_of: dict, superseded: list[RatedUsage]) -> None:
        """For each negative charge, give back up to its amount from the draws of the earlier current records of
        its meter x period (existing ones and this run's), last drawn first; its parts are negative."""
        gone = {r.pk for r in superseded}
        groups = {(new_items[i].event.meter_id, new_items[i].period[0]) for i in trueups}
        existing: dict[tuple[int, datetime], list] = {}
        for meter_id, period_start in groups:
            existing[(meter_id, period_start)] = [
                r for r in RatedUsage.objects.filter(customer_id=customer_id, meter_id=meter_id,
                                                     period_start=period_start, superseded_at__isnull=True)
                .only("id", "timestamp", "event_ref", "ledger_entry_id", "allocations")
                .order_by("timestamp", "event_ref") if r.pk not in gone]
        pools: dict[tuple[int, datetime], list[list]] = defaultdict(list)  # [entry, grant, credits, revenue, share]
        cursor: dict[tuple[int, datetime], int] = defaultdict(int)

        def add(pool: list, parts) -> None:
            for p in parts:
                if p.credits > 0:
                    pool.append([p.entry_id, p.grant_id, p.credits, p.revenue, p])
                    continue
                left = -p.credits  # an earlier true-up: it already took from the latest draws
                for slot in reversed(pool):
                    if left == 0:
                        break
                    if (slot[0], slot[1]) == (p.entry_id, p.grant_id) and slot[2] > 0:
                        used = min(slot[2], left)
                        slot[3] -= slot[3] if used == slot[2] else rating.q12(used * slot[4].price_per_credit)
                        slot[2] -= used
                        left -= used

        back: dict[int, dict[int, list[Decimal]]] = defaultdict(lambda: defaultdict(lambda: [ZERO, ZERO]))
        trueup_set = set(trueups)
        for index, item in enumerate(new_items):
            group = (item.event.meter_id, item.period[0])
            if group not in groups:
                continue
            pool, rows = pools[group], existing[group]
            while cursor[group] < len(rows) and (rows[cursor[group]].timestamp, rows[cursor[group]].event_ref) \
                    < item.event.key:
                add(pool, _parts(rows[cursor[group]]))
                cursor[group] += 1
            add(pool, share_of.get(index, []))
            if index not in trueup_set:
                continue
            left = -needs[index]
            mine: list[_Part] = []
            for slot in reversed(pool):
                if left == 0:
                    break
                if slot[2] <= 0:
                    continue
                part = min(slot[2], left)
                revenue = slot[3] if part == slot[2] else rating.q12(part * slot[4].price_per_credit)
                slot[2] -= part
                slot[3] -= revenue
                left -= part
                p = slot[4]
                mine.append(_Part(slot[0], slot[1], -part, -revenue, p.kind, p.price_per_credit))
                acc = back[slot[0]][slot[1]]
                acc[0] += part
                acc[1] += revenue
            share_of[index] = share_of.get(index, []) + mine
        self._give_back(back, key=f"usage-trueup:{self.batch.key}", reference=f"usage {self.batch.key}",
                        note="volume true-up: a later event lowered the price of earlier ones in the period")

    # --- writes ------------------------------------------------------------------------------------------
    def _cursor_changes(self, customer_id: int, new_items: list[_Item], superseded: list[RatedUsage],
                        cursors: dict) -> list[RatingCursor]:
        """Cursors stay exact sums of the current records per customer x meter x period (and the last
        position rated): what leaves with the superseded records, what comes with the new ones."""
        missing = {(r.meter_id, r.period_start) for r in superseded} - set(cursors)
        if missing:
            for cursor in RatingCursor.objects.filter(customer_id=customer_id,
                                                      period_start__in={p for _, p in missing}):
                cursors.setdefault((cursor.meter_id, cursor.period_start), cursor)
        changed: dict[tuple[int, datetime], RatingCursor] = {}

        def cursor_for(meter_id: int, period_start: datetime, contract_id: int, period_end: datetime | None):
            key = (meter_id, period_start)
            cursor = cursors.get(key)
            if cursor is None:
                cursor = RatingCursor(customer_id=customer_id, meter_id=meter_id, period_start=period_start,
                                      period_end=period_end or period_start, contract_id=contract_id,
                                      quantity=ZERO, overage_units=ZERO)
                cursors[key] = cursor
            changed[key] = cursor
            return cursor

        for record in superseded:
            cursor = cursor_for(record.meter_id, record.period_start, record.contract_id, None)
            cursor.quantity -= record.quantity
            cursor.overage_units -= max(record.overage_units, ZERO)
        for item in new_items:
            record = item.record
            cursor = cursor_for(record.meter_id, record.period_start, record.contract_id, item.period[1])
            cursor.quantity += record.quantity
            cursor.overage_units += max(record.overage_units, ZERO)
            if cursor.last_timestamp is None or (cursor.last_timestamp, cursor.last_event_ref) < item.event.key:
                cursor.last_timestamp, cursor.last_event_ref = item.event.key
        return list(changed.values())

    def _write(self, work: list[_Work]) -> None:
        """All customers' records, supersessions and cursors of the run, in a few statements."""
        superseded = [r for w in work for r in w.superseded]
        if superseded:
            ids = [r.pk for r in superseded]
            for start in range(0, len(ids), 5000):
                RatedUsage.objects.filter(pk__in=ids[start:start + 5000]).update(
                    superseded_at=self.now, superseded_by=self.batch)
            for record in superseded:
                _add_totals(self.result.totals_before, record)
                self._touched.add((record.customer_id, record.day))
            self.result.superseded += len(superseded)
        kept = [r for w in work for r in w.kept_priors]
        if kept and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("UPDATE usage_rated r SET prior_quantity = v.p FROM json_to_recordset(%s::json) "
                               "AS v(id bigint, p numeric) WHERE r.id = v.id",
                               [json.dumps([{"id": r.pk, "p": str(r.prior_quantity)} for r in kept])])
        elif kept:
            RatedUsage.objects.bulk_update(kept, ["prior_quantity"], batch_size=500)
        records = [item.record for w in work for item in w.new_items]
        fast_insert(RatedUsage, records)
        for record in records:
            _add_totals(self.result.totals_after, record)
            self._touched.add((record.customer_id, record.day))
            self._rated_event_ids.append(record.event_id)
        self.result.written += len(records)
        cursors = [c for w in work for c in w.cursors]
        if cursors:
            RatingCursor.objects.bulk_create(
                cursors, batch_size=1000, update_conflicts=True, unique_fields=["customer", "meter", "period_start"],
                update_fields=["quantity", "overage_units", "last_timestamp", "last_event_ref"])

    def _finish(self) -> None:
        if self._rated_event_ids and connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # one text parameter rather than thousands
                cursor.execute("UPDATE usage_event SET state = 'rated', rating_error = '' "
                               "WHERE id = ANY(string_to_array(%s, ',')::bigint[])",
                               [",".join(map(str, self._rated_event_ids))])
        elif self._rated_event_ids:
            for start in range(0, len(self._rated_event_ids), 5000):
                UsageEvent.objects.filter(pk__in=self._rated_event_ids[start:start + 5000]).update(
                    state=UsageEvent.State.RATED, rating_error="")
        for message, ids in self._errors.items():
            for start in range(0, len(ids), 5000):
                UsageEvent.objects.filter(pk__in=ids[start:start + 5000]).update(
                    state=UsageEvent.State.ERROR, rating_error=message[:200])
            self.result.errors += len(ids)
        rebuild_rollups(self._touched, now=self.now)


# --- rollups ---------------------------------------------------------------------------------------------

_PG_DAILY = """
INSERT INTO usage_daily (customer_id, meter_id, day, currency, events, quantity, included_quantity, credit_quantity,
                         overage_quantity, over_limit_quantity, amount, credits, overage_amount, revenue, cost,
                         over_limit_events, updated_at)
SELECT r.customer_id, r.meter_id, r.day, MAX(r.currency), COUNT(*), SUM(r.quantity), SUM(r.included_quantity),
       SUM(r.credit_quantity), SUM(r.overage_quantity), SUM(r.over_limit_quantity), SUM(r.amount),
       SUM(r.credits_drawn), SUM(r.overage_amount), SUM(r.revenue), SUM(r.cost),
       COUNT(*) FILTER (WHERE r.over_limit), %s
FROM usage_rated r JOIN unnest(%s::bigint[], %s::date[]) AS b(customer_id, day)
  ON r.customer_id = b.customer_id AND r.day = b.day
WHERE r.superseded_at IS NULL
GROUP BY r.customer_id, r.meter_id, r.day
"""

_PG_ATTRIBUTION = """
INSERT INTO usage_daily_attribution (customer_id, day, kind, value, events, amount, credits, revenue, cost, updated_at)
SELECT r.customer_id, r.day, a.kind, a.value, COUNT(*), SUM(r.amount), SUM(r.credits_drawn), SUM(r.revenue),
       SUM(r.cost), %s
FROM usage_rated r JOIN unnest(%s::bigint[], %s::date[]) AS b(customer_id, day)
  ON r.customer_id = b.customer_id AND r.day = b.day
CROSS JOIN LATERAL (VALUES ('user', r.attr_user), ('agent', r.attr_agent), ('team', r.attr_team)) AS a(kind, value)
WHERE r.superseded_at IS NULL AND a.value <> ''
GROUP BY r.customer_id, r.day, a.kind, a.value
"""

_PG_DELETE = "DELETE FROM {table} t USING unnest(%s::bigint[], %s::date[]) AS b(customer_id, day) " \
             "WHERE t.customer_id = b.customer_id AND t.day = b.day"


def rebuild_rollups(buckets: set[tuple[int, date]], *, now: datetime | None = None) -> None:
    """Recompute and replace the rollups of the given (customer, day) buckets from the current rated records.
    Never increments: a retried or repeated rebuild gives the same rows."""
    if not buckets:
        return
    now = now or timezone.now()
    pairs = sorted(buckets)
    if connection.vendor == "postgresql":
        customers = [c for c, _ in pairs]
        days = [d for _, d in pairs]
        with connection.cursor() as cursor:
            for table in ("usage_daily", "usage_daily_attribution"):
                cursor.execute(_PG_DELETE.format(table=table), [customers, days])
            cursor.execute(_PG_DAILY, [now, customers, days])
            cursor.execute(_PG_ATTRIBUTION, [now, customers, days])
        return
    _rebuild_rollups_python(pairs, now=now)


def _rebuild_rollups_python(pairs: list[tuple[int, date]], *, now: datetime) -> None:
    """The portable path (SQLite): aggregate in Python with Decimal, exactly. Rebuilds every bucket of the
    customers x days cross product (a superset of the pairs: rebuilding a bucket again is harmless)."""
    customers = sorted({c for c, _ in pairs})
    days = sorted({d for _, d in pairs})
    DailyUsage.objects.filter(customer_id__in=customers, day__in=days).delete()
    DailyAttribution.objects.filter(customer_id__in=customers, day__in=days).delete()
    sums = ("quantity", "included_quantity", "credit_quantity", "overage_quantity", "over_limit_quantity",
            "amount", "credits_drawn", "overage_amount", "revenue", "cost")
    daily: dict[tuple[int, int, date], list] = {}
    currency: dict[tuple[int, int, date], str] = {}
    attribution: dict[tuple[int, date, str, str], list] = {}
    rows = (RatedUsage.objects.filter(customer_id__in=customers, day__in=days, superseded_at__isnull=True)
            .values_list("customer_id", "meter_id", "day", "currency", "over_limit", "attr_user", "attr_agent",
                         "attr_team", *sums))
    for row in rows.iterator(chunk_size=5000):
        customer_id, meter_id, day, cur, over_limit, user, agent, team = row[:8]
        values = row[8:]
        key = (customer_id, meter_id, day)
        acc = daily.get(key)
        if acc is None:
            acc = daily[key] = [0, 0] + [ZERO] * len(sums)
            currency[key] = cur
        acc[0] += 1
        acc[1] += 1 if over_limit else 0
        for i, value in enumerate(values):
            acc[2 + i] += value
        amount, credits, revenue, cost = values[5], values[6], values[8], values[9]
        for kind, value in (("user", user), ("agent", agent), ("team", team)):
            if not value:
                continue
            a = attribution.get((customer_id, day, kind, value))
            if a is None:
                a = attribution[(customer_id, day, kind, value)] = [0, ZERO, ZERO, ZERO, ZERO]
            a[0] += 1
            a[1] += amount
            a[2] += credits
            a[3] += revenue
            a[4] += cost
    fast_insert(DailyUsage,
        [DailyUsage(customer_id=c, meter_id=m, day=d, currency=currency[(c, m, d)], events=acc[0],
                    over_limit_events=acc[1], quantity=acc[2], included_quantity=acc[3], credit_quantity=acc[4],
                    overage_quantity=acc[5], over_limit_quantity=acc[6], amount=acc[7], credits=acc[8],
                    overage_amount=acc[9], revenue=acc[10], cost=acc[11], updated_at=now)
         for (c, m, d), acc in daily.items()])
    fast_insert(DailyAttribution,
        [DailyAttribution(customer_id=c, day=d, kind=k, value=v, events=a[0], amount=a[1], credits=a[2],
                          revenue=a[3], cost=a[4], updated_at=now)
         for (c, d, k, v), a in attribution.items()])


def rebuild_rollups_between(*, start: date, end: date, customer_id: int | None = None) -> int:
    """Rebuild every bucket with records (or rollups) between two days, inclusive. For repairs and re-rating."""
    filters = Q(day__gte=start, day__lte=end)
    if customer_id is not None:
        filters &= Q(customer_id=customer_id)
    buckets = set(RatedUsage.objects.filter(filters).values_list("customer_id", "day").distinct())
    buckets |= set(DailyUsage.objects.filter(filters).values_list("customer_id", "day").distinct())
    rebuild_rollups(buckets)
    return len(buckets)
