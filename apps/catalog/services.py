"""Catalog writes: products, meters, costs, rate tables and the maker-checker version workflow.

Lifecycle: draft -> pending_approval -> approved (scheduled -> active -> superseded, by instant);
pending_approval -> changes_requested -> (edit) -> pending_approval; draft -> discarded;
pending_approval -> (withdraw) -> draft; pending_approval -> rejected.
Only drafts (and versions with changes requested) change. Submitting freezes the content in a
hash; approval binds to that hash. Whoever created, edited or submitted a version (a VersionContributor)
can never approve, reject or request changes on it, whatever groups they hold.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.errors import Conflict, Forbidden, FourEyesViolation, InvalidTransition, NotFound, ValidationFailed
from apps.core.money import decimal_str, to_decimal
from apps.core.permissions import user_can
from apps.core.roles import Cap

from .models import (
    ApprovalDecision,
    Meter,
    MeterCost,
    Product,
    Rate,
    RateTable,
    RateTableVersion,
    RateTier,
    VersionContributor,
    VersionStatus,
)
from .pricing import PRICING_MODELS, TIERED_MODELS, PricingError, TierSpec, validate_tiers
from .selectors import version_contributor_ids
from .signals import rate_table_version_approved

S = VersionStatus
EDITABLE = (S.DRAFT, S.CHANGES_REQUESTED)
OPEN = (S.DRAFT, S.PENDING_APPROVAL, S.CHANGES_REQUESTED)


def _require(actor: Actor, cap: Cap) -> None:
    if actor.user is not None and not user_can(actor.user, cap):
        raise Forbidden("Your role does not allow this action.")


def _save_with_reason(instance, reason: str) -> None:
    instance._change_reason = (reason or "").strip()[:100] or None
    instance.save()


# ---- products, meters, costs --------------------------------------------------------------------


@transaction.atomic
def product_save(
    *,
    actor: Actor,
    code: str,
    name: str,
    description: str = "",
    is_active: bool = True,
    product: Product | None = None,
    reason: str = "",
) -> Product:
    _require(actor, Cap.CATALOG_EDIT)
    product = product or Product()
    product.code, product.name, product.description, product.is_active = code, name, description, is_active
    try:
        with transaction.atomic():
            _save_with_reason(product, reason)
    except IntegrityError:
        raise ValidationFailed(f"A product with code {code} already exists.", field="code") from None
    return product


@transaction.atomic
def meter_save(
    *,
    actor: Actor,
    product: Product,
    code: str,
    name: str,
    unit: str,
    aggregation: str,
    description: str = "",
    is_active: bool = True,
    meter: Meter | None = None,
    reason: str = "",
) -> Meter:
    _require(actor, Cap.CATALOG_EDIT)
    if meter is not None and meter.code != code and meter.rates.exists():
        raise ValidationFailed(
            "The code of a meter used by rate tables cannot change (usage events refer to it).", field="code"
        )
    meter = meter or Meter()
    meter.product, meter.code, meter.name, meter.unit = product, code, name, unit
    meter.aggregation, meter.description, meter.is_active = aggregation, description, is_active
    try:
        with transaction.atomic():
            _save_with_reason(meter, reason)
    except IntegrityError:
        raise ValidationFailed(f"A meter with code {code} already exists.", field="code") from None
    return meter


@transaction.atomic
def meter_cost_create(
    *,
    actor: Actor,
    meter: Meter,
    effective_from: datetime,
    unit_cost,
    per_units=1,
    currency: str = "USD",
    note: str = "",
) -> MeterCost:
    _require(actor, Cap.CATALOG_EDIT)
    unit_cost = to_decimal(unit_cost, field="unit_cost")
    per_units = to_decimal(per_units, field="per_units")
    if unit_cost < 0:
        raise ValidationFailed("A cost cannot be negative.", field="unit_cost")
    if per_units <= 0:
        raise ValidationFailed("Per units must be above zero.", field="per_units")
    if MeterCost.objects.filter(meter=meter, effective_from=effective_from).exists():
        raise ValidationFailed("This meter already has a cost from that instant.", field="effective_from")
    cost = MeterCost(
        meter=meter,
        effective_from=effective_from,
        unit_cost=unit_cost,
        per_units=per_units,
        currency=currency,
        note=note,
    )
    _save_with_reason(cost, note)
    return cost


@transaction.atomic
def meter_create(
    *,
    actor: Actor,
    product: Product,
    code: str,
    name: str,
    unit: str,
    aggregation: str,
    description: str = "",
    is_active: bool = True,
    reason: str = "",
    first_cost: dict | None = None,
) -> Meter:
    """A new meter and, when given, its first cost (effective_from, unit_cost, per_units, currency, note), at once."""
    meter = meter_save(
        actor=actor,
        product=product,
        code=code,
        name=name,
        unit=unit,
        aggregation=aggregation,
        description=description,
        is_active=is_active,
        reason=reason,
    )
    if first_cost:
        meter_cost_create(actor=actor, meter=meter, **first_cost)
    return meter


@transaction.atomic
def rate_table_create(
    *, actor: Actor, code: str, name: str, pricing_unit: str, description: str = "", currency_per_unit=Decimal(1)
) -> RateTable:
    _require(actor, Cap.CATALOG_EDIT)
    currency_per_unit = to_decimal(currency_per_unit, field="currency_per_unit")
    if currency_per_unit <= 0:
        raise ValidationFailed("A pricing unit must be worth more than zero.", field="currency_per_unit")
    if RateTable.objects.filter(code=code).exists():
        raise ValidationFailed(f"A rate table with code {code} already exists.", field="code")
    table = RateTable(
        code=code, name=name, pricing_unit=pricing_unit, description=description, currency_per_unit=currency_per_unit
    )
    _save_with_reason(table, "created")
    return table


# ---- versions -----------------------------------------------------------------------------------


def _decide(
    version: RateTableVersion,
    *,
    action: str,
    actor: Actor,
    from_status: str,
    comment: str = "",
    at: datetime | None = None,
) -> None:
    """Record a transition (append-only: the database refuses to change it afterwards)."""
    ApprovalDecision.objects.create(
        version=version,
        action=action,
        actor=actor.user,
        comment=comment,
        content_hash=version.content_hash,
        from_status=from_status,
        to_status=version.status,
        effective_from=version.effective_from,
        created_at=at or timezone.now(),
    )


def _lock_version(version_id: int) -> RateTableVersion:
    version = RateTableVersion.objects.select_for_update().filter(pk=version_id).first()
    if version is None:
        raise NotFound("No such rate table version.")
    return version


def _require_editable(version: RateTableVersion) -> None:
    if version.status not in EDITABLE:
        raise InvalidTransition(
            f"Version {version.number} is {version.get_status_display().lower()}; only drafts can be edited."
        )


def _record_contributor(version_id: int, actor: Actor) -> None:
    """Remember that this person changed the version's content (four-eyes: they may not decide on it)."""
    if actor.user is not None:
        VersionContributor.objects.get_or_create(version_id=version_id, user=actor.user)


@transaction.atomic
def rate_table_version_create_draft(
    *, rate_table_id: int, actor: Actor, now: datetime | None = None
) -> RateTableVersion:
    """A new draft copying the newest approved version, scheduled ones included (or empty).

    Copying the version in force now instead would silently undo a scheduled version's prices when the new
    draft is approved after it."""
    _require(actor, Cap.CATALOG_EDIT)
    table = RateTable.objects.select_for_update().filter(pk=rate_table_id).first()
    if table is None:
        raise NotFound("No such rate table.")
    open_version = table.versions.filter(status__in=OPEN).first()
    if open_version is not None:
        raise Conflict(
            f"Version {open_version.number} is still {open_version.get_status_display().lower()}: "
            "finish or discard it before starting another draft.",
            code="open_version_exists",
            extra={"version_id": open_version.id},
        )
    source = table.versions.filter(status=S.APPROVED).order_by("-effective_from", "-number").first()
    number = (table.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    draft = RateTableVersion(rate_table=table, number=number, status=S.DRAFT, based_on=source, created_by=actor.user)
    _save_with_reason(draft, f"new draft from v{source.number}" if source else "new draft")
    if source is not None:
        for rate in source.rates.prefetch_related("tiers"):
            copy = Rate.objects.create(
                version=draft,
                meter_id=rate.meter_id,
                pricing_model=rate.pricing_model,
                unit_price=rate.unit_price,
                price_per_units=rate.price_per_units,
                free_units=rate.free_units,
            )
            RateTier.objects.bulk_create(
                [
                    RateTier(rate=copy, up_to=t.up_to, unit_price=t.unit_price, flat_fee=t.flat_fee)
                    for t in rate.tiers.all()
                ]
            )
    _record_contributor(draft.id, actor)
    _decide(
        draft,
        action=ApprovalDecision.Action.CREATE,
        actor=actor,
        from_status="",
        comment=f"Copied from v{source.number}" if source else "Empty draft",
        at=now,
    )
    return draft


RATE_FIELDS = {"pricing_model", "unit_price", "price_per_units", "free_units"}


def _clean_rate_value(field: str, raw) -> object:
    if field not in RATE_FIELDS:
        raise ValidationFailed(f"Unknown field {field}.", field=field)
    if field == "pricing_model":
        if raw not in PRICING_MODELS:
            raise ValidationFailed("Choose a pricing model: per unit, graduated, volume or package.", field=field)
        return raw
    value = to_decimal(raw, field=field.replace("_", " "))
    if value < 0:
        raise ValidationFailed("Cannot be negative.", field=field)
    if field == "price_per_units" and value <= 0:
        raise ValidationFailed("Must be above zero (e.g. 1, 1000 or 1000000).", field=field)
    if value.as_tuple().exponent < -12:
        raise ValidationFailed("At most 12 decimal places.", field=field)
    if value >= Decimal(10) ** 18:
        raise ValidationFailed("Too large.", field=field)
    return value


@transaction.atomic
def rate_update_field(*, rate_id: int, field: str, value, actor: Actor) -> Rate:
    """Save one edited cell of a draft's rate (validated on its own)."""
    _require(actor, Cap.CATALOG_EDIT)
    rate = Rate.objects.select_related("version").filter(pk=rate_id).first()
    if rate is None:
        raise NotFound("No such rate.")
    _require_editable(_lock_version(rate.version_id))
    setattr(rate, field, _clean_rate_value(field, value))
    _record_contributor(rate.version_id, actor)
    if field == "pricing_model" and rate.pricing_model in TIERED_MODELS and not rate.tiers.exists():
        RateTier.objects.create(rate=rate, up_to=None, unit_price=rate.unit_price)
    _save_with_reason(rate, f"{field} set to {value}")
    return rate


@transaction.atomic
def rate_add(
    *,
    version_id: int,
    meter_id: int,
    actor: Actor,
    unit_price="0",
    price_per_units="1",
    pricing_model: str = "per_unit",
) -> Rate:
    _require(actor, Cap.CATALOG_EDIT)
    version = _lock_version(version_id)
    _require_editable(version)
    meter = Meter.objects.filter(pk=meter_id, is_active=True).first()
    if meter is None:
        raise ValidationFailed("Choose an active meter.", field="meter")
    if version.rates.filter(meter=meter).exists():
        raise ValidationFailed(f"{meter.code} already has a rate in this version.", field="meter")
    rate = Rate(
        version=version,
        meter=meter,
        pricing_model=_clean_rate_value("pricing_model", pricing_model),
        unit_price=_clean_rate_value("unit_price", unit_price),
        price_per_units=_clean_rate_value("price_per_units", price_per_units),
    )
    _save_with_reason(rate, "added")
    _record_contributor(version.id, actor)
    if rate.pricing_model in TIERED_MODELS:
        RateTier.objects.create(rate=rate, up_to=None, unit_price=rate.unit_price)
    return rate


@transaction.atomic
def rate_remove(*, rate_id: int, actor: Actor) -> None:
    _require(actor, Cap.CATALOG_EDIT)
    rate = Rate.objects.filter(pk=rate_id).first()
    if rate is None:
        raise NotFound("No such rate.")
    _require_editable(_lock_version(rate.version_id))
    _record_contributor(rate.version_id, actor)
    rate.tiers.all().delete()
    rate._change_reason = "removed"
    rate.delete()


def parse_tiers(rows: list[dict]) -> list[TierSpec]:
    """Tiers from form rows [{"up_to", "unit_price", "flat_fee"}]; blank rows skipped; blank up_to = open."""
    tiers = []
    for index, row in enumerate(rows, start=1):
        up_to, price, fee = (str(row.get(k) or "").strip() for k in ("up_to", "unit_price", "flat_fee"))
        if not (up_to or price or fee):
            continue
        if not price:
            raise ValidationFailed(f"Tier {index}: enter a unit price.", field="tiers")
        tiers.append(
            TierSpec(
                to_decimal(up_to, field=f"tier {index} bound") if up_to else None,
                to_decimal(price, field=f"tier {index} price"),
                to_decimal(fee or "0", field=f"tier {index} flat fee"),
            )
        )
    tiers.sort(key=lambda t: (t.up_to is None, t.up_to or 0))
    try:
        validate_tiers(tiers)
    except PricingError as exc:
        raise ValidationFailed(str(exc), field="tiers") from None
    return tiers


@transaction.atomic
def rate_tiers_set(*, rate_id: int, tiers: list[TierSpec], actor: Actor) -> Rate:
    _require(actor, Cap.CATALOG_EDIT)
    rate = Rate.objects.filter(pk=rate_id).first()
    if rate is None:
        raise NotFound("No such rate.")
    _require_editable(_lock_version(rate.version_id))
    try:
        validate_tiers(tuple(tiers))
    except PricingError as exc:
        raise ValidationFailed(str(exc), field="tiers") from None
    rate.tiers.all().delete()
    RateTier.objects.bulk_create(
        [RateTier(rate=rate, up_to=t.up_to, unit_price=t.unit_price, flat_fee=t.flat_fee) for t in tiers]
    )
    _save_with_reason(rate, "tiers edited")
    _record_contributor(rate.version_id, actor)
    return rate


def version_content_hash(version: RateTableVersion) -> str:
    """SHA-256 over the version's rates (canonical) and effective instant."""
    rates = []
    for rate in version.rates.select_related("meter").prefetch_related("tiers").order_by("meter__code"):
        rates.append(
            {
                "meter": rate.meter.code,
                "model": rate.pricing_model,
                "unit_price": decimal_str(rate.unit_price),
                "per": decimal_str(rate.price_per_units),
                "free": decimal_str(rate.free_units),
                "tiers": [
                    [decimal_str(t.up_to), decimal_str(t.unit_price), decimal_str(t.flat_fee)]
                    for t in sorted(rate.tiers.all(), key=lambda t: (t.up_to is None, t.up_to or 0))
                ],
            }
        )
    payload = {"rates": rates, "effective_from": version.effective_from.isoformat() if version.effective_from else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _check_effective_from_free(version: RateTableVersion) -> None:
    clash = (
        RateTableVersion.objects.filter(
            rate_table_id=version.rate_table_id, status=S.APPROVED, effective_from=version.effective_from
        )
        .exclude(pk=version.pk)
        .first()
    )
    if clash is not None:
        raise ValidationFailed(
            f"Version {clash.number} is already approved from that instant; choose another.",
            field="effective_from",
            code="effective_from_taken",
        )


@transaction.atomic
def rate_table_version_submit(
    *,
    version_id: int,
    effective_from: datetime,
    reason: str,
    actor: Actor,
    backdate_reason: str = "",
    now: datetime | None = None,
) -> RateTableVersion:
    _require(actor, Cap.CATALOG_EDIT)
    now = now or timezone.now()
    version = _lock_version(version_id)
    if version.status not in EDITABLE:
        raise InvalidTransition(
            f"Only drafts can be submitted; version {version.number} is {version.get_status_display().lower()}."
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why prices change (the reason finance reads).", field="reason")
    if effective_from is None:
        raise ValidationFailed("Choose when the new prices take effect.", field="effective_from")
    backdate_reason = (backdate_reason or "").strip()
    if effective_from < now and not backdate_reason:
        raise ValidationFailed(
            "The effective date is in the past: give a backdating reason (usage since then will be re-rated).",
            field="backdate_reason",
            code="backdate_reason_required",
        )
    rates = list(version.rates.prefetch_related("tiers"))
    if not rates:
        raise ValidationFailed("A version needs at least one rate.", code="empty_version")
    for rate in rates:
        if rate.pricing_model in TIERED_MODELS:
            try:
                validate_tiers(tuple(TierSpec(t.up_to, t.unit_price, t.flat_fee) for t in rate.tiers.all()))
            except PricingError as exc:
                raise ValidationFailed(f"{rate.meter.code}: {exc}", code="invalid_tiers") from None
    from_status = version.status
    version.effective_from = effective_from
    _check_effective_from_free(version)
    version.reason = reason
    version.backdate_reason = backdate_reason if effective_from < now else ""
    version.status = S.PENDING_APPROVAL
    version.submitted_by = actor.user
    version.submitted_at = now
    version.content_hash = version_content_hash(version)
    _save_with_reason(version, "submitted")
    _record_contributor(version.id, actor)
    _decide(
        version,
        action=ApprovalDecision.Action.SUBMIT,
        actor=actor,
        from_status=from_status,
        comment=reason + (f"\nBackdated: {backdate_reason}" if version.backdate_reason else ""),
        at=now,
    )
    return version


@transaction.atomic
def rate_table_version_withdraw(*, version_id: int, actor: Actor, comment: str = "") -> RateTableVersion:
    _require(actor, Cap.CATALOG_EDIT)
    version = _lock_version(version_id)
    if version.status != S.PENDING_APPROVAL:
        raise InvalidTransition("Only a version pending approval can be withdrawn.")
    version.status = S.DRAFT
    version.content_hash = ""
    _save_with_reason(version, "withdrawn")
    _decide(
        version, action=ApprovalDecision.Action.WITHDRAW, actor=actor, from_status=S.PENDING_APPROVAL, comment=comment
    )
    return version


@transaction.atomic
def rate_table_version_discard(*, version_id: int, actor: Actor, comment: str = "") -> RateTableVersion:
    _require(actor, Cap.CATALOG_EDIT)
    version = _lock_version(version_id)
    if version.status not in EDITABLE:
        raise InvalidTransition("Only drafts can be discarded.")
    from_status = version.status
    version.status = S.DISCARDED
    _save_with_reason(version, "discarded")
    _decide(version, action=ApprovalDecision.Action.DISCARD, actor=actor, from_status=from_status, comment=comment)
    return version


def _lock_for_review(version_id: int, actor: Actor) -> RateTableVersion:
    if actor.user is None:
        raise Forbidden("Only a person can review a price change.")
    if not user_can(actor.user, Cap.RATES_APPROVE):
        raise Forbidden("Only finance approvers review price changes.")
    version = _lock_version(version_id)
    if version.status != S.PENDING_APPROVAL:
        raise InvalidTransition(
            f"Version {version.number} is {version.get_status_display().lower()}, not pending approval."
        )
    if actor.user.pk in version_contributor_ids(version):
        raise FourEyesViolation(
            "You created, edited or submitted this change, so someone else must review it (four-eyes rule)."
        )
    return version


@transaction.atomic
def rate_table_version_approve(
    *, version_id: int, content_hash: str, actor: Actor, comment: str = "", now: datetime | None = None
) -> RateTableVersion:
    now = now or timezone.now()
    version = _lock_for_review(version_id, actor)
    current = version_content_hash(version)
    if content_hash != version.content_hash or current != version.content_hash:
        raise Conflict(
            "The content changed since it was submitted; reload the review before approving.", code="content_changed"
        )
    backdated = version.effective_from < now
    if backdated and not version.backdate_reason:
        raise ValidationFailed(
            "The effective date has passed since submission. Request changes so the maker "
            "sets a new date or gives a backdating reason.",
            code="effective_from_passed",
        )
    _check_effective_from_free(version)
    version.status = S.APPROVED
    version.decided_by = actor.user
    version.decided_at = now
    _save_with_reason(version, "approved")
    _decide(
        version,
        action=ApprovalDecision.Action.APPROVE,
        actor=actor,
        from_status=S.PENDING_APPROVAL,
        comment=comment,
        at=now,
    )
    payload = {
        "version_id": version.id,
        "rate_table_id": version.rate_table_id,
        "effective_from": version.effective_from,
        "backdated": backdated,
    }
    transaction.on_commit(lambda: rate_table_version_approved.send(sender=RateTableVersion, **payload))
    return version


def _review_with_comment(version_id: int, actor: Actor, comment: str, to_status: str, action: str):
    comment = (comment or "").strip()
    if not comment:
        raise ValidationFailed("A comment is required: tell the maker what to change or why.", field="comment")
    version = _lock_for_review(version_id, actor)
    version.status = to_status
    version.decided_by = actor.user
    version.decided_at = timezone.now()
    if to_status == S.CHANGES_REQUESTED:
        version.content_hash = ""
    _save_with_reason(version, action)
    _decide(version, action=action, actor=actor, from_status=S.PENDING_APPROVAL, comment=comment)
    return version


@transaction.atomic
def rate_table_version_request_changes(*, version_id: int, comment: str, actor: Actor) -> RateTableVersion:
    return _review_with_comment(
        version_id, actor, comment, S.CHANGES_REQUESTED, ApprovalDecision.Action.REQUEST_CHANGES
    )


@transaction.atomic
def rate_table_version_reject(*, version_id: int, comment: str, actor: Actor) -> RateTableVersion:
    return _review_with_comment(version_id, actor, comment, S.REJECTED, ApprovalDecision.Action.REJECT)
