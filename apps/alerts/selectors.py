"""Alert reads: lists with a fixed number of queries, badges, markers for the customer page's time axis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from apps.contracts.selectors import customer_ids_in_force
from apps.core.permissions import may_see_margin

from .models import Alert, AlertRule, Kind, NotificationDelivery, WebhookEndpoint

LIVE = (Alert.State.OPEN, Alert.State.ACKNOWLEDGED)
STATE_FILTERS = {
    "live": LIVE,
    "open": (Alert.State.OPEN,),
    "acknowledged": (Alert.State.ACKNOWLEDGED,),
    "resolved": (Alert.State.RESOLVED,),
    "all": (),
}
DEFAULT_STATE_FILTER = "live"


@dataclass(frozen=True)
class AlertFilters:
    kind: str = ""
    customer: str = ""  # external id
    state: str = DEFAULT_STATE_FILTER
    manager_id: int | None = None  # only the accounts this user manages
    include_margin: bool = True  # margin alerts carry margin: only for those who may see it


# Alerts whose value is a margin: shown only to those who may see margin (apps.core.permissions.may_see_margin).
MARGIN_KINDS = frozenset({Kind.NEGATIVE_MARGIN})


def carries_margin(alert: Alert) -> bool:
    return alert.kind in MARGIN_KINDS


def alert_list(*, filters: AlertFilters) -> QuerySet[Alert]:
    qs = (
        Alert.objects.select_related("customer", "meter", "acknowledged_by", "rule")
        .prefetch_related(Prefetch("deliveries", queryset=NotificationDelivery.objects.order_by("id")))
        .order_by("-fired_at", "-id")
    )
    states = STATE_FILTERS.get(filters.state, STATE_FILTERS[DEFAULT_STATE_FILTER])
    if states:
        qs = qs.filter(state__in=states)
    if filters.kind in Kind.values:
        qs = qs.filter(kind=filters.kind)
    if filters.customer:
        qs = qs.filter(customer__external_id=filters.customer)
    if filters.manager_id is not None:
        qs = qs.filter(customer__account_manager_id=filters.manager_id)
    if not filters.include_margin:
        qs = qs.exclude(kind__in=MARGIN_KINDS)
    return qs


def alert_get(*, alert_id: int) -> Alert | None:
    return (
        Alert.objects.select_related(
            "customer__account_manager", "meter", "acknowledged_by", "rule__customer", "rule__meter"
        )
        .prefetch_related(
            Prefetch("deliveries", queryset=NotificationDelivery.objects.select_related("endpoint").order_by("id"))
        )
        .filter(pk=alert_id)
        .first()
    )


def open_alert_count(user=None) -> int:
    """The nav badge: open (not yet acknowledged) alerts; an account manager counts their own accounts."""
    qs = Alert.objects.filter(state=Alert.State.OPEN)
    if user is not None and getattr(user, "is_authenticated", False) and user.accounts.exists():
        qs = qs.filter(customer__account_manager_id=user.pk)
    if user is not None and not may_see_margin(user):
        qs = qs.exclude(kind__in=MARGIN_KINDS)
    return qs.count()


def live_alerts_for_customer(*, customer_id: int, limit: int = 20, include_margin: bool = True) -> list[Alert]:
    qs = Alert.objects.select_related("meter", "acknowledged_by").filter(customer_id=customer_id, state__in=LIVE)
    if not include_margin:
        qs = qs.exclude(kind__in=MARGIN_KINDS)
    return list(qs.order_by("-fired_at", "-id")[:limit])


def recent_alerts_for_customer(*, customer_id: int, limit: int = 5, include_margin: bool = True) -> list[Alert]:
    qs = Alert.objects.filter(customer_id=customer_id, state=Alert.State.RESOLVED)
    if not include_margin:
        qs = qs.exclude(kind__in=MARGIN_KINDS)
    return list(qs.order_by("-fired_at", "-id")[:limit])


def live_counts(*, customer_ids) -> dict[int, int]:
    return dict(
        Alert.objects.filter(customer_id__in=list(customer_ids), state__in=LIVE)
        .values("customer_id")
        .annotate(n=Count("id"))
        .values_list("customer_id", "n")
    )


def open_alerts_overview(
    *, manager_id: int | None = None, limit: int = 8, include_margin: bool = True
) -> tuple[list[Alert], int]:
    qs = Alert.objects.select_related("customer").filter(state=Alert.State.OPEN)
    if not include_margin:
        qs = qs.exclude(kind__in=MARGIN_KINDS)
    if manager_id is not None:
        qs = qs.filter(customer__account_manager_id=manager_id)
    return list(qs.order_by("-fired_at", "-id")[:limit]), qs.count()


def customers_needing_attention(*, limit: int = 8) -> list[int]:
    """Customers with the most live alerts (for people who manage no accounts themselves)."""
    return list(
        Alert.objects.filter(state__in=LIVE)
        .values("customer_id")
        .annotate(n=Count("id"))
        .order_by("-n", "customer_id")
        .values_list("customer_id", flat=True)[:limit]
    )


@dataclass(frozen=True)
class TimelineMarker:
    at: datetime
    day: date
    label: str
    category: str  # the alert kind's label: one row per category on the timeline
    state: str  # open | acknowledged | resolved
    url: str = ""
    carries_margin: bool = False  # e.g. a margin alert: left out for those who may not see margin


def timeline_markers(*, customer_id: int, start: date, end: date) -> list[TimelineMarker]:
    """Alerts fired in a day range, as markers for the customer consumption page's time axis (insights)."""
    start_at = datetime.combine(start, time.min, tzinfo=UTC)
    end_at = datetime.combine(end, time.max, tzinfo=UTC)
    rows = Alert.objects.filter(
        Q(fired_at__gte=start_at, fired_at__lte=end_at) | Q(occurred_on__gte=start, occurred_on__lte=end),
        customer_id=customer_id,
    ).order_by("occurred_on", "fired_at", "id")
    labels = dict(Kind.choices)
    markers = []
    for a in rows:
        # placed when the data crossed the threshold (an alert found by a later evaluation sits on its day)
        at = (
            a.fired_at
            if a.fired_at.astimezone(UTC).date() == a.occurred_on
            else datetime.combine(a.occurred_on, time(12), tzinfo=UTC)
        )
        if not start_at <= at <= end_at:
            continue
        markers.append(
            TimelineMarker(
                at=at,
                day=a.occurred_on,
                label=a.message,
                category=labels.get(a.kind, a.kind),
                state=a.state,
                url=reverse("alerts:alert-detail", args=[a.pk]),
                carries_margin=a.kind in MARGIN_KINDS,
            )
        )
    return markers


@dataclass(frozen=True)
class RuleFilters:
    customer: str = ""
    kind: str = ""
    source: str = ""


def rule_list(*, filters: RuleFilters) -> QuerySet[AlertRule]:
    qs = (
        AlertRule.objects.select_related("customer", "meter", "contract", "created_by")
        .annotate(live=Count("alerts", filter=Q(alerts__state__in=LIVE)))
        .order_by("customer__name", "kind", "threshold", "id")
    )
    if filters.customer:
        if filters.customer == "-":
            qs = qs.filter(customer__isnull=True)
        else:
            qs = qs.filter(customer__external_id=filters.customer)
    if filters.kind in Kind.values:
        qs = qs.filter(kind=filters.kind)
    if filters.source in AlertRule.Source.values:
        qs = qs.filter(source=filters.source)
    return qs


def rule_get(*, rule_id: int) -> AlertRule | None:
    return AlertRule.objects.select_related("customer", "meter", "contract").filter(pk=rule_id).first()


def endpoint_list() -> list[WebhookEndpoint]:
    return list(
        WebhookEndpoint.objects.annotate(
            sent=Count("deliveries", filter=Q(deliveries__status=NotificationDelivery.Status.SENT)),
            failed=Count("deliveries", filter=Q(deliveries__status=NotificationDelivery.Status.FAILED)),
            retrying=Count("deliveries", filter=Q(deliveries__status=NotificationDelivery.Status.RETRYING)),
        ).order_by("name", "id")
    )


def endpoint_get(*, endpoint_id: int) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(pk=endpoint_id).first()


def recent_deliveries(*, status: str = "", channel: str = "", limit: int = 50) -> list[NotificationDelivery]:
    qs = NotificationDelivery.objects.select_related("alert__customer", "endpoint").order_by("-created_at", "-id")
    if status in NotificationDelivery.Status.values:
        qs = qs.filter(status=status)
    if channel in NotificationDelivery.Channel.values:
        qs = qs.filter(channel=channel)
    return list(qs[:limit])


def customers_to_evaluate(*, now: datetime | None = None) -> list[int]:
    """Customers with a contract in force or a live alert (the periodic sweep)."""
    now = now or timezone.now()
    ids = customer_ids_in_force(at=now)
    ids |= set(Alert.objects.filter(state__in=LIVE).values_list("customer_id", flat=True))
    return sorted(ids)


def kind_choices() -> list[tuple[str, Any]]:
    return list(Kind.choices)
