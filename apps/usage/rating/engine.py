"""The rating engine: prices events at their period position, settles the wallet once per customer, writes
rated records, keeps the rating cursors exact and rebuilds the touched rollup buckets.

It runs inside the caller's transaction (services.py) and serializes per customer with a transaction-scoped
lock, so two workers never price the same customer's period at once. Steps for one run:

1. resolve (resolve.py), per event, the contract in force at its timestamp, the approved version in force at it, the rate
   for its meter, its billing period (clipped to the contract) and its meter cost;
2. sequence (sequence.py), per customer x meter x period: if every event sorts after the last position rated (the usual case), price
   them from the cursor's cumulative quantity; otherwise (late events, re-rating) read the current records
   from the earliest position on, and re-price that whole suffix in order. A record whose figures change is
   superseded by a new one; an unchanged one is kept (only its recorded position is updated);
3. settle, per customer: (draw.py) give back (reverse) exactly the credits the superseded records drew, to the grants they drew
   from; issue the period's included credits if none exist yet; then ONE wallet debit per billing period met
   (usually one) for the credits the new records need, split over them in rating order; a negative charge (a
   volume true-up) gives back to the grants the period's earlier records drew; then (settle.py, pure) what the
   wallet cannot cover becomes overage up to the policy's cap, the rest is rated, flagged over limit and not
   charged: one frozen RatedRow per new record. Pricing (steps 1-2) runs first for every customer and makes no
   query; customers whose wallet side is at most give-backs and one debit (the usual case, re-rating included) are
   then settled together, with one wallet call per operation for all of them (the same ledger entries), the others
   one by one in their own savepoint;
4. write (write.py) records, mark events, update cursors; rollups (rollups.py) (customer x meter x day and customer x day x
   attribution) for every touched bucket from the current records.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import (
    DataError,
    InterfaceError,
    OperationalError,
    transaction,
)
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.locks import advisory_xact_lock
from apps.core.money import ZERO

from ..models import RatedUsage, RatingBatch, RatingCursor
from . import pricing
from .draw import DrawStep
from .rollups import update_rollups
from .sequence import SequenceStep, _too_large
from .settle import overage_used, settle
from .types import Charge, EventInput, Resolved, RunResult, Unrated, WalletDraw, _Priced, _Work
from .write import WriteStep

log = logging.getLogger("apps.usage.engine")

LOCK_NAMESPACE = 0x55534147 << 32  # "USAG": advisory lock keys for customers


def failure_reason(exc: Exception) -> str:
    """A reason a person can read for an event or customer that could not be rated."""
    if isinstance(exc, DataError):
        return "rating failed: a figure is too large to store (above 10^18); check the rate and the quantity"
    message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    return f"rating failed: {message}"[:200]


def lock_customers(customer_ids: Iterable[int]) -> None:
    """Serialize rating per customer until the transaction ends."""
    advisory_xact_lock(LOCK_NAMESPACE, customer_ids)


class Engine(SequenceStep, DrawStep, WriteStep):
    def __init__(
        self,
        *,
        batch: RatingBatch,
        actor: Actor,
        now: datetime | None = None,
        window: tuple[datetime, datetime] | None = None,
        settle_over_limit: bool = False,
    ):
        """`window` (re-rating): the events include, as their `current`, every current record of their customers
        with a timestamp in [start, end), read under the customers' rating locks; late suffixes then read only
        the records outside it. `settle_over_limit`: records over a hard limit are settled again even when their
        price stands (credits given back since may pay for them)."""
        self.window = window
        self.settle_over_limit = settle_over_limit
        self.batch = batch
        self.actor = actor
        self.now = now or timezone.now()
        self.result = RunResult()
        self._errors = defaultdict(list)
        self._rated_event_ids = []
        self._touched = set()
        self._added = []
        self._periods = {}
        self._cumulative = {}
        self._included = set()
        self._failed_customers: set[int] = set()
        self._pricers: dict[tuple, pricing.RunPricer] = {}  # (contract, rate, meter) -> its run's pricer

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
            r.period_start for _, errored, _ in resolved.values() for r in errored
        }
        cursors: dict[int, dict] = defaultdict(dict)
        for cursor in RatingCursor.objects.filter(customer_id__in=customer_ids, period_start__in=starts):
            cursors[cursor.customer_id][(cursor.meter_id, cursor.period_start)] = cursor
        self._suffixes = self._load_suffixes(resolved, cursors, events)
        self._load_included(resolved)
        self.result.customers = len(by_customer)
        together: list[_Priced] = []  # settled at once: one wallet call per operation for all of them
        alone: list[_Priced] = []  # true-ups, several periods, included credits to issue
        for customer_id in customer_ids:
            groups, errored, errors = resolved[customer_id]
            try:
                priced = self._price_customer(customer_id, groups, errored, cursors[customer_id])  # no queries
            except Exception as exc:  # noqa: BLE001 - one customer's failure never stops the others
                self._failed(customer_id, by_customer[customer_id], exc)
                continue
            if priced is not None:
                (alone if self._settles_alone(priced) else together).append(priced)
        work: dict[int, _Work] = {}
        entries: dict[int, list] = {}  # ledger entries per customer, listed in customer order at the end
        for priced in alone:
            self._settle_alone(priced, cursors, by_customer, work, entries)
        if together:
            try:
                with transaction.atomic():
                    settled = self._settle_together(together, cursors)
            except (OperationalError, InterfaceError):
                raise  # transient: the whole batch is retried
            except Exception:  # noqa: BLE001 - then one by one, so only the customer at fault fails
                log.warning("settling %s customers at once failed; one by one", len(together), exc_info=True)
                for priced in together:
                    self._settle_alone(priced, cursors, by_customer, work, entries)
            else:
                for priced, (done, mine) in zip(together, settled, strict=True):
                    work[priced.customer_id], entries[priced.customer_id] = done, mine
        for customer_id in customer_ids:
            if customer_id not in self._failed_customers:
                for message, ids in resolved[customer_id][2].items():
                    self._errors[message].extend(ids)
        self.result.ledger_entries = [e for c in customer_ids for e in entries.get(c, ())]
        self.result.gave_back.update(
            c for c, w in work.items() if any(r.credits_drawn > 0 for r in w.superseded)
        )  # their draws went back to the wallet (the new records drew again, maybe less)
        self._write([work[c] for c in customer_ids if c in work])
        self._finish()
        update_rollups(rebuild=self._touched, added=self._added, now=self.now)
        return self.result

    def _failed(self, customer_id: int, events: list[EventInput], exc: Exception) -> None:
        self._failed_customers.add(customer_id)
        log.warning("rating customer %s failed: %s", customer_id, exc, exc_info=True)
        message = failure_reason(exc)
        for event in events:
            if event.current is None:
                self._errors[f"rating failed: {message}"[:200]].append(event.pk)

    def _settle_alone(self, priced: _Priced, cursors: dict, by_customer: dict, work: dict, entries: dict) -> None:
        """Settle one customer in its own savepoint: if it fails, its wallet writes roll back and its events are
        marked `error` with the reason; the other customers are rated."""
        customer_id = priced.customer_id
        mark = len(self.result.ledger_entries)
        try:
            with transaction.atomic():
                used = overage_used(cursors[customer_id], priced.superseded)
                draw = self._draw(customer_id, priced.new_items, priced.superseded, used)
                work[customer_id] = self._settled(priced, draw, cursors[customer_id])
            entries[customer_id] = self.result.ledger_entries[mark:]
        except (OperationalError, InterfaceError):
            raise  # transient: the whole batch is retried
        except Exception as exc:  # noqa: BLE001 - one customer's failure never stops the others
            self._failed(customer_id, by_customer[customer_id], exc)
        finally:
            del self.result.ledger_entries[mark:]

    def _settle_together(self, together: list[_Priced], cursors: dict) -> list[tuple[_Work, list]]:
        """Settle customers that need at most give-backs and one debit each, with one call per wallet operation
        for all of them (see DrawStep._draw_together); their cursors change only once all are settled (a failure
        leaves them as they were, for settling one by one)."""
        mark = len(self.result.ledger_entries)
        try:
            draws = self._draw_together(together)
            rows = [
                settle(
                    priced.new_items,
                    draw,
                    used=overage_used(cursors[priced.customer_id], priced.superseded),
                    batch_id=self.batch.pk,
                    customer_id=priced.customer_id,
                    now=self.now,
                )
                for priced, (draw, _) in zip(together, draws, strict=True)
            ]
        finally:
            del self.result.ledger_entries[mark:]
        return [
            (
                _Work(
                    priced.customer_id,
                    priced.new_items,
                    mine,
                    priced.superseded,
                    priced.kept_priors,
                    self._cursor_changes(
                        priced.customer_id, priced.new_items, mine, priced.superseded, cursors[priced.customer_id]
                    ),
                ),
                entries,
            )
            for priced, mine, (_, entries) in zip(together, rows, draws, strict=True)
        ]

    def _group(
        self, events: list[EventInput]
    ) -> tuple[dict[tuple[int, datetime], list[Resolved]], list[RatedUsage], dict[str, list[int]]]:
        """Resolve a customer's events and group them by meter x period; errors aside."""
        groups: dict[tuple[int, datetime], list[Resolved]] = defaultdict(list)
        errored_current: list[RatedUsage] = []
        errors: dict[str, list[int]] = defaultdict(list)
        for event in events:
            item = self._resolve(event)
            if isinstance(item, Unrated):
                errors[item.reason].append(event.pk)
                if event.current is not None:
                    errored_current.append(event.current)
                continue
            groups[(event.meter_id, item.period[0])].append(item)
        return groups, errored_current, errors

    def _price_customer(
        self, customer_id: int, groups: dict, errored_current: list[RatedUsage], cursors: dict
    ) -> _Priced | None:
        """Price a customer's groups at their positions (no queries): the new items in rating order, the records
        they supersede, the records kept with a new position."""
        new_items: list[Charge] = []
        pricers = self._pricers
        superseded: list[RatedUsage] = list(errored_current)
        kept_priors: list[RatedUsage] = []
        for (meter_id, period_start), items in groups.items():
            cursor = cursors.get((meter_id, period_start))
            sequence, prior = self._sequence(customer_id, meter_id, items, cursor)
            for resolved in sequence:
                contract = resolved.contract
                terms = (id(contract), id(resolved.rate), meter_id)
                pricer = pricers.get(terms)
                if pricer is None:  # one per run of events under the same terms
                    pricer = pricers[terms] = pricing.RunPricer(
                        rate=resolved.rate,
                        override=contract.overrides.get(meter_id),
                        allowance=contract.allowances.get(meter_id, ZERO),
                        memo=self._cumulative,
                    )
                item = resolved.priced_as(pricer.price(resolved.quantity, prior))
                problem = _too_large(
                    item,
                    pricing.to_credits(
                        item.priced.amount,
                        priced_in_credits=contract.priced_in_credits,
                        credit_price=contract.credit_price,
                    ),
                )
                if problem is not None:
                    self._errors[problem[:200]].append(item.event.pk)
                    if item.event.current is not None:
                        superseded.append(item.event.current)
                    continue  # takes no position: the events after it are priced as if it were not there
                prior += item.quantity
                current = item.event.current
                if (
                    current is not None
                    and current.period_start == item.period[0]
                    and not (self.settle_over_limit and current.over_limit and current.enforcement == "hard")
                    and self._same(current, item)
                ):
                    if current.prior_quantity != item.priced.prior_quantity:
                        current.prior_quantity = item.priced.prior_quantity
                        kept_priors.append(current)
                    continue
                if current is not None:
                    superseded.append(current)
                new_items.append(item)

        if not new_items and not superseded and not kept_priors:
            return None
        new_items.sort(key=lambda i: (i.event.key, i.event.meter_id))  # rating order, across meters
        return _Priced(customer_id, new_items, superseded, kept_priors)

    def _settled(self, priced: _Priced, draw: WalletDraw, cursors: dict) -> _Work:
        """Settle (pure) a priced customer against its wallet draw: the rows and cursor changes to write."""
        customer_id, new_items, superseded = priced.customer_id, priced.new_items, priced.superseded
        rows = settle(
            new_items,
            draw,
            used=overage_used(cursors, superseded),
            batch_id=self.batch.pk,
            customer_id=customer_id,
            now=self.now,
        )
        return _Work(
            customer_id,
            new_items,
            rows,
            superseded,
            priced.kept_priors,
            self._cursor_changes(customer_id, new_items, rows, superseded, cursors),
        )
