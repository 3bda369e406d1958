"""Usage writes: ingestion (ingestion.py), rating of pending events in batches, re-rating a range.

Rating is idempotent by construction: a batch claims pending events (FOR UPDATE SKIP LOCKED on PostgreSQL),
and rates, debits the wallet, writes records and marks the events rated in one transaction. A failed batch
rolls back entirely (its wallet debit included) and the events stay pending for the retry; a committed batch
leaves nothing pending, so a retried or duplicated task finds nothing to do. Wallet idempotency keys derive
from the batch key (`usage:<batch key>:c<customer>`) as a second guard.

Concurrent workers rate disjoint customers (PostgreSQL): a claim looks at the oldest pending events, locks their
customers without waiting (the engine's per-customer advisory lock, taken early; the engine's own blocking lock
on them then returns at once) and claims only those customers' events. A customer another worker is rating is
skipped, never waited for, so two workers never queue behind one another's batch; and a claim stops locking
customers once they have half a batch of the events it looked at, leaving the rest for a second worker.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.catalog.cohorts import Cohort
from apps.catalog.selectors import rate_table_versions_approved
from apps.core.actors import SYSTEM, Actor
from apps.core.errors import DomainError, ValidationFailed
from apps.core.locks import try_advisory_xact_lock
from apps.core.money import ZERO

from .ingestion import IngestResult, Rejection, usage_events_ingest  # noqa: F401 - the ingestion service
from .models import DailyUsage, RatedUsage, RatingBatch, UsageEvent
from .rating import SUFFIX_FIELDS, TOTAL_FIELDS, Engine, EventInput, RunResult, failure_reason, lock_customers
from .rating.engine import LOCK_NAMESPACE
from .signals import usage_rated

DEFAULT_BATCH_SIZE = 10_000
RERATE_CHUNK = 5_000  # events per engine run of a re-rate (whole customers)
CLAIM_SHARE = 2  # a claim stops locking customers once they have batch_size/CLAIM_SHARE of the events looked at
CLAIM_LOOKS = 4  # windows of batch_size pending events a claim looks through when others hold every customer
DEFAULT_PATIENCE = 10.0  # seconds usage_rate_pending waits while other workers hold every pending customer
WAIT_FIRST, WAIT_MAX = 0.02, 0.25  # its pauses between looks meanwhile (doubling)
DATA_ERRORS = (DataError, IntegrityError, DomainError, ValueError, ArithmeticError)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchOutcome:
    batch_id: int | None
    claimed: int
    written: int
    superseded: int
    errors: int
    held: int = 0  # customers with pending events that other workers were rating (skipped, not waited for)
    left: int = 0  # customers with pending events this claim looked at and left for another worker


@dataclass(frozen=True)
class RatingSummary:
    batches: int
    events: int
    written: int
    superseded: int
    errors: int
    seconds: Decimal
    stopped: str = "done"  # done: nothing pending | max_batches | held: others rate what is left


@dataclass(frozen=True)
class RerateSummary:
    batch_id: int
    key: str
    start: datetime
    end: datetime
    customer_id: int | None
    events: int  # events looked at
    rerated: int  # new records written
    superseded: int
    errors: int
    customers: int
    before: dict[str, Decimal] = field(default_factory=dict)  # totals of the superseded records
    after: dict[str, Decimal] = field(default_factory=dict)  # totals of the new records
    difference: dict[str, Decimal] = field(default_factory=dict)
    ledger: tuple[tuple[str, int, Decimal], ...] = ()  # (reversal|debit, entry id, signed amount)

    @property
    def changed(self) -> bool:
        return bool(self.rerated or self.superseded)


def _actor_fields(actor: Actor) -> dict:
    return {"actor_user": actor.user, "actor_label": actor.label[:120]}


def _totals(values: dict) -> dict[str, Decimal]:
    return {name: values.get(name, ZERO) for name in TOTAL_FIELDS}


def _on_rated(batch: RatingBatch, customer_ids) -> None:
    ids = sorted(set(customer_ids))
    transaction.on_commit(
        lambda: usage_rated.send(sender=RatingBatch, batch_id=batch.pk, kind=batch.kind, customer_ids=ids)
    )


def _run_isolated(
    *,
    batch: RatingBatch,
    actor: Actor,
    events: list[EventInput],
    window: tuple[datetime, datetime] | None = None,
    settle_over_limit: bool = False,
) -> RunResult:
    """Rate the events; if the run fails as a whole because of the data (an error the engine's per-customer
    isolation did not catch, e.g. a figure the database refuses while writing), rate them again one customer at a
    time, and mark the events of a customer that still fails as `error` with the reason: one bad event or customer
    never keeps the others pending. Other failures (the database going away, a bug) roll the batch back whole:
    its events stay pending for the retry."""

    def run(group: list[EventInput]) -> RunResult:
        result = Engine(batch=batch, actor=actor, window=window, settle_over_limit=settle_over_limit).run(group)
        if result.gave_back and not settle_over_limit:
            _pay_over_limit(customer_ids=sorted(result.gave_back), actor=actor)
        return result

    try:
        with transaction.atomic():
            return run(events)
    except DATA_ERRORS:
        log.exception("rating batch %s failed; rating its customers one by one", batch.key)
    result = RunResult()
    by_customer: dict[int, list[EventInput]] = {}
    for event in events:
        by_customer.setdefault(event.customer_id, []).append(event)
    for customer_id, group in sorted(by_customer.items()):
        try:
            with transaction.atomic():
                result.merge(run(group))
        except DATA_ERRORS as exc:
            log.exception("rating customer %s in batch %s failed", customer_id, batch.key)
            reason = failure_reason(exc)
            ids = [e.pk for e in group if e.current is None]
            UsageEvent.objects.filter(pk__in=ids).update(state=UsageEvent.State.ERROR, rating_error=reason[:200])
            result.errors += len(ids)
    return result


class _NothingMorePaid(Exception):
    pass


def _pay_over_limit(*, customer_ids: Sequence[int], actor: Actor) -> None:
    """Credits given back to a wallet (a volume true-up, a re-rate that lowered prices) while some of the
    customer's usage is over a hard limit pay for that usage: its records are settled again, in rating order, as a
    re-rate of the span from the first of them to the last the wallet's balance can reach. Without it, usage
    rated before the credits came back stayed unpaid while they sat in the wallet, and what a customer paid
    followed how events happened to be batched (one batch rates that usage after the give-back). A re-rate that
    pays nothing more is rolled back (no churn of identical records). A soft limit is left as it is: its usage
    beyond the balance is overage within a cap per billing period, which settling again would move between
    periods and between overage and over the limit."""
    from apps.wallets.selectors import customer_balances

    balances = customer_balances(customer_ids=customer_ids)  # one read; usually none has anything to pay
    for customer_id in sorted(c for c, balance in balances.items() if balance > 0):
        span: list[datetime] = []  # over-limit records in rating order, up to what the balance can pay
        owed = ZERO
        for timestamp, unpaid in (
            RatedUsage.objects.filter(
                customer_id=customer_id, over_limit=True, superseded_at__isnull=True, enforcement="hard"
            )
            .annotate(unpaid=F("credits") - F("credits_drawn") - F("overage_units"))
            .order_by("timestamp", "event_ref")
            .values_list("timestamp", "unpaid")
            .iterator(chunk_size=1000)
        ):
            span.append(timestamp)
            owed += unpaid
            if owed >= balances[customer_id]:
                break
        if not span:
            continue
        try:
            with transaction.atomic():
                summary = usage_rerate(
                    start=span[0],
                    end=span[-1] + timedelta(microseconds=1),
                    customer_id=customer_id,
                    actor=actor,
                    reason="credits given back to the wallet pay for usage over the limit",
                    settle_over_limit=True,
                )
                if summary.after["credits_drawn"] <= summary.before["credits_drawn"]:
                    raise _NothingMorePaid
        except _NothingMorePaid:
            continue


def _customers_to_claim(batch_size: int) -> tuple[list[int], int, int]:
    """Lock, without waiting, the customers of the next batch (PostgreSQL, inside the batch's transaction):
    (customers locked, customers skipped because another worker holds them, customers left for another worker).

    It looks at the oldest `batch_size` pending events and tries their customers in the order of their oldest
    event (the oldest pending event is rated first by whichever worker can lock its customer), until the locked
    customers have half a batch of the events looked at (a backlog of less than half a batch is one worker's
    work: splitting it would only add batches). When other workers hold every customer there, it looks at the
    next window (at most CLAIM_LOOKS windows), so a customer whose events all come after another's backlog still
    gets a worker. The window is read without locking rows: the claim that follows re-reads under the locks."""
    table = UsageEvent._meta.db_table
    locked: list[int] = []
    tried: set[int] = set()
    held = left = 0
    after = 0
    with connection.cursor() as cursor:
        for _ in range(CLAIM_LOOKS):
            cursor.execute(
                f"SELECT customer_id, count(*), max(id) FROM (SELECT id, customer_id FROM {table} "  # noqa: S608
                "WHERE state = %s AND id > %s ORDER BY id LIMIT %s) w GROUP BY customer_id ORDER BY min(id)",
                [UsageEvent.State.PENDING, after, batch_size],
            )
            window = cursor.fetchall()
            if not window:
                break
            after = max(last for _, _, last in window)
            seen = sum(n for _, n, _ in window)
            target, share = -(-batch_size // CLAIM_SHARE), 0
            for position, (customer_id, n, _) in enumerate(window):
                if customer_id in tried:
                    continue
                tried.add(customer_id)
                if not try_advisory_xact_lock(LOCK_NAMESPACE, customer_id):
                    held += 1
                    continue
                locked.append(customer_id)
                share += n
                if share >= target:
                    left = sum(1 for c, _, _ in window[position + 1 :] if c not in tried)
                    break
            if locked or seen < batch_size:
                break
    return locked, held, left


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is loaded and rated. A batch allocates a dozen container objects
    per event (inputs, prices, rows, their JSON values), all freed by reference counting when the batch ends; with
    the collector on, the allocations keep triggering collections that walk every object alive (the batch's
    own included): about a fifth of the rating CPU. The collector runs as usual between batches (a cycle made
    during a batch is collected then). Process-wide: a thread rating meanwhile is paused too, never wrong."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@transaction.atomic
def usage_rating_batch_run(*, batch_size: int = DEFAULT_BATCH_SIZE, actor: Actor = SYSTEM) -> BatchOutcome:
    """Claim up to `batch_size` pending events and rate them, all in one transaction. On PostgreSQL only events
    of customers no other worker is rating (see _customers_to_claim); nothing claimed and `held` > 0 means
    pending events exist but other workers are rating their customers."""
    pending = UsageEvent.objects.filter(state=UsageEvent.State.PENDING)
    held = left = 0
    if connection.vendor == "postgresql":
        customers, held, left = _customers_to_claim(batch_size)
        if not customers:
            return BatchOutcome(None, 0, 0, 0, 0, held=held)
        pending = pending.filter(customer_id__in=customers)
    with _collector_paused():
        rows = list(
            pending.order_by("id")
            .select_for_update(skip_locked=True)
            .values_list("id", "customer_id", "meter_id", "quantity", "timestamp", "event_id", "attributes")[
                :batch_size
            ]
        )
        if not rows:
            # PostgreSQL: their previous holder rated them between the look and the lock (counted as held: look again)
            return BatchOutcome(None, 0, 0, 0, 0, held=max(held, 1) if connection.vendor == "postgresql" else 0)
        ids = sorted(r[0] for r in rows)
        digest = hashlib.blake2b(",".join(map(str, ids)).encode(), digest_size=8).hexdigest()
        batch = RatingBatch.objects.create(
            key=f"r{ids[0]}-{ids[-1]}-{len(ids)}-{digest}", kind=RatingBatch.Kind.RATE, **_actor_fields(actor)
        )
        events = [
            EventInput(pk=pk, customer_id=c, meter_id=m, quantity=q, timestamp=ts, ref=ref, attributes=attrs or {})
            for pk, c, m, q, ts, ref, attrs in rows
        ]
        result = _run_isolated(batch=batch, actor=actor, events=events)
    batch.events, batch.superseded, batch.errors = result.written, result.superseded, result.errors
    batch.summary = {
        "claimed": len(rows),
        "customers": result.customers,
        "ledger": [[kind, entry, str(amount)] for kind, entry, amount in result.ledger_entries],
    }
    batch.save(update_fields=["events", "superseded", "errors", "summary"])
    _on_rated(batch, {e.customer_id for e in events})
    return BatchOutcome(batch.pk, len(rows), result.written, result.superseded, result.errors, held=held, left=left)


def usage_rate_pending(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    actor: Actor = SYSTEM,
    patience: float = DEFAULT_PATIENCE,
    on_batch: Callable[[BatchOutcome], None] | None = None,
) -> RatingSummary:
    """Rate everything pending, batch after batch (each batch is its own transaction). When other workers hold
    every customer with pending events, wait for them (short pauses, then look again: their batches commit and
    free their customers, or leave new events of theirs to share) for at most `patience` seconds in a row, then
    stop (`stopped="held"`: they are rating what is left). `on_batch` sees each claimed batch's outcome."""
    started = time.monotonic()
    batches = events = written = superseded = errors = 0
    stopped = "max_batches"
    idle_since: float | None = None
    pause = WAIT_FIRST
    while max_batches is None or batches < max_batches:
        outcome = usage_rating_batch_run(batch_size=batch_size, actor=actor)
        if not outcome.claimed:
            if not outcome.held:
                stopped = "done"
                break
            now = time.monotonic()
            idle_since = now if idle_since is None else idle_since
            if now - idle_since >= patience:
                stopped = "held"
                break
            time.sleep(pause)
            pause = min(pause * 2, WAIT_MAX)
            continue
        idle_since, pause = None, WAIT_FIRST
        batches += 1
        events += outcome.claimed
        written += outcome.written
        superseded += outcome.superseded
        errors += outcome.errors
        if on_batch is not None:
            on_batch(outcome)
    seconds = Decimal(str(round(time.monotonic() - started, 3)))
    return RatingSummary(batches, events, written, superseded, errors, seconds, stopped)


def usage_pending_exists() -> bool:
    """Whether any event waits to be rated (a task that stops checks it once more after giving up its slot, so
    events stored meanwhile are never left waiting for the sweep)."""
    return UsageEvent.objects.filter(state=UsageEvent.State.PENDING).exists()


def _rerate_inputs(*, customer_id: int, start: datetime, end: datetime) -> list[EventInput]:
    """A customer's events in [start, end) to re-rate: its current records, and its events that could not be
    rated (locked, skipping those another transaction holds)."""
    window = Q(timestamp__gte=start, timestamp__lt=end)
    records = RatedUsage.objects.filter(
        window, customer_id=customer_id, superseded_at__isnull=True, day__gte=start.date(), day__lte=end.date()
    ).only(*SUFFIX_FIELDS)
    errored = UsageEvent.objects.filter(window, customer_id=customer_id, state=UsageEvent.State.ERROR)
    return [
        EventInput(
            pk=r.event_id,
            customer_id=customer_id,
            meter_id=r.meter_id,
            quantity=r.quantity,
            timestamp=r.timestamp,
            ref=r.event_ref,
            current=r,
            attributes={"user": r.attr_user, "agent": r.attr_agent, "team": r.attr_team},
        )
        for r in records
    ] + [
        EventInput(
            pk=e.pk,
            customer_id=customer_id,
            meter_id=e.meter_id,
            quantity=e.quantity,
            timestamp=e.timestamp,
            ref=e.event_id,
            attributes=e.attributes or {},
        )
        for e in errored.select_for_update(skip_locked=True)
    ]


@transaction.atomic
def usage_rerate(
    *,
    start: datetime,
    end: datetime,
    customer_id: int | None = None,
    customer_ids: Sequence[int] | None = None,
    actor: Actor,
    reason: str = "",
    settle_over_limit: bool = False,
) -> RerateSummary:
    """Re-rate the usage with timestamps in [start, end) (one customer, the customers listed, or all) under
    today's terms: the versions in force at each timestamp, the contract terms, the meter costs. Records whose
    figures change are superseded; their drawn credits are reversed in the ledger and the new records are charged
    (one debit per customer). Events that could not be rated before are retried. Rollups are rebuilt.

    Customers are re-rated several at a time, in engine runs of about RERATE_CHUNK events (whole customers):
    memory stays bounded whatever the range, and the per-run work (terms, wallets, writes) is shared.
    `settle_over_limit`: records over the limit are settled again even where their price stands."""
    for name, value in (("start", start), ("end", end)):
        if value is None or value.tzinfo is None:
            raise ValidationFailed(f"The {name} needs a date and time with a time zone.", field=name)
    if end <= start:
        raise ValidationFailed("The end must be after the start.", field="end")
    batch = RatingBatch.objects.create(
        key=f"rerate-{uuid.uuid4().hex[:20]}",
        kind=RatingBatch.Kind.RERATE,
        range_start=start,
        range_end=end,
        customer_id=customer_id,
        reason=(reason or "")[:300],
        **_actor_fields(actor),
    )
    if customer_id is not None:
        wanted = [customer_id]
    elif customer_ids is not None:
        wanted = sorted(set(customer_ids))
    else:  # customers with usage in the range (from the rollups) or events that could not be rated
        wanted = sorted(
            set(
                DailyUsage.objects.filter(day__gte=start.date(), day__lte=end.date())
                .values_list("customer_id", flat=True)
                .distinct()
            )
            | set(
                UsageEvent.objects.filter(timestamp__gte=start, timestamp__lt=end, state=UsageEvent.State.ERROR)
                .values_list("customer_id", flat=True)
                .distinct()
            )
        )
    result = RunResult()
    looked_at = 0
    chunk: list[EventInput] = []
    lock_customers(wanted)  # one round trip, ascending as the engine takes them: no rating of them commits now on
    for position, one in enumerate(wanted, start=1):
        chunk += _rerate_inputs(customer_id=one, start=start, end=end)
        if chunk and (len(chunk) >= RERATE_CHUNK or position == len(wanted)):
            looked_at += len(chunk)
            result.merge(
                _run_isolated(
                    batch=batch, actor=actor, events=chunk, window=(start, end), settle_over_limit=settle_over_limit
                )
            )
            chunk = []
    before, after = _totals(result.totals_before), _totals(result.totals_after)
    difference = {name: after[name] - before[name] for name in TOTAL_FIELDS}
    batch.events, batch.superseded, batch.errors = result.written, result.superseded, result.errors
    batch.summary = {
        "events": looked_at,
        "customers": result.customers,
        "before": {k: str(v) for k, v in before.items()},
        "after": {k: str(v) for k, v in after.items()},
        "difference": {k: str(v) for k, v in difference.items()},
        "ledger": [[kind, entry, str(amount)] for kind, entry, amount in result.ledger_entries],
    }
    batch.save(update_fields=["events", "superseded", "errors", "summary"])
    if result.changed:
        _on_rated(batch, result.changed)
    return RerateSummary(
        batch_id=batch.pk,
        key=batch.key,
        start=start,
        end=end,
        customer_id=customer_id,
        events=looked_at,
        rerated=result.written,
        superseded=result.superseded,
        errors=result.errors,
        customers=result.customers,
        before=before,
        after=after,
        difference=difference,
        ledger=tuple(result.ledger_entries),
    )


def usage_rerate_after_approval(
    *, version_id: int, rate_table_id: int, effective_from: datetime, actor: Actor = SYSTEM
) -> RerateSummary | None:
    """A backdated version was approved: re-rate from its effective instant until the next approved version of
    the table that applies to all contracts takes over (or now). A later version limited to a cohort leaves the
    contracts outside it on the earlier versions, this one included (apps.catalog.cohorts), so it does not end
    the range."""
    now = timezone.now()
    if effective_from >= now:
        return None
    end = now + timedelta(minutes=10)  # events may be a few minutes ahead of the clock
    for version in rate_table_versions_approved(rate_table_ids=[rate_table_id]).get(rate_table_id, []):
        if version.effective_from > effective_from and version.cohort == Cohort.ALL:
            end = min(end, version.effective_from)
            break
    return usage_rerate(
        start=effective_from,
        end=end,
        actor=actor,
        reason=f"backdated version {version_id} of rate table {rate_table_id} approved",
    )
