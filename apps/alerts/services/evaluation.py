"""Alert evaluation: fire once per crossing, resolve on clear, acknowledge.

Evaluation runs after each rating batch (usage's `usage_rated` signal -> a Celery task) and periodically (beat).
Firing inserts under two unique constraints (see models.py); a concurrent or repeated evaluation that loses
the race gets an IntegrityError inside a savepoint and simply does not fire, and notifications are queued only
for alerts this transaction inserted, after it commits. The figures come from the lower apps' selectors:
period totals and daily quantities from usage, the runway from wallets, the meters from the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from apps.catalog.selectors import meter_catalog
from apps.contracts.selectors import contracts_in_force, customers_by_id
from apps.core.actors import Actor
from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.locks import advisory_xact_lock
from apps.core.money import ZERO
from apps.usage.selectors import daily_quantities, meter_days_between, period_totals
from apps.wallets.selectors import auto_topups, credits_consumed, wallet_of, wallet_runway

from .. import evaluation
from ..models import Alert, AlertRule, Kind
from .notifications import _queue_notifications
from .rules import alert_rules_sync_defaults

LOCK_NAMESPACE = 0x414C5254 << 32  # "ALRT": advisory lock keys per customer
LIVE = (Alert.State.OPEN, Alert.State.ACKNOWLEDGED)


@dataclass(frozen=True)
class EvaluationSummary:
    customers: int
    fired: int
    resolved: int
    alert_ids: tuple[int, ...] = ()


def _lock_customer(customer_id: int) -> None:
    advisory_xact_lock(LOCK_NAMESPACE, [customer_id])


def _figures(customer, terms, rules, *, now: datetime, meters) -> evaluation.Figures:
    today = now.astimezone(UTC).date()
    if terms is not None:
        start, end = terms.billing_period(now)
        period_start, period_end = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    else:
        period_start, period_end = today.replace(day=1), None
    kinds = {r.kind for r in rules}
    earliest = min(period_start, today - timedelta(days=evaluation.SPIKE_TRAILING_DAYS + 1))
    rows = meter_days_between(customer_id=customer.pk, start=earliest, end=today)
    # Margin is judged on price: the billed amount (credits at the contract's credit price) against the cost of
    # what the included allowance did not cover (as on the margin page).
    unit_value = terms.unit_value if terms is not None else Decimal(1)
    period = {
        m: (t.quantity, t.amount * unit_value, t.charged_cost, t.overage_amount)
        for m, t in period_totals(rows, start=period_start).items()
    }
    fig = evaluation.Figures(
        customer_name=customer.name,
        today=today,
        now=now,
        period_start=period_start,
        period_end=period_end,
        billing_model=terms.billing_model if terms else "",
        currency=terms.currency if terms else "USD",
        allowances=dict(terms.allowances) if terms else {},
        daily=daily_quantities(rows),
        period=period,
        meters={m.id: evaluation.MeterRef(m.id, m.code, m.unit_plural) for m in meters},
    )
    if kinds & {Kind.BALANCE_BELOW, Kind.RUNWAY_BELOW}:
        wallet = wallet_of(customer_id=customer.pk)
        if wallet is not None:
            fig.has_wallet = True
            fig.balance = wallet.balance
            if Kind.RUNWAY_BELOW in kinds:
                runway = wallet_runway(customer_id=customer.pk, now=now)
                fig.runway_days = runway.days_left
                fig.runs_out_on = runway.runs_out_on
                fig.burn_per_day = runway.burn_per_day
    if terms is not None and kinds & {Kind.AUTO_TOPUP, Kind.SPEND_LIMIT}:
        _policy_figures(fig, customer.pk, terms, now=now)
    return fig


def _policy_figures(fig: evaluation.Figures, customer_id: int, terms, *, now: datetime) -> None:
    """Credit policies (issue #11): this period's auto top-ups and consumption against the spend limit."""
    start, end = terms.billing_period(now)
    fig.topups = [(t.grant_id, t.at, t.amount) for t in auto_topups(customer_id=customer_id, start=start, end=end)]
    if terms.wallet_backed:
        fig.spend_used = credits_consumed(customer_id=customer_id, start=start, end=end)
        fig.spend_unit = "credits"
    else:
        fig.spend_used = sum((v[3] for v in fig.period.values()), ZERO)
        fig.spend_unit = terms.currency


def _applicable_rules(customer_id: int, terms) -> list[AlertRule]:
    q = Q(customer__isnull=True) | Q(customer_id=customer_id, contract__isnull=True)
    if terms is not None:
        q |= Q(customer_id=customer_id, contract_id=terms.id)
    return list(AlertRule.objects.filter(q, enabled=True).order_by("kind", "threshold", "id"))


@transaction.atomic
def alerts_evaluate(
    *, customer_ids, now: datetime | None = None, batch_id: int | None = None, notify: bool = True
) -> EvaluationSummary:
    """Evaluate every applicable rule for the customers; fire new crossings, resolve cleared ones.
    `notify=False` (demo seeding) records alerts without emailing or posting them."""
    now = now or timezone.now()
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return EvaluationSummary(0, 0, 0)
    notify = notify and settings.RATEDESK.get("ALERTS_NOTIFY", True)
    terms_by_customer = contracts_in_force(customer_ids=ids, at=now)
    alert_rules_sync_defaults(terms_by_customer=terms_by_customer)
    meters = meter_catalog()
    fired: list[int] = []
    resolved = 0
    customers = customers_by_id(customer_ids=ids)
    for customer_id in ids:
        customer = customers.get(customer_id)
        if customer is None:
            continue
        _lock_customer(customer_id)
        terms = terms_by_customer.get(customer_id)
        rules = _applicable_rules(customer_id, terms)
        fig = _figures(customer, terms, rules, now=now, meters=meters)
        conditions = [
            c
            for rule in rules
            for c in evaluation.conditions_for(
                evaluation.RuleView(rule.id, rule.kind, rule.threshold, rule.meter_id), fig
            )
        ]
        new_ids, n_resolved = _reconcile(customer, rules, conditions, now=now, batch_id=batch_id, notify=notify)
        fired.extend(new_ids)
        resolved += n_resolved
    if fired and notify:
        _queue_notifications(fired)
    return EvaluationSummary(len(ids), len(fired), resolved, tuple(fired))


def _reconcile(
    customer, rules, conditions, *, now: datetime, batch_id: int | None, notify: bool = True
) -> tuple[list[int], int]:
    rule_by_id = {r.id: r for r in rules}
    live = {(a.rule_id, a.subject, a.window): a for a in Alert.objects.filter(customer_id=customer.pk, state__in=LIVE)}
    seen: set[tuple] = set()
    fired: list[int] = []
    resolved = 0
    to_fire = []
    for cond in conditions:
        key = (cond.rule_id, cond.subject, cond.window)
        seen.add(key)
        alert = live.get(key)
        if cond.active and alert is None:
            to_fire.append(cond)
        elif cond.active and alert is not None:
            Alert.objects.filter(pk=alert.pk).update(last_value=cond.value, last_evaluated_at=now)
        elif not cond.active and alert is not None:
            _resolve(alert, now=now, value=cond.value, reason="condition cleared")
            resolved += 1
    # Live alerts nothing evaluated any more: their window passed, or the rule no longer applies.
    for key, alert in live.items():
        if key in seen:
            continue
        rule = rule_by_id.get(alert.rule_id)
        reason = (
            "rule disabled or no longer applies"
            if rule is None
            else ("the day is over" if alert.kind == Kind.DAILY_SPIKE else "the window ended")
        )
        _resolve(alert, now=now, value=None, reason=reason)
        resolved += 1
    if to_fire:
        seqs = {
            (r["rule_id"], r["subject"], r["window"]): r["top"]
            for r in Alert.objects.filter(
                customer_id=customer.pk,
                rule_id__in={c.rule_id for c in to_fire},
                window__in={c.window for c in to_fire},
            )
            .values("rule_id", "subject", "window")
            .annotate(top=Max("seq"))
        }
        for cond in to_fire:
            seq = seqs.get((cond.rule_id, cond.subject, cond.window), 0) + 1
            alert = Alert(
                rule_id=cond.rule_id,
                customer_id=customer.pk,
                kind=cond.kind,
                meter_id=cond.meter_id,
                subject=cond.subject,
                window=cond.window,
                seq=seq,
                state=Alert.State.OPEN,
                value=cond.value if cond.value is not None else ZERO,
                threshold=cond.threshold,
                unit=cond.unit[:12],
                message=cond.message,
                detail=cond.detail if notify else {**cond.detail, "notified": False},
                occurred_on=cond.occurred_on,
                fired_at=now,
                last_value=cond.value,
                last_evaluated_at=now,
                batch_id=batch_id,
            )
            try:
                with transaction.atomic():
                    alert.save(force_insert=True)
            except IntegrityError:
                continue  # fired by a concurrent evaluation: once only
            fired.append(alert.pk)
    return fired, resolved


def _resolve(alert: Alert, *, now: datetime, value, reason: str) -> None:
    Alert.objects.filter(pk=alert.pk, state__in=LIVE).update(
        state=Alert.State.RESOLVED,
        resolved_at=now,
        resolved_value=value,
        resolve_reason=reason[:200],
        last_evaluated_at=now,
    )


@transaction.atomic
def alert_acknowledge(*, alert_id: int, note: str, actor: Actor, now: datetime | None = None) -> Alert:
    alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise NotFound("No such alert.")
    note = (note or "").strip()
    if not note:
        raise ValidationFailed("Say what you did or will do about it.", field="note")
    if alert.state != Alert.State.OPEN:
        raise Conflict(f"This alert is already {alert.get_state_display().lower()}.", code="not_open")
    alert.state = Alert.State.ACKNOWLEDGED
    alert.acknowledged_at = now or timezone.now()
    alert.acknowledged_by = actor.user
    alert.acknowledge_note = note[:2000]
    alert.save(update_fields=["state", "acknowledged_at", "acknowledged_by", "acknowledge_note"])
    return alert
