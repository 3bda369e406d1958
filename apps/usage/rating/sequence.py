"""Step 2, sequence positions: per customer x meter x period, the items to price in order from the rating
cursor's position (the usual case), or the current records' suffix to re-price from a late event's position on;
what cannot be stored is refused here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from itertools import chain

from apps.core.money import DECIMAL_PLACES, MAX_DIGITS, ZERO, quantize_rated

from ..models import RatedUsage, RatingCursor
from .resolve import ResolveStep
from .types import SUFFIX_FIELDS, Charge, EventInput, Resolved, Unrated, _utc_day

# Every figure a record or cursor stores is a numeric(30, 12): below 10^18. An event whose figures would not fit
# (a huge quantity at a high rate, or a period's cumulative quantity) is marked `error`, not rated, and never
# stops the other events or customers; re-rating retries it once the rate or the event is fixed.
STORABLE_LIMIT = Decimal(10) ** (MAX_DIGITS - DECIMAL_PLACES)


def _too_large(item: Charge, credits: Decimal) -> str | None:
    p = item.priced
    c = item.contract
    position = p.prior_quantity + item.quantity
    if position >= STORABLE_LIMIT:
        return (
            "the period's cumulative quantity would reach 10^18 or more: too large to store; the event cannot be rated"
        )
    for label, value in (
        ("amount", p.amount),
        ("credits", credits),
        ("cost", item.quantity * item.cost_per_unit),
        ("amount in the currency", credits * c.credit_price),
    ):
        if abs(value) >= STORABLE_LIMIT:
            return (
                f"the {label} ({value:.4E}) is 10^18 or more: too large to store; check the rate "
                f"({c.rate_table_code or 'rate table'}) and the quantity"
            )
    return None


class SequenceStep(ResolveStep):
    _suffixes: dict[tuple[int, int, datetime], list[RatedUsage]]  # late groups' current records, in order

    def _load_suffixes(self, resolved: dict, cursors: dict, events: list[EventInput]) -> dict:
        """One read for every late group of the run: the current records from each group's first position on
        (what re-pricing a suffix needs). In a re-rating run (`window`), those inside the window are the events'
        own current records: only the others are read."""
        late: dict[tuple[int, int, datetime], tuple[datetime, str]] = {}
        for customer_id, (groups, _, _) in resolved.items():
            for (meter_id, period_start), items in groups.items():
                cursor = cursors[customer_id].get((meter_id, period_start))
                first = min(i.event.key for i in items)
                if (
                    cursor is not None
                    and cursor.last_timestamp is not None
                    and (cursor.last_timestamp, cursor.last_event_ref) >= first
                ):
                    late[(customer_id, meter_id, period_start)] = first
        suffixes: dict[tuple[int, int, datetime], list[RatedUsage]] = defaultdict(list)
        if not late:
            return suffixes
        since = min(first for first in late.values())[0]
        records = RatedUsage.objects.filter(
            customer_id__in={k[0] for k in late},
            meter_id__in={k[1] for k in late},
            period_start__in={k[2] for k in late},
            superseded_at__isnull=True,
            day__gte=_utc_day(since),
            timestamp__gte=since,
        ).only(*SUFFIX_FIELDS)
        known: Iterable[RatedUsage] = ()
        if self.window is not None:
            start, end = self.window
            records = records.exclude(timestamp__gte=start, timestamp__lt=end)
            known = [e.current for e in events if e.current is not None]
        for record in chain(known, records.iterator(chunk_size=5000)):
            key = (record.customer_id, record.meter_id, record.period_start)
            first = late.get(key)
            if first is not None and (record.timestamp, record.event_ref) >= first:
                suffixes[key].append(record)
        return suffixes

    def _sequence(
        self, customer_id: int, meter_id: int, items: list[Resolved], cursor: RatingCursor | None
    ) -> tuple[list[Resolved], Decimal]:
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
            resolved = self._resolve(
                EventInput(
                    pk=record.event_id,
                    customer_id=customer_id,
                    meter_id=meter_id,
                    quantity=record.quantity,
                    timestamp=record.timestamp,
                    ref=record.event_ref,
                    current=record,
                    attributes={"user": record.attr_user, "agent": record.attr_agent, "team": record.attr_team},
                )
            )
            if isinstance(resolved, Unrated) or resolved.period[0] != period_start:
                # Its terms changed since it was rated; it stays as it is until re-rated explicitly.
                prior += record.quantity
                continue
            by_event[record.event_id] = resolved
        sequence = sorted(by_event.values(), key=lambda i: i.event.key)
        return sequence, prior

    @staticmethod
    def _same(record: RatedUsage, item: Charge) -> bool:
        p = item.priced
        c = item.contract
        return (
            record.contract_id == c.id
            and record.rate_version_id == item.version.id
            and record.quantity == item.quantity
            and record.amount == p.amount
            and record.included_quantity == p.included_quantity
            and record.unit_price == p.unit_price
            and record.tier == p.tier
            and record.override_kind == p.override_kind
            and record.override_value == p.override_value
            and record.billing_model == c.billing_model
            and record.enforcement == c.enforcement
            and record.credit_price == c.credit_price
            and record.cost == quantize_rated(item.quantity * item.cost_per_unit)
        )
