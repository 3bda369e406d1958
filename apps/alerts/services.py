"""Alert writes: rules (default rules synced from contracts, custom rules), evaluation (fire once per crossing,
resolve on clear), acknowledgement, webhook endpoints and notification deliveries.

Evaluation runs after each rating batch (usage's `usage_rated` signal -> a Celery task) and periodically (beat).
Firing inserts under two unique constraints (see models.py); a concurrent or repeated evaluation that loses
the race gets an IntegrityError inside a savepoint and simply does not fire, and notifications are queued only
for alerts this transaction inserted, after it commits.
"""
from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.money import ZERO, to_decimal

from . import evaluation
from .models import METER_KINDS, Alert, AlertRule, Kind, NotificationDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

WALLET_MODELS = ("prepaid", "hybrid")
DEFAULT_RUNWAY_DAYS = Decimal(7)
DEFAULT_SPIKE_MULTIPLE = Decimal(3)
GLOBAL_MARGIN_KEY = "global:negative_margin"
LOCK_NAMESPACE = 0x414C5254 << 32  # "ALRT": advisory lock keys per customer
LIVE = (Alert.State.OPEN, Alert.State.ACKNOWLEDGED)


# --- rules ----------------------------------------------------------------------------------------------------

def _validate_rule(*, kind: str, threshold, meter_id: int | None) -> Decimal:
    if kind not in Kind.values:
        raise ValidationFailed("Choose a rule type.", field="kind")
    value = to_decimal(threshold, field="threshold")
    if kind == Kind.NEGATIVE_MARGIN:
        if not Decimal(-1000) <= value <= Decimal(100):
            raise ValidationFailed("A margin threshold is a percentage between -1000 and 100.", field="threshold")
    elif value <= 0:
        raise ValidationFailed("The threshold must be above zero.", field="threshold")
    if kind == Kind.INCLUDED_USAGE and value > 1000:
        raise ValidationFailed("Included usage thresholds are percentages (e.g. 90).", field="threshold")
    if kind == Kind.DAILY_SPIKE and value <= 1:
        raise ValidationFailed("A spike is a multiple above 1 of the usual day (e.g. 3).", field="threshold")
    if meter_id is not None and kind not in METER_KINDS:
        raise ValidationFailed("This rule type concerns the whole account, not one meter.", field="meter")
    return value


@transaction.atomic
def alert_rule_create(*, kind: str, threshold, actor: Actor, customer_id: int | None = None,
                      meter_id: int | None = None, note: str = "", enabled: bool = True) -> AlertRule:
    value = _validate_rule(kind=kind, threshold=threshold, meter_id=meter_id)
    rule = AlertRule(kind=kind, threshold=value, customer_id=customer_id, meter_id=meter_id, note=note[:300],
                     enabled=enabled, source=AlertRule.Source.CUSTOM, created_by=actor.user)
    _stamp(rule, actor=actor, reason="rule added")
    rule.save()
    return rule


@transaction.atomic
def alert_rule_update(*, rule_id: int, threshold, enabled: bool, actor: Actor, note: str | None = None,
                      meter_id: int | None = ...) -> AlertRule:
    rule = AlertRule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("No such alert rule.")
    if meter_id is not ...:
        if rule.source == AlertRule.Source.DEFAULT and meter_id != rule.meter_id:
            raise ValidationFailed("A contract's default rule watches every meter; add a custom rule for one meter.",
                                   field="meter")
        rule.meter_id = meter_id
    rule.threshold = _validate_rule(kind=rule.kind, threshold=threshold, meter_id=rule.meter_id)
    rule.enabled = bool(enabled)
    if note is not None:
        rule.note = note[:300]
    if rule.source == AlertRule.Source.DEFAULT:
        rule.customized = True
    _stamp(rule, actor=actor, reason="rule edited")
    rule.save()
    return rule


def _default_specs(terms) -> dict[str, tuple[str, Decimal]]:
    """default_key -> (kind, threshold) for a contract's terms."""
    specs: dict[str, tuple[str, Decimal]] = {}
    if terms.allowances:
        for t in sorted(set(terms.alert_thresholds)):
            specs[f"included_usage:{t}"] = (Kind.INCLUDED_USAGE, Decimal(t))
    if terms.billing_model in WALLET_MODELS:
        specs["runway_below"] = (Kind.RUNWAY_BELOW, DEFAULT_RUNWAY_DAYS)
    specs["daily_spike"] = (Kind.DAILY_SPIKE, DEFAULT_SPIKE_MULTIPLE)
    return specs


def _sync_global_defaults() -> None:
    if not AlertRule.objects.filter(contract__isnull=True, default_key=GLOBAL_MARGIN_KEY).exists():
        try:
            with transaction.atomic():
                AlertRule.objects.create(kind=Kind.NEGATIVE_MARGIN, threshold=ZERO, source=AlertRule.Source.DEFAULT,
                                         default_key=GLOBAL_MARGIN_KEY,
                                         note="Every customer: a meter's charged usage earned less than it cost.")
        except IntegrityError:
            pass


def alert_rules_sync_defaults(*, terms_by_customer: dict) -> None:
    """Create the default rules of each contract in force (idempotent: unique per contract and key); disable
    defaults the contract no longer implies, unless a person edited them."""
    _sync_global_defaults()
    if not terms_by_customer:
        return
    contract_ids = [t.id for t in terms_by_customer.values()]
    existing: dict[int, dict[str, AlertRule]] = {}
    for rule in AlertRule.objects.filter(contract_id__in=contract_ids):
        existing.setdefault(rule.contract_id, {})[rule.default_key] = rule
    for customer_id, terms in terms_by_customer.items():
        have = existing.get(terms.id, {})
        wanted = _default_specs(terms)
        for key, (kind, threshold) in wanted.items():
            rule = have.get(key)
            if rule is None:
                try:
                    with transaction.atomic():
                        AlertRule.objects.create(kind=kind, threshold=threshold, customer_id=customer_id,
                                                 contract_id=terms.id, default_key=key,
                                                 source=AlertRule.Source.DEFAULT)
                except IntegrityError:
                    pass  # created concurrently
            elif not rule.enabled and not rule.customized:
                AlertRule.objects.filter(pk=rule.pk).update(enabled=True)
        for key, rule in have.items():
            if key not in wanted and rule.enabled and not rule.customized:
                AlertRule.objects.filter(pk=rule.pk).update(enabled=False)


# --- evaluation -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvaluationSummary:
    customers: int
    fired: int
    resolved: int
    alert_ids: tuple[int, ...] = ()


def _lock_customer(customer_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_NAMESPACE + int(customer_id)])


def _figures(customer, terms, rules, *, now: datetime, meters) -> evaluation.Figures:
    from apps.usage.dashboard_selectors import daily_quantities, meter_days_between, period_totals, utc_today

    today = utc_today(now)
    if terms is not None:
        start, end = terms.period(now)
        start = max(start, terms.starts_at)
        period_start, period_end = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    else:
        period_start, period_end = today.replace(day=1), None
    kinds = {r.kind for r in rules}
    earliest = min(period_start, today - timedelta(days=evaluation.SPIKE_TRAILING_DAYS + 1))
    rows = meter_days_between(customer_id=customer.pk, start=earliest, end=today)
    # Margin is judged on price: the billed amount (credits at the contract's credit price) against the cost of
    # what the included allowance did not cover (as on the margin page).
    unit_value = Decimal(1)
    if terms is not None and terms.pricing_unit.lower() == "credits":
        unit_value = terms.credit_price
    period = {m: (t.quantity, t.amount * unit_value, t.charged_cost, t.overage_amount)
              for m, t in period_totals(rows, start=period_start).items()}
    fig = evaluation.Figures(
        customer_name=customer.name, today=today, now=now, period_start=period_start, period_end=period_end,
        billing_model=terms.billing_model if terms else "", currency=terms.currency if terms else "USD",
        allowances=dict(terms.allowances) if terms else {}, daily=daily_quantities(rows), period=period,
        meters={m.id: evaluation.MeterRef(m.id, m.code, m.unit_plural) for m in meters.values()})
    if kinds & {Kind.BALANCE_BELOW, Kind.RUNWAY_BELOW}:
        from apps.usage.dashboard_selectors import customer_runway
        from apps.wallets.selectors import wallet_of

        wallet = wallet_of(customer_id=customer.pk)
        if wallet is not None:
            fig.has_wallet = True
            fig.balance = wallet.balance
            if Kind.RUNWAY_BELOW in kinds:
                runway = customer_runway(customer_id=customer.pk, now=now)
                fig.runway_days = runway.days_left
                fig.runs_out_on = runway.runs_out_on
                fig.burn_per_day = runway.burn_per_day
    return fig


def _applicable_rules(customer_id: int, terms) -> list[AlertRule]:
    q = Q(customer__isnull=True) | Q(customer_id=customer_id, contract__isnull=True)
    if terms is not None:
        q |= Q(customer_id=customer_id, contract_id=terms.id)
    return list(AlertRule.objects.filter(q, enabled=True).order_by("kind", "threshold", "id"))


@transaction.atomic
def alerts_evaluate(*, customer_ids, now: datetime | None = None, batch_id: int | None = None,
                    notify: bool = True) -> EvaluationSummary:
    """Evaluate every applicable rule for the customers; fire new crossings, resolve cleared ones.
    `notify=False` (demo seeding) records alerts without emailing or posting them."""
    from apps.contracts.selectors import contracts_in_force
    from apps.contracts.models import Customer
    from apps.usage.dashboard_selectors import meter_infos

    now = now or timezone.now()
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return EvaluationSummary(0, 0, 0)
    notify = notify and settings.RATEDESK.get("ALERTS_NOTIFY", True)
    terms_by_customer = contracts_in_force(customer_ids=ids, at=now)
    alert_rules_sync_defaults(terms_by_customer=terms_by_customer)
    meters = meter_infos()
    fired: list[int] = []
    resolved = 0
    customers = {c.pk: c for c in Customer.objects.select_related("account_manager").filter(pk__in=ids)}
    for customer_id in ids:
        customer = customers.get(customer_id)
        if customer is None:
            continue
        _lock_customer(customer_id)
        terms = terms_by_customer.get(customer_id)
        rules = _applicable_rules(customer_id, terms)
        fig = _figures(customer, terms, rules, now=now, meters=meters)
        conditions = [c for rule in rules for c in evaluation.conditions_for(
            evaluation.RuleView(rule.id, rule.kind, rule.threshold, rule.meter_id), fig)]
        new_ids, n_resolved = _reconcile(customer, rules, conditions, now=now, batch_id=batch_id, notify=notify)
        fired.extend(new_ids)
        resolved += n_resolved
    if fired and notify:
        _queue_notifications(fired)
    return EvaluationSummary(len(ids), len(fired), resolved, tuple(fired))


def _reconcile(customer, rules, conditions, *, now: datetime, batch_id: int | None,
               notify: bool = True) -> tuple[list[int], int]:
    rule_by_id = {r.id: r for r in rules}
    live = {(a.rule_id, a.subject, a.window): a
            for a in Alert.objects.filter(customer_id=customer.pk, state__in=LIVE)}
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
        reason = "rule disabled or no longer applies" if rule is None else (
            "the day is over" if alert.kind == Kind.DAILY_SPIKE else "the window ended")
        _resolve(alert, now=now, value=None, reason=reason)
        resolved += 1
    if to_fire:
        seqs = {(r["rule_id"], r["subject"], r["window"]): r["top"] for r in
                Alert.objects.filter(customer_id=customer.pk, rule_id__in={c.rule_id for c in to_fire},
                                     window__in={c.window for c in to_fire})
                .values("rule_id", "subject", "window").annotate(top=Max("seq"))}
        for cond in to_fire:
            seq = seqs.get((cond.rule_id, cond.subject, cond.window), 0) + 1
            alert = Alert(rule_id=cond.rule_id, customer_id=customer.pk, kind=cond.kind, meter_id=cond.meter_id,
                          subject=cond.subject, window=cond.window, seq=seq, state=Alert.State.OPEN,
                          value=cond.value if cond.value is not None else ZERO, threshold=cond.threshold,
                          unit=cond.unit[:12], message=cond.message,
                          detail=cond.detail if notify else {**cond.detail, "notified": False},
                          occurred_on=cond.occurred_on, fired_at=now, last_value=cond.value,
                          last_evaluated_at=now, batch_id=batch_id)
            try:
                with transaction.atomic():
                    alert.save(force_insert=True)
            except IntegrityError:
                continue  # fired by a concurrent evaluation: once only
            fired.append(alert.pk)
    return fired, resolved


def _resolve(alert: Alert, *, now: datetime, value, reason: str) -> None:
    Alert.objects.filter(pk=alert.pk, state__in=LIVE).update(
        state=Alert.State.RESOLVED, resolved_at=now, resolved_value=value, resolve_reason=reason[:200],
        last_evaluated_at=now)


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


# --- notifications --------------------------------------------------------------------------------------------

def site_url() -> str:
    return str(getattr(settings, "RATEDESK", {}).get("SITE_URL", "http://127.0.0.1:8000")).rstrip("/")


def alert_payload(alert: Alert) -> dict:
    from django.urls import reverse

    return {
        "event": "alert.fired",
        "alert": {
            "id": alert.pk, "kind": alert.kind, "state": alert.state, "customer": alert.customer.external_id,
            "customer_name": alert.customer.name, "meter": alert.subject or None, "window": alert.window,
            "crossing": alert.seq, "value": format(alert.value.normalize(), "f"),
            "threshold": format(alert.threshold.normalize(), "f"), "unit": alert.unit,
            "message": alert.message, "occurred_on": alert.occurred_on.isoformat(),
            "fired_at": alert.fired_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "url": site_url() + reverse("alerts:alert-detail", args=[alert.pk]),
        },
    }


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """X-Ratedesk-Signature value: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<exact body>" under the endpoint's
    secret>. Signed at each send, so a captured delivery cannot be replayed once the timestamp is stale."""
    from .webhooks import signature_header

    return signature_header(secret, body, timestamp=timestamp)


def verify_signature(secret: str, body: bytes, header: str, *, now: float | None = None) -> bool:
    from .webhooks import verify_signature_header

    return verify_signature_header(secret, body, header, now=now)


def _queue_notifications(alert_ids: list[int]) -> None:
    """Create one delivery per recipient (email to the account manager, each matching webhook) and send them
    after the transaction commits."""
    alerts = list(Alert.objects.select_related("customer__account_manager").filter(pk__in=alert_ids))
    endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
    deliveries = []
    for alert in alerts:
        manager = alert.customer.account_manager
        if manager is not None and manager.email:
            deliveries.append(NotificationDelivery(alert=alert, channel=NotificationDelivery.Channel.EMAIL,
                                                   recipient=manager.email))
        payload = None
        for endpoint in endpoints:
            if not endpoint.wants(alert.kind):
                continue
            if payload is None:
                payload = json.dumps(alert_payload(alert), separators=(",", ":"), sort_keys=True)
            deliveries.append(NotificationDelivery(
                alert=alert, channel=NotificationDelivery.Channel.WEBHOOK, endpoint=endpoint, recipient=endpoint.url,
                body=payload))  # signed at each send, with that moment's timestamp
    created = []
    for delivery in deliveries:
        try:
            with transaction.atomic():
                delivery.save(force_insert=True)
        except IntegrityError:
            continue
        created.append(delivery.pk)
    if created:
        from apps.core.queueing import enqueue_on_commit

        from .tasks import deliver_notification_task

        for pk in created:  # a broker outage must not fail the rating that triggered it; the sweep re-queues
            enqueue_on_commit(deliver_notification_task, pk)


class TransientDeliveryError(Exception):
    """A failure worth retrying (network error, timeout, HTTP 5xx or 429)."""


class PermanentDeliveryError(Exception):
    """A failure retrying will not fix (HTTP 4xx, no recipient)."""


def _post_webhook(delivery: NotificationDelivery) -> int:
    from . import webhooks

    body = delivery.body.encode()
    timeout = int(getattr(settings, "RATEDESK", {}).get("ALERTS_WEBHOOK_TIMEOUT_SECONDS", 5))
    secret = delivery.endpoint.secret if delivery.endpoint is not None else ""
    if not secret:
        raise PermanentDeliveryError("endpoint removed")
    signature = sign(secret, body)
    NotificationDelivery.objects.filter(pk=delivery.pk).update(signature=signature[:100])
    headers = {"Content-Type": "application/json", "User-Agent": "Ratedesk-Alerts/1",
               "X-Ratedesk-Event": "alert.fired", "X-Ratedesk-Delivery": str(delivery.pk),
               "X-Ratedesk-Signature": signature}
    try:
        return webhooks.post(delivery.recipient, body, headers, timeout=timeout)
    except webhooks.DeliveryFailure as exc:
        if exc.transient:
            raise TransientDeliveryError(str(exc)) from None
        raise PermanentDeliveryError(str(exc)) from None


def _send_email(delivery: NotificationDelivery) -> None:
    from django.core.mail import EmailMessage

    alert = delivery.alert
    payload = alert_payload(alert)["alert"]
    subject = f"[Ratedesk] {alert.customer.name}: {alert.get_kind_display().lower()}"
    lines = [alert.message, "", f"Value: {payload['value']} {alert.unit}", f"Threshold: {payload['threshold']} "
             f"{alert.unit}", f"Customer: {alert.customer.name} ({alert.customer.external_id})",
             f"Window: {alert.window}", "", f"Acknowledge it here: {payload['url']}"]
    EmailMessage(subject=subject[:200], body="\n".join(lines), from_email=settings.DEFAULT_FROM_EMAIL,
                 to=[delivery.recipient]).send()


MAX_ATTEMPTS = 5


def max_attempts() -> int:
    return int(getattr(settings, "RATEDESK", {}).get("ALERTS_DELIVERY_MAX_ATTEMPTS", MAX_ATTEMPTS))


def retry_delay(attempt: int) -> int:
    """Seconds before the next attempt: 30 s, 2 min, 8 min, 32 min, then hourly."""
    return min(30 * 4 ** (attempt - 1), 3600)


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> NotificationDelivery | None:
    """One attempt at a delivery; records it. Raises TransientDeliveryError when a retry should follow
    (the task retries with backoff), never for a delivery that is done."""
    with transaction.atomic():
        delivery = (NotificationDelivery.objects.select_for_update(of=("self",))
                    .select_related("alert__customer", "endpoint").filter(pk=delivery_id).first())
        if delivery is None or delivery.status in (NotificationDelivery.Status.SENT,
                                                   NotificationDelivery.Status.FAILED):
            return delivery
        delivery.attempts += 1
        attempt = delivery.attempts
        delivery.save(update_fields=["attempts", "updated_at"])
    now = now or timezone.now()
    status, error, code = NotificationDelivery.Status.SENT, "", None
    transient = False
    try:
        if delivery.channel == NotificationDelivery.Channel.EMAIL:
            _send_email(delivery)
        else:
            if delivery.endpoint is not None and not delivery.endpoint.is_active:
                raise PermanentDeliveryError("endpoint deactivated")
            code = _post_webhook(delivery)
    except TransientDeliveryError as exc:
        transient, error = True, str(exc) or exc.__class__.__name__
    except PermanentDeliveryError as exc:
        status, error = NotificationDelivery.Status.FAILED, str(exc)
    except Exception as exc:  # email backend errors (SMTP) are transient as far as we can tell
        log.warning("delivery %s failed", delivery_id, exc_info=True)
        transient, error = True, f"{exc.__class__.__name__}"
    if transient:
        if attempt >= max_attempts():
            status = NotificationDelivery.Status.FAILED
            error = f"{error} (gave up after {attempt} attempts)"
        else:
            status = NotificationDelivery.Status.RETRYING
    if error.startswith("HTTP "):
        code = int(error.split()[1])  # "HTTP 503", "HTTP 302 (redirects are not followed)"
    entry = {"attempt": attempt, "at": now.isoformat(), "status": status, "error": error[:300],
             "response_status": code}
    with transaction.atomic():
        delivery = NotificationDelivery.objects.select_for_update().get(pk=delivery_id)
        delivery.status = status
        delivery.last_error = error[:500]
        delivery.response_status = code
        delivery.log = [*delivery.log, entry]
        if status == NotificationDelivery.Status.SENT:
            delivery.sent_at = now
            delivery.next_attempt_at = None
        elif status == NotificationDelivery.Status.RETRYING:
            delivery.next_attempt_at = now + timedelta(seconds=retry_delay(attempt))
        else:
            delivery.next_attempt_at = None
        delivery.save(update_fields=["status", "last_error", "response_status", "log", "sent_at", "next_attempt_at",
                                     "updated_at"])
    if status == NotificationDelivery.Status.RETRYING:
        raise TransientDeliveryError(error)
    return delivery


def deliveries_due(*, now: datetime | None = None) -> list[int]:
    """Deliveries a lost task left behind (pending for a while, or retrying past their time): for the sweeper."""
    now = now or timezone.now()
    return list(NotificationDelivery.objects.filter(
        Q(status=NotificationDelivery.Status.PENDING, created_at__lte=now - timedelta(minutes=5))
        | Q(status=NotificationDelivery.Status.RETRYING, next_attempt_at__lte=now - timedelta(minutes=5)))
        .values_list("pk", flat=True)[:500])


# --- webhook endpoints -----------------------------------------------------------------------------------------

def _validate_endpoint(*, name: str, url: str, kinds) -> tuple[str, str, list[str]]:
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the endpoint a name.", field="name")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationFailed("Enter an http(s) URL.", field="url") from None
    from .webhooks import validate_webhook_url

    validate_webhook_url(url)
    kinds = [k for k in (kinds or []) if k]
    unknown = [k for k in kinds if k not in Kind.values]
    if unknown:
        raise ValidationFailed(f"Unknown alert kinds: {', '.join(unknown)}.", field="kinds")
    return name[:100], url, kinds


@transaction.atomic
def webhook_endpoint_create(*, name: str, url: str, actor: Actor, kinds=None, secret: str = "") -> WebhookEndpoint:
    name, url, kinds = _validate_endpoint(name=name, url=url, kinds=kinds)
    endpoint = WebhookEndpoint(name=name, url=url, kinds=kinds, secret=secret or f"whsec_{secrets.token_hex(24)}",
                               created_by=actor.user)
    _stamp(endpoint, actor=actor, reason="endpoint added")
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_update(*, endpoint_id: int, name: str, url: str, is_active: bool, actor: Actor,
                            kinds=None, rotate_secret: bool = False) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    endpoint.name, endpoint.url, endpoint.kinds = _validate_endpoint(name=name, url=url, kinds=kinds)
    endpoint.is_active = bool(is_active)
    if rotate_secret:
        endpoint.secret = f"whsec_{secrets.token_hex(24)}"
    _stamp(endpoint, actor=actor, reason="endpoint edited")
    endpoint.save()
    return endpoint


def _stamp(instance, *, actor: Actor, reason: str) -> None:
    """History attribution: simple_history reads these on save."""
    instance._change_reason = (reason or "").strip()[:100] or None
    if actor.user is not None:
        instance._history_user = actor.user
