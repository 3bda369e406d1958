"""Why this charge: from an event to its record(s), the version and its approval, the contract terms and
override, the position and tier, and the grants drawn; and the same for a customer x day x meter bucket.
Read through apps.usage.selectors (charge_explanation, bucket_explanation)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Sum

from apps.catalog.selectors import rate_table_version_choice, version_decisions, version_get, version_rate_rows
from apps.contracts.policies import postpaid_spend_cap
from apps.contracts.selectors import contract_in_force
from apps.core.errors import NotFound
from apps.core.money import ZERO
from apps.wallets.selectors import debit_policy_note

from .models import DailyUsage, RatedUsage, RatingCursor, UsageEvent


def _version_info(version_id: int, cache: dict) -> dict:
    if version_id in cache:
        return cache[version_id]
    version = version_get(version_id=version_id)
    info = {"version": version, "decisions": version_decisions(version_id=version_id) if version else []}
    cache[version_id] = info
    return info


def _rate_row(version_id: int, meter_id: int):
    for row in version_rate_rows(version_id=version_id):
        if row.rate.meter_id == meter_id:
            return row
    return None


def _version_rule(customer_id: int, at, priced_version_id: int) -> dict | None:
    """Which rule picks the version for the event's contract at its timestamp (cohort, grandfathering, price
    protection), by the same choice rating makes; `stale` when that choice is not the version that priced the
    record (the contract or the versions changed since: a re-rate of the range would apply it)."""
    terms = contract_in_force(customer_id=customer_id, at=at)
    if terms is None:
        return None
    choice = rate_table_version_choice(rate_table_id=terms.rate_table_id, contract=terms.facts, at=at)
    if choice is None:
        return None
    return {
        "rule": choice.rule,
        "explanation": choice.explanation,
        "number": choice.version.number,
        "stale": choice.version.id != priced_version_id,
    }


def _grants(allocations: list[dict]) -> list[dict]:
    merged: dict[int, dict] = {}
    for a in allocations:
        row = merged.setdefault(
            a["grant_id"],
            {
                "grant_id": a["grant_id"],
                "kind": a["kind"],
                "price_per_credit": Decimal(a["price_per_credit"]),
                "credits": ZERO,
                "revenue": ZERO,
            },
        )
        row["credits"] += Decimal(a["credits"])
        row["revenue"] += Decimal(a["revenue"])
    return list(merged.values())


def charge_explanation(*, event_pk: int) -> dict:
    """From an event to its charge: the record(s), the version and its approval, the contract terms and
    override, the position and tier, the grants drawn."""
    event = UsageEvent.objects.select_related("customer", "meter", "api_key").filter(pk=event_pk).first()
    if event is None:
        raise NotFound("No such usage event.")
    records = list(
        RatedUsage.objects.filter(event_id=event.pk)
        .select_related("batch", "superseded_by")
        .order_by("-created_at", "-id")
    )
    current = next((r for r in records if r.superseded_at is None), None)
    versions: dict = {}
    context = {"event": event, "record": current, "history": [r for r in records if r is not current]}
    if current is not None:
        context.update(_version_info(current.rate_version_id, versions))
        context["rate_row"] = _rate_row(current.rate_version_id, current.meter_id)
        context["version_rule"] = _version_rule(event.customer_id, event.timestamp, current.rate_version_id)
        context["grants"] = _grants(current.allocations)
        # Credit policies (issue #11): the auto top-up this charge's debit triggered, the spend limit it met.
        context["policy_note"] = debit_policy_note(entry_id=current.ledger_entry_id)
        if current.over_limit and current.billing_model == "postpaid":  # a postpaid spend limit (hard) caps overage
            terms = contract_in_force(customer_id=current.customer_id, at=current.timestamp)
            policy = terms.credit_policy if terms is not None and terms.id == current.contract_id else None
            context["postpaid_spend_limit"] = postpaid_spend_cap(policy, enforcement=current.enforcement)
        context["position_end"] = current.prior_quantity + current.quantity
        period_end = (
            RatingCursor.objects.filter(
                customer_id=current.customer_id, meter_id=current.meter_id, period_start=current.period_start
            )
            .values_list("period_end", flat=True)
            .first()
        )
        context["period_last_day"] = (period_end - timedelta(days=1)).date() if period_end else None
    return context


def bucket_explanation(*, customer, meter, day: date, limit: int = 200) -> dict:
    """A customer x day x meter: the rollup, the versions, tiers and overrides that priced it, the grants."""
    rollup = DailyUsage.objects.filter(customer_id=customer.pk, meter_id=meter.id, day=day).first()
    qs = RatedUsage.objects.filter(customer_id=customer.pk, meter_id=meter.id, day=day, superseded_at__isnull=True)
    groups = list(
        qs.values(
            "rate_version_id",
            "tier",
            "unit_price",
            "price_per_units",
            "override_kind",
            "override_value",
            "pricing_model",
        )
        .annotate(
            events=Count("id"),
            quantity=Sum("quantity"),
            included=Sum("included_quantity"),
            amount=Sum("amount"),
            credits=Sum("credits_drawn"),
            over_limit=Sum("over_limit_quantity"),
        )
        .order_by("rate_version_id", "tier", "unit_price")
    )
    versions: dict = {}
    for group in groups:
        group.update(_version_info(group["rate_version_id"], versions))
    allocations: list[dict] = []
    for row in qs.exclude(allocations=[]).values_list("allocations", flat=True).iterator(chunk_size=2000):
        allocations.extend(row)
    records = list(qs.order_by("timestamp", "event_ref")[:limit])
    return {
        "customer": customer,
        "meter": meter,
        "day": day,
        "rollup": rollup,
        "groups": groups,
        "versions": list(versions.values()),
        "grants": _grants(allocations),
        "records": records,
        "truncated": rollup is not None and rollup.events > limit,
    }
