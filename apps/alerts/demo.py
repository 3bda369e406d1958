"""Demo alert rules and alerts: the contracts' default rules, a few rules people added, then one evaluation of
every customer over the demo usage (so the alert list, badges and the customers' time axes have something real).
Idempotent: rules are looked up before they are added, and evaluation fires each crossing once."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model

from apps.contracts.selectors import customer_ids_by_external_id
from apps.core.actors import SYSTEM, Actor
from apps.core.progress import ProgressBar

from .models import AlertRule, Kind
from .selectors import customers_to_evaluate
from .services import alert_rule_create, alerts_evaluate

# (customer external id, kind, threshold, note)
CUSTOM_RULES = [
    ("acme", Kind.BALANCE_BELOW, Decimal(20000), "Finance wants a call before the commit runs dry."),
    ("globex", Kind.POSTPAID_SPEND_ABOVE, Decimal(2500), "Budget agreed with their procurement for a month."),
    ("hooli", Kind.POSTPAID_SPEND_ABOVE, Decimal(4000), "Quarterly budget check-in."),
    ("initech", Kind.RUNWAY_BELOW, Decimal(21), "Three weeks' notice for a top-up."),
    ("cyberdyne", Kind.DAILY_SPIKE, Decimal(2), "Agents in production: watch for runaway loops."),
    (None, Kind.RUNWAY_BELOW, Decimal(3), "Every customer: three days before a hard stop."),
]


def _user(username: str):
    return get_user_model().objects.filter(username=username).first()


def seed(*, stdout, size: str = "small") -> None:
    owner = _user("am") or _user("owner")
    actor = Actor(user=owner) if owner else SYSTEM
    customers = customer_ids_by_external_id(e for e, *_ in CUSTOM_RULES if e)
    for external_id, kind, threshold, note in CUSTOM_RULES:
        customer_id = customers.get(external_id) if external_id else None
        if external_id and customer_id is None:
            continue
        if AlertRule.objects.filter(
            customer_id=customer_id, kind=kind, source=AlertRule.Source.CUSTOM, threshold=threshold
        ).exists():
            continue
        alert_rule_create(kind=kind, threshold=threshold, customer_id=customer_id, note=note, actor=actor)

    ids = customers_to_evaluate()
    bar = ProgressBar(len(ids), "alerts evaluated", stream=stdout)
    fired = 0
    for start in range(0, len(ids), 25):
        chunk = ids[start : start + 25]
        fired += alerts_evaluate(customer_ids=chunk, notify=False).fired
        bar.advance(len(chunk))
    bar.finish()
    stdout.write(f"  alerts: {fired} fired on the demo usage (not emailed; new crossings from now on are)\n")
