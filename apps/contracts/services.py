"""Contracts writes. Keyword-only, @transaction.atomic, DomainErrors with clear messages.

At most one contract is in force per customer at any instant: every contract write locks the customer row
first (select_for_update) and refuses a date range that overlaps another contract of that customer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from apps.catalog.selectors import approved_version_of_table, meters_by_ids, rate_table_exists
from apps.core.actors import Actor
from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.history import stamp_history
from apps.core.money import to_decimal

from .models import (
    CONTRACT_TERM_FIELDS,
    CREDIT_POLICY_FIELDS,
    Contract,
    CreditPolicy,
    Customer,
    IncludedAllowance,
    PriceOverride,
)
from .selectors import OverrideTerms

RESERVED_EXTERNAL_IDS = {"new", "panels", "-"}
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
_MAX_AMOUNT = Decimal(10) ** 17


def _amount(value, *, field: str, allow_none: bool = False, positive: bool = False) -> Decimal | None:
    if value is None or value == "":
        if allow_none:
            return None
        raise ValidationFailed(f"{field.replace('_', ' ').capitalize()} is required.", field=field)
    result = to_decimal(value, field=field)
    if result < 0 or (positive and result == 0):
        raise ValidationFailed(
            f"{field.replace('_', ' ').capitalize()} must be {'greater than zero' if positive else 'zero or more'}.",
            field=field,
        )
    if abs(result) >= _MAX_AMOUNT:
        raise ValidationFailed(f"{field.replace('_', ' ').capitalize()} is too large.", field=field)
    return result


# --- customers ---------------------------------------------------------------------------------------------


def _validate_customer(*, name: str, segment: str, status: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("A customer needs a name.", field="name")
    if len(name) > 200:
        raise ValidationFailed("Name is at most 200 characters.", field="name")
    if segment not in Customer.Segment.values:
        raise ValidationFailed(f"Unknown segment {segment!r}.", field="segment")
    if status not in Customer.Status.values:
        raise ValidationFailed(f"Unknown status {status!r}.", field="status")
    return name


@transaction.atomic
def customer_create(
    *,
    external_id: str,
    name: str,
    segment: str = Customer.Segment.SMB,
    status: str = Customer.Status.ACTIVE,
    account_manager_id: int | None = None,
    actor: Actor,
    change_reason: str = "",
) -> Customer:
    external_id = (external_id or "").strip()
    if not external_id or not _SLUG.match(external_id) or len(external_id) > 80:
        raise ValidationFailed(
            "The external id is the CRM id used in usage events: letters, digits, '-' and '_'.", field="external_id"
        )
    if external_id.lower() in RESERVED_EXTERNAL_IDS:
        raise ValidationFailed(f"'{external_id}' is reserved; choose another external id.", field="external_id")
    name = _validate_customer(name=name, segment=segment, status=status)
    if Customer.objects.filter(external_id=external_id).exists():
        raise Conflict(
            f"A customer with external id '{external_id}' already exists.", code="duplicate", field="external_id"
        )
    customer = Customer(
        external_id=external_id, name=name, segment=segment, status=status, account_manager_id=account_manager_id
    )
    stamp_history(customer, actor=actor, reason=change_reason or "created")
    customer.save()
    return customer


@transaction.atomic
def customer_update(
    *,
    customer_id: int,
    name: str,
    segment: str,
    status: str,
    account_manager_id: int | None,
    actor: Actor,
    change_reason: str = "",
) -> Customer:
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise NotFound("No such customer.")
    customer.name = _validate_customer(name=name, segment=segment, status=status)
    customer.segment, customer.status, customer.account_manager_id = segment, status, account_manager_id
    stamp_history(customer, actor=actor, reason=change_reason)
    customer.save()
    return customer


# --- contracts ---------------------------------------------------------------------------------------------


def _validate_thresholds(values) -> list[int]:
    try:
        thresholds = sorted({int(v) for v in values})
    except (TypeError, ValueError):
        raise ValidationFailed(
            "Alert thresholds are whole percentages, e.g. 70, 90, 100.", field="alert_thresholds"
        ) from None
    if any(t <= 0 or t > 1000 for t in thresholds):
        raise ValidationFailed("Alert thresholds are percentages between 1 and 1000.", field="alert_thresholds")
    return thresholds


def _validate_overrides(overrides: Mapping[int, OverrideTerms]) -> dict[int, OverrideTerms]:
    result = {}
    for meter_id, o in overrides.items():
        if o.kind == PriceOverride.Kind.MULTIPLIER:
            multiplier = _amount(o.multiplier, field="multiplier")
            result[int(meter_id)] = OverrideTerms(
                kind=o.kind, multiplier=multiplier, unit_price=None, price_per_units=Decimal(1)
            )
        elif o.kind == PriceOverride.Kind.FIXED:
            unit_price = _amount(o.unit_price, field="unit_price")
            per = _amount(
                Decimal(1) if o.price_per_units is None else o.price_per_units, field="price_per_units", positive=True
            )
            result[int(meter_id)] = OverrideTerms(
                kind=o.kind, multiplier=None, unit_price=unit_price, price_per_units=per
            )
        else:
            raise ValidationFailed(f"Unknown override kind {o.kind!r}.", field="overrides")
    return result


def _check_no_overlap(
    *, customer_id: int, starts_at: datetime, ends_at: datetime | None, exclude_id: int | None
) -> None:
    clash = Contract.objects.filter(customer_id=customer_id).filter(Q(ends_at__isnull=True) | Q(ends_at__gt=starts_at))
    if ends_at is not None:
        clash = clash.filter(starts_at__lt=ends_at)
    if exclude_id is not None:
        clash = clash.exclude(pk=exclude_id)
    other = clash.order_by("starts_at").first()
    if other is not None:
        until = f"{other.ends_at:%Y-%m-%d %H:%M}" if other.ends_at else "open-ended"
        raise Conflict(
            f"A customer has at most one contract in force at a time: this overlaps contract #{other.pk} "
            f"({other.starts_at:%Y-%m-%d %H:%M} to {until}). End that one first or change the dates.",
            code="contract_overlap",
            field="starts_at",
            extra={"contract_id": other.pk},
        )


def _clean_terms(terms: dict) -> dict:
    clean = dict(terms)
    if not rate_table_exists(rate_table_id=clean.get("rate_table_id")):
        raise ValidationFailed("Choose a rate table.", field="rate_table")
    starts_at, ends_at = clean.get("starts_at"), clean.get("ends_at")
    if starts_at is None:
        raise ValidationFailed("A contract needs a start.", field="starts_at")
    for name in ("starts_at", "ends_at"):
        value = clean.get(name)
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValidationFailed("Dates must carry a time zone.", field=name)
    if ends_at is not None and ends_at <= starts_at:
        raise ValidationFailed("The end must be after the start.", field="ends_at")
    if clean.get("billing_model") not in Contract.BillingModel.values:
        raise ValidationFailed("Choose a billing model.", field="billing_model")
    if clean.get("enforcement") not in Contract.Enforcement.values:
        raise ValidationFailed("Choose an enforcement policy.", field="enforcement")
    for name in ("base_fee", "included_credits", "overdraft_limit"):
        clean[name] = _amount(clean.get(name, Decimal(0)), field=name)
    clean["credit_price"] = _amount(clean.get("credit_price", Decimal(1)), field="credit_price")
    if clean["enforcement"] != Contract.Enforcement.SOFT and clean["overdraft_limit"] != 0:
        raise ValidationFailed(
            "An overdraft limit only applies to the soft policy; set it to 0 or choose soft.", field="overdraft_limit"
        )
    currency = (clean.get("currency") or "USD").strip().upper()
    if not re.match(r"^[A-Z]{3}$", currency):
        raise ValidationFailed("Currency is a 3-letter code such as USD.", field="currency")
    clean["currency"] = currency
    try:
        anchor = int(clean.get("billing_anchor_day", 1))
    except (TypeError, ValueError):
        anchor = 0
    if not 1 <= anchor <= 31:
        raise ValidationFailed("The billing anchor is a day of the month, 1 to 31.", field="billing_anchor_day")
    clean["billing_anchor_day"] = anchor
    clean["alert_thresholds"] = _validate_thresholds(clean.get("alert_thresholds", [70, 90, 100]))
    clean["notes"] = (clean.get("notes") or "").strip()
    _clean_protection(clean)
    return clean


def _clean_protection(clean: dict) -> None:
    """Price protection: an approved version of the contract's own rate table, until an instant (both or neither)."""
    version_id, until = clean.get("protected_version_id"), clean.get("protected_until")
    if version_id in ("", None):
        if until is not None:
            raise ValidationFailed(
                "Choose the version that protects the price, or clear the date.", field="protected_version"
            )
        clean["protected_version_id"], clean["protected_until"] = None, None
        return
    try:
        version_id = int(version_id)
    except (TypeError, ValueError):
        raise ValidationFailed("Choose an approved version.", field="protected_version") from None
    if not approved_version_of_table(version_id=version_id, rate_table_id=clean["rate_table_id"]):
        raise ValidationFailed(
            "Price protection names an approved version of the contract's own rate table.",
            field="protected_version",
            code="protected_version_invalid",
        )
    if until is None:
        raise ValidationFailed("Say until when the price is protected.", field="protected_until")
    if until.tzinfo is None or until.utcoffset() is None:
        raise ValidationFailed("Dates must carry a time zone.", field="protected_until")
    if until <= clean["starts_at"]:
        raise ValidationFailed("The protection must end after the contract starts.", field="protected_until")
    clean["protected_version_id"], clean["protected_until"] = version_id, until


def _sync_children(
    *,
    contract: Contract,
    allowances: Mapping[int, Decimal],
    overrides: Mapping[int, OverrideTerms],
    actor: Actor,
    reason: str,
) -> None:
    wanted_allowances = {}
    for meter_id, quantity in allowances.items():
        quantity = _amount(quantity, field="allowances")
        if quantity > 0:
            wanted_allowances[int(meter_id)] = quantity
    wanted_overrides = _validate_overrides(overrides)
    meter_ids = set(wanted_allowances) | set(wanted_overrides)
    known = set(meters_by_ids(meter_ids))
    if meter_ids - known:
        raise ValidationFailed("An allowance or override names an unknown meter.", field="allowances")

    for allowance in list(contract.allowances.all()):
        if allowance.meter_id not in wanted_allowances:
            stamp_history(allowance, actor=actor, reason=reason)
            allowance.delete()
        elif allowance.quantity != wanted_allowances[allowance.meter_id]:
            allowance.quantity = wanted_allowances[allowance.meter_id]
            stamp_history(allowance, actor=actor, reason=reason)
            allowance.save()
        wanted_allowances.pop(allowance.meter_id, None)
    for meter_id, quantity in wanted_allowances.items():
        allowance = IncludedAllowance(contract=contract, meter_id=meter_id, quantity=quantity)
        stamp_history(allowance, actor=actor, reason=reason)
        allowance.save()

    for override in list(contract.overrides.all()):
        wanted = wanted_overrides.pop(override.meter_id, None)
        if wanted is None:
            stamp_history(override, actor=actor, reason=reason)
            override.delete()
            continue
        current = OverrideTerms(
            kind=override.kind,
            multiplier=override.multiplier,
            unit_price=override.unit_price,
            price_per_units=override.price_per_units,
        )
        if current != wanted:
            override.kind, override.multiplier = wanted.kind, wanted.multiplier
            override.unit_price, override.price_per_units = wanted.unit_price, wanted.price_per_units
            stamp_history(override, actor=actor, reason=reason)
            override.save()
    for meter_id, o in wanted_overrides.items():
        override = PriceOverride(
            contract=contract,
            meter_id=meter_id,
            kind=o.kind,
            multiplier=o.multiplier,
            unit_price=o.unit_price,
            price_per_units=o.price_per_units,
        )
        stamp_history(override, actor=actor, reason=reason)
        override.save()


@transaction.atomic
def contract_create(
    *,
    customer_id: int,
    rate_table_id: int,
    starts_at: datetime,
    ends_at: datetime | None = None,
    billing_model: str = Contract.BillingModel.PREPAID,
    currency: str = "USD",
    base_fee: Decimal = Decimal(0),
    included_credits: Decimal = Decimal(0),
    credit_price: Decimal = Decimal(1),
    enforcement: str = Contract.Enforcement.HARD,
    overdraft_limit: Decimal = Decimal(0),
    alert_thresholds=(70, 90, 100),
    billing_anchor_day: int = 1,
    notes: str = "",
    protected_version_id: int | None = None,
    protected_until: datetime | None = None,
    allowances: Mapping[int, Decimal] | None = None,
    overrides: Mapping[int, OverrideTerms] | None = None,
    actor: Actor,
    change_reason: str = "",
) -> Contract:
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise NotFound("No such customer.")
    terms = _clean_terms(
        dict(
            rate_table_id=rate_table_id,
            starts_at=starts_at,
            ends_at=ends_at,
            billing_model=billing_model,
            currency=currency,
            base_fee=base_fee,
            included_credits=included_credits,
            credit_price=credit_price,
            enforcement=enforcement,
            overdraft_limit=overdraft_limit,
            alert_thresholds=alert_thresholds,
            billing_anchor_day=billing_anchor_day,
            notes=notes,
            protected_version_id=protected_version_id,
            protected_until=protected_until,
        )
    )
    _check_no_overlap(customer_id=customer.pk, starts_at=terms["starts_at"], ends_at=terms["ends_at"], exclude_id=None)
    reason = change_reason or "contract created"
    contract = Contract(customer=customer, **{k: terms[k] for k in CONTRACT_TERM_FIELDS})
    stamp_history(contract, actor=actor, reason=reason)
    contract.save()
    _sync_children(
        contract=contract, allowances=allowances or {}, overrides=overrides or {}, actor=actor, reason=reason
    )
    return contract


@transaction.atomic
def contract_update(
    *,
    contract_id: int,
    actor: Actor,
    change_reason: str,
    allowances: Mapping[int, Decimal] | None = None,
    overrides: Mapping[int, OverrideTerms] | None = None,
    **changes,
) -> Contract:
    """Change a contract's terms (any of the contract_create keywords); allowances/overrides replace the sets."""
    unknown = set(changes) - set(CONTRACT_TERM_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown contract terms: {', '.join(sorted(unknown))}.")
    customer_id = Contract.objects.filter(pk=contract_id).values_list("customer_id", flat=True).first()
    if customer_id is None:
        raise NotFound("No such contract.")
    Customer.objects.select_for_update().filter(pk=customer_id).first()  # serialize contract writes per customer
    contract = Contract.objects.select_for_update().get(pk=contract_id)
    reason = (change_reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "Say why you are changing the contract; the reason is kept in its history.", field="change_reason"
        )
    terms = _clean_terms({**{k: getattr(contract, k) for k in CONTRACT_TERM_FIELDS}, **changes})
    _check_no_overlap(
        customer_id=customer_id, starts_at=terms["starts_at"], ends_at=terms["ends_at"], exclude_id=contract.pk
    )
    for key in CONTRACT_TERM_FIELDS:
        setattr(contract, key, terms[key])
    stamp_history(contract, actor=actor, reason=reason)
    contract.save()
    if allowances is not None or overrides is not None:
        current_allowances = {a.meter_id: a.quantity for a in contract.allowances.all()}
        current_overrides = {
            o.meter_id: OverrideTerms(o.kind, o.multiplier, o.unit_price, o.price_per_units)
            for o in contract.overrides.all()
        }
        _sync_children(
            contract=contract,
            allowances=current_allowances if allowances is None else allowances,
            overrides=current_overrides if overrides is None else overrides,
            actor=actor,
            reason=reason,
        )
    return contract


# --- credit policies (issue #11) -----------------------------------------------------------------------------


@transaction.atomic
def credit_policy_set(*, contract_id: int, actor: Actor, change_reason: str, **terms) -> CreditPolicy:
    """Set a contract's credit policies (any of CREDIT_POLICY_FIELDS; the others keep their value). The policy
    belongs to the contract, so it is effective with it; every change carries a reason into the history."""
    unknown = set(terms) - set(CREDIT_POLICY_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown credit policy terms: {', '.join(sorted(unknown))}.")
    reason = (change_reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "Say why you are changing the credit policy; the reason is kept in its history.", field="change_reason"
        )
    customer_id = Contract.objects.filter(pk=contract_id).values_list("customer_id", flat=True).first()
    if customer_id is None:
        raise NotFound("No such contract.")
    Customer.objects.select_for_update().filter(pk=customer_id).first()  # serialize contract writes per customer
    contract = Contract.objects.get(pk=contract_id)
    policy = CreditPolicy.objects.select_for_update().filter(contract_id=contract_id).first()
    if policy is None:
        policy = CreditPolicy(contract_id=contract_id)
    clean = _clean_policy({**{k: getattr(policy, k) for k in CREDIT_POLICY_FIELDS}, **terms}, contract=contract)
    for key in CREDIT_POLICY_FIELDS:
        setattr(policy, key, clean[key])
    stamp_history(policy, actor=actor, reason=reason)
    policy.save()
    return policy


def _whole(value, *, field: str, low: int, high: int) -> int:
    try:
        result = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{field.replace('_', ' ').capitalize()} is a whole number.", field=field) from None
    if not low <= result <= high:
        raise ValidationFailed(f"{field.replace('_', ' ').capitalize()} is between {low} and {high}.", field=field)
    return result


def _clean_policy(terms: dict, *, contract: Contract) -> dict:
    clean = dict(terms)
    clean["rollover_enabled"] = bool(clean.get("rollover_enabled"))
    clean["rollover_purchased"] = bool(clean.get("rollover_purchased"))
    if clean.get("rollover_cap_kind") not in CreditPolicy.CapKind.values:
        raise ValidationFailed("The rollover cap is in credits or a percentage.", field="rollover_cap_kind")
    clean["rollover_cap"] = _amount(clean.get("rollover_cap", Decimal(0)), field="rollover_cap")
    if clean["rollover_cap_kind"] == CreditPolicy.CapKind.PERCENT and clean["rollover_cap"] > 100:
        raise ValidationFailed("A rollover cap in % is at most 100.", field="rollover_cap")
    if clean["rollover_enabled"] and clean["rollover_cap"] == 0:
        raise ValidationFailed("Rolling over needs a cap greater than zero.", field="rollover_cap")
    clean["rollover_expiry_periods"] = _whole(
        clean.get("rollover_expiry_periods", 1), field="rollover_expiry_periods", low=1, high=24
    )
    clean["recurring_credits"] = _amount(clean.get("recurring_credits", Decimal(0)), field="recurring_credits")
    if clean.get("recurring_kind") not in CreditPolicy.RecurringKind.values:
        raise ValidationFailed("Recurring credits are promotional or purchased.", field="recurring_kind")
    clean["topup_threshold"] = _amount(clean.get("topup_threshold", Decimal(0)), field="topup_threshold")
    clean["topup_amount"] = _amount(clean.get("topup_amount", Decimal(0)), field="topup_amount")
    clean["topup_monthly_cap"] = _whole(clean.get("topup_monthly_cap", 0), field="topup_monthly_cap", low=0, high=100)
    if clean["topup_amount"] > 0 and (clean["topup_threshold"] == 0 or clean["topup_monthly_cap"] == 0):
        raise ValidationFailed(
            "An auto top-up needs a threshold and a monthly cap of at least one top-up.", field="topup_threshold"
        )
    clean["spend_limit"] = _amount(clean.get("spend_limit"), field="spend_limit", allow_none=True, positive=True)
    wallet_backed = contract.billing_model in (Contract.BillingModel.PREPAID, Contract.BillingModel.HYBRID)
    if not wallet_backed and (clean["rollover_enabled"] or clean["recurring_credits"] > 0 or clean["topup_amount"] > 0):
        raise ValidationFailed(
            "Rollover, recurring grants and auto top-ups need a credit wallet (prepaid or hybrid contract).",
            field="billing_model",
        )
    return clean
