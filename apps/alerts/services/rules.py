"""Alert rules: custom rules people add and edit, and the default rules synced from each contract in force."""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction

from apps.core.actors import Actor
from apps.core.errors import NotFound, ValidationFailed
from apps.core.history import stamp_history
from apps.core.money import ZERO, to_decimal

from ..models import METER_KINDS, AlertRule, Kind

DEFAULT_RUNWAY_DAYS = Decimal(7)
DEFAULT_SPIKE_MULTIPLE = Decimal(3)
GLOBAL_MARGIN_KEY = "global:negative_margin"


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
def alert_rule_create(
    *,
    kind: str,
    threshold,
    actor: Actor,
    customer_id: int | None = None,
    meter_id: int | None = None,
    note: str = "",
    enabled: bool = True,
) -> AlertRule:
    value = _validate_rule(kind=kind, threshold=threshold, meter_id=meter_id)
    rule = AlertRule(
        kind=kind,
        threshold=value,
        customer_id=customer_id,
        meter_id=meter_id,
        note=note[:300],
        enabled=enabled,
        source=AlertRule.Source.CUSTOM,
        created_by=actor.user,
    )
    _stamp(rule, actor=actor, reason="rule added")
    rule.save()
    return rule


@transaction.atomic
def alert_rule_update(
    *, rule_id: int, threshold, enabled: bool, actor: Actor, note: str | None = None, meter_id: int | None = ...
) -> AlertRule:
    rule = AlertRule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("No such alert rule.")
    if meter_id is not ...:
        if rule.source == AlertRule.Source.DEFAULT and meter_id != rule.meter_id:
            raise ValidationFailed(
                "A contract's default rule watches every meter; add a custom rule for one meter.", field="meter"
            )
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
    if terms.wallet_backed:
        specs["runway_below"] = (Kind.RUNWAY_BELOW, DEFAULT_RUNWAY_DAYS)
    specs["daily_spike"] = (Kind.DAILY_SPIKE, DEFAULT_SPIKE_MULTIPLE)
    policy = getattr(terms, "credit_policy", None)  # issue #11: notify auto top-ups and a reached spend limit
    if policy is not None and policy.has_topup:
        specs["auto_topup"] = (Kind.AUTO_TOPUP, policy.topup_threshold)
    if policy is not None and policy.has_spend_limit:
        specs["spend_limit"] = (Kind.SPEND_LIMIT, policy.spend_limit)
    return specs


def _sync_global_defaults() -> None:
    if not AlertRule.objects.filter(contract__isnull=True, default_key=GLOBAL_MARGIN_KEY).exists():
        try:
            with transaction.atomic():
                AlertRule.objects.create(
                    kind=Kind.NEGATIVE_MARGIN,
                    threshold=ZERO,
                    source=AlertRule.Source.DEFAULT,
                    default_key=GLOBAL_MARGIN_KEY,
                    note="Every customer: a meter's charged usage earned less than it cost.",
                )
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
                        AlertRule.objects.create(
                            kind=kind,
                            threshold=threshold,
                            customer_id=customer_id,
                            contract_id=terms.id,
                            default_key=key,
                            source=AlertRule.Source.DEFAULT,
                        )
                except IntegrityError:
                    pass  # created concurrently
            elif not rule.customized and (not rule.enabled or rule.threshold != threshold):
                # a contract term changed (e.g. its auto top-up threshold or spend limit): the default follows it
                AlertRule.objects.filter(pk=rule.pk).update(enabled=True, threshold=threshold)
        for key, rule in have.items():
            if key not in wanted and rule.enabled and not rule.customized:
                AlertRule.objects.filter(pk=rule.pk).update(enabled=False)


def _stamp(instance, *, actor: Actor, reason: str) -> None:
    stamp_history(instance, actor=actor, reason=reason)
