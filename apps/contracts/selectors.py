"""Contracts reads. Plain data out (frozen dataclasses, dicts, lists); the other apps read contracts only here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404

from apps.catalog.cohorts import ContractFacts, VersionChoice
from apps.catalog.pricing import priced_in_credits
from apps.catalog.selectors import (
    meters_by_ids,
    rate_table_codes_by_ids,
    rate_table_version_choice,
    rate_table_versions_approved,
    version_choice,
)
from apps.core.money import decimal_str
from apps.core.roles import Role
from apps.core.selectors import usernames_by_ids

from .models import (
    CONTRACT_TERM_FIELDS,
    CREDIT_POLICY_FIELDS,
    Contract,
    CreditPolicy,
    Customer,
    IncludedAllowance,
    PriceOverride,
)
from .periods import billing_period
from .policies import CreditPolicyTerms

WALLET_BACKED_MODELS = ("prepaid", "hybrid")  # billing models whose usage draws the credit wallet


@dataclass(frozen=True)
class OverrideTerms:
    kind: str  # "multiplier" | "fixed"
    multiplier: Decimal | None
    unit_price: Decimal | None
    price_per_units: Decimal


@dataclass(frozen=True)
class ContractTerms:
    id: int
    customer_id: int
    rate_table_id: int
    billing_model: str  # prepaid | postpaid | hybrid
    enforcement: str  # hard | soft | unlimited
    overdraft_limit: Decimal
    credit_price: Decimal
    included_credits: Decimal
    base_fee: Decimal
    currency: str
    alert_thresholds: tuple[int, ...]
    billing_anchor_day: int
    starts_at: datetime
    ends_at: datetime | None
    allowances: dict[int, Decimal] = field(default_factory=dict)  # meter_id -> units included per period
    overrides: dict[int, OverrideTerms] = field(default_factory=dict)  # meter_id -> override
    rate_table_code: str = ""
    pricing_unit: str = ""
    customer_external_id: str = ""
    segment: str = ""
    protected_version_id: int | None = None
    protected_until: datetime | None = None
    credit_policy: CreditPolicyTerms | None = None  # issue #11: rollover, recurring, auto top-up, spend limit

    @property
    def facts(self) -> ContractFacts:
        """What choosing its version needs (cohorts, grandfathering, price protection: apps.catalog.cohorts)."""
        return ContractFacts(
            customer=self.customer_external_id,
            segment=self.segment,
            starts_at=self.starts_at,
            protected_version_id=self.protected_version_id,
            protected_until=self.protected_until,
        )

    def period(self, at: datetime) -> tuple[datetime, datetime]:
        """The billing period containing `at` under this contract's anchor (the calendar period, unclipped)."""
        return billing_period(self.billing_anchor_day, at)

    def billing_period(self, at: datetime) -> tuple[datetime, datetime]:
        """The billing period containing `at`, clipped to the contract's own dates: a contract that starts or
        ends mid-period has a short first or last period. The one home of this rule."""
        start, end = billing_period(self.billing_anchor_day, at)
        start = max(start, self.starts_at)
        if self.ends_at is not None:
            end = min(end, self.ends_at)
        return start, end

    def in_force_at(self, at: datetime) -> bool:
        return contract_in_force_at(starts_at=self.starts_at, ends_at=self.ends_at, at=at)

    @property
    def wallet_backed(self) -> bool:
        """Prepaid and hybrid contracts draw usage from the credit wallet; postpaid accrues it."""
        return self.billing_model in WALLET_BACKED_MODELS

    @property
    def priced_in_credits(self) -> bool:
        return priced_in_credits(self.pricing_unit)

    @property
    def unit_value(self) -> Decimal:
        """Currency per pricing unit: the credit price when the rate table prices in credits, else 1."""
        return self.credit_price if self.priced_in_credits else Decimal(1)


def contract_in_force_at(*, starts_at: datetime, ends_at: datetime | None, at: datetime) -> bool:
    """A contract is in force from its start (inclusive) to its end (exclusive; open-ended when None).
    The one home of this rule: `_in_force_q` is the same test in SQL, `contract_status` names it for pages."""
    return starts_at <= at and (ends_at is None or at < ends_at)


def _in_force_q(at: datetime, prefix: str = "") -> Q:
    return Q(**{f"{prefix}starts_at__lte": at}) & (
        Q(**{f"{prefix}ends_at__isnull": True}) | Q(**{f"{prefix}ends_at__gt": at})
    )


def _terms_queryset() -> QuerySet[Contract]:
    return Contract.objects.select_related("rate_table", "customer", "credit_policy").prefetch_related(
        Prefetch("allowances", queryset=IncludedAllowance.objects.order_by("meter_id")),
        Prefetch("overrides", queryset=PriceOverride.objects.order_by("meter_id")),
    )


def contract_terms_from(contract: Contract) -> ContractTerms:
    return ContractTerms(
        id=contract.id,
        customer_id=contract.customer_id,
        rate_table_id=contract.rate_table_id,
        billing_model=contract.billing_model,
        enforcement=contract.enforcement,
        overdraft_limit=contract.overdraft_limit,
        credit_price=contract.credit_price,
        included_credits=contract.included_credits,
        base_fee=contract.base_fee,
        currency=contract.currency,
        alert_thresholds=tuple(int(t) for t in (contract.alert_thresholds or [])),
        billing_anchor_day=contract.billing_anchor_day,
        starts_at=contract.starts_at,
        ends_at=contract.ends_at,
        allowances={a.meter_id: a.quantity for a in contract.allowances.all()},
        overrides={
            o.meter_id: OverrideTerms(
                kind=o.kind, multiplier=o.multiplier, unit_price=o.unit_price, price_per_units=o.price_per_units
            )
            for o in contract.overrides.all()
        },
        rate_table_code=contract.rate_table.code,
        pricing_unit=contract.rate_table.pricing_unit,
        customer_external_id=contract.customer.external_id,
        segment=contract.customer.segment,
        protected_version_id=contract.protected_version_id,
        protected_until=contract.protected_until,
        credit_policy=_policy_of(contract),
    )


def credit_policy_terms_from(policy: CreditPolicy) -> CreditPolicyTerms:
    return CreditPolicyTerms(
        contract_id=policy.contract_id,
        rollover_enabled=policy.rollover_enabled,
        rollover_purchased=policy.rollover_purchased,
        rollover_cap_kind=policy.rollover_cap_kind,
        rollover_cap=policy.rollover_cap,
        rollover_expiry_periods=policy.rollover_expiry_periods,
        recurring_credits=policy.recurring_credits,
        recurring_kind=policy.recurring_kind,
        topup_threshold=policy.topup_threshold,
        topup_amount=policy.topup_amount,
        topup_monthly_cap=policy.topup_monthly_cap,
        spend_limit=policy.spend_limit,
    )


def _policy_of(contract: Contract) -> CreditPolicyTerms | None:
    try:
        policy = contract.credit_policy
    except CreditPolicy.DoesNotExist:
        return None
    return credit_policy_terms_from(policy) if policy is not None else None


def contracts_with_credit_policies(*, customer_ids: Iterable[int]) -> dict[int, list[ContractTerms]]:
    """The customers' contracts that carry an active credit policy, oldest first (one query when none does):
    what the wallet's draw needs for auto top-ups and spend limits."""
    ids = list({int(i) for i in customer_ids})
    result: dict[int, list[ContractTerms]] = {}
    if not ids:
        return result
    for contract in (
        _terms_queryset().filter(customer_id__in=ids, credit_policy__isnull=False).order_by("customer_id", "starts_at")
    ):
        terms = contract_terms_from(contract)
        if terms.credit_policy is not None and terms.credit_policy.is_active:
            result.setdefault(contract.customer_id, []).append(terms)
    return result


def credit_policy_values(*, contract_id: int) -> dict:
    """The contract's credit policy as form values (the model's defaults when it has none yet)."""
    policy = CreditPolicy.objects.filter(contract_id=contract_id).first() or CreditPolicy(contract_id=contract_id)
    return {name: getattr(policy, name) for name in CREDIT_POLICY_FIELDS}


def contracts_with_policy_at(*, at: datetime) -> list[ContractTerms]:
    """Contracts in force at `at` with an active credit policy (beat: recurring grants)."""
    terms = (contract_terms_from(c) for c in _terms_queryset().filter(_in_force_q(at), credit_policy__isnull=False))
    return [t for t in terms if t.credit_policy is not None and t.credit_policy.is_active]


# --- interfaces used by usage rating and alerts -----------------------------------------------------------


def customer_ids_by_external_id(external_ids: Iterable[str]) -> dict[str, int]:
    """Map CRM ids to primary keys in one query; unknown ids are simply absent."""
    wanted = {str(e) for e in external_ids}
    if not wanted:
        return {}
    return dict(Customer.objects.filter(external_id__in=wanted).values_list("external_id", "id"))


def customer_get(*, external_id: str) -> Customer | None:
    return Customer.objects.select_related("account_manager").filter(external_id=external_id).first()


def customer_or_404(*, external_id: str) -> Customer:
    """The customer for a page or API view, or 404 (the one customer lookup of the views)."""
    customer = customer_get(external_id=external_id)
    if customer is None:
        raise Http404("No such customer.")
    return customer


def customers_all() -> list[Customer]:
    """Every customer, oldest first (demo seeding and batch jobs)."""
    return list(Customer.objects.order_by("id"))


def customer_get_by_id(*, customer_id: int) -> Customer | None:
    return Customer.objects.select_related("account_manager").filter(pk=customer_id).first()


def contract_in_force(*, customer_id: int, at: datetime) -> ContractTerms | None:
    """The contract in force for the customer at the instant `at` (start inclusive, end exclusive)."""
    contract = _terms_queryset().filter(_in_force_q(at), customer_id=customer_id).order_by("-starts_at").first()
    return contract_terms_from(contract) if contract else None


def contracts_in_force(*, customer_ids: Iterable[int], at: datetime) -> dict[int, ContractTerms]:
    """Contracts in force at `at` for many customers: three queries whatever the number of customers."""
    ids = list({int(i) for i in customer_ids})
    if not ids:
        return {}
    result: dict[int, ContractTerms] = {}
    for contract in (
        _terms_queryset().filter(_in_force_q(at), customer_id__in=ids).order_by("customer_id", "-starts_at")
    ):
        result.setdefault(contract.customer_id, contract_terms_from(contract))
    return result


def contracts_for_customers(*, customer_ids: Iterable[int]) -> dict[int, list[ContractTerms]]:
    """Every contract of the customers, oldest first (for resolving many instants, e.g. re-rating)."""
    ids = list({int(i) for i in customer_ids})
    result: dict[int, list[ContractTerms]] = {i: [] for i in ids}
    for contract in _terms_queryset().filter(customer_id__in=ids).order_by("customer_id", "starts_at"):
        result[contract.customer_id].append(contract_terms_from(contract))
    return result


def contract_version_choice(*, terms: ContractTerms, at: datetime) -> VersionChoice | None:
    """The approved version pricing the contract at `at` and the rule that picked it (cohort, grandfathering,
    price protection): the same choice rating makes."""
    return rate_table_version_choice(rate_table_id=terms.rate_table_id, contract=terms.facts, at=at)


def contracts_priced_by_version(*, rate_table_id: int, at: datetime) -> dict[int, int]:
    """version id -> how many contracts in force at `at` on the table it prices (the rating engine's choice)."""
    versions = rate_table_versions_approved(rate_table_ids=[rate_table_id]).get(rate_table_id, [])
    counts: dict[int, int] = {}
    for contract in _terms_queryset().filter(_in_force_q(at), rate_table_id=rate_table_id):
        choice = version_choice(versions, contract_terms_from(contract).facts, at)
        if choice is not None:
            counts[choice.version.id] = counts.get(choice.version.id, 0) + 1
    return counts


# --- pages ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerFilters:
    q: str = ""
    account_manager_id: int | None = None
    unassigned: bool = False
    segment: str = ""
    status: str = ""
    billing_model: str = ""


def customer_list(*, filters: CustomerFilters, at: datetime) -> QuerySet[Customer]:
    """Customers matching the filters, each annotated with its contract in force (`current_contract`)."""
    qs = Customer.objects.select_related("account_manager")
    if filters.q:
        qs = qs.filter(Q(name__icontains=filters.q) | Q(external_id__icontains=filters.q))
    if filters.unassigned:
        qs = qs.filter(account_manager__isnull=True)
    elif filters.account_manager_id:
        qs = qs.filter(account_manager_id=filters.account_manager_id)
    if filters.segment:
        qs = qs.filter(segment=filters.segment)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.billing_model:
        qs = qs.filter(
            Q(contracts__billing_model=filters.billing_model) & _in_force_q(at, prefix="contracts__")
        ).distinct()
    return qs.order_by("name", "id")


def attach_current_contracts(customers: list[Customer], *, at: datetime) -> list[dict]:
    """Rows for the customer table: the customer plus its contract in force (one query for the page)."""
    terms = {}
    if customers:
        contracts = (
            Contract.objects.select_related("rate_table")
            .filter(_in_force_q(at), customer_id__in=[c.id for c in customers])
            .order_by("-starts_at")
        )
        for contract in contracts:
            terms.setdefault(contract.customer_id, contract)
    return [{"customer": c, "contract": terms.get(c.id)} for c in customers]


def customer_counts_by_manager() -> dict[int | None, int]:
    return {
        row["account_manager_id"]: row["n"]
        for row in Customer.objects.values("account_manager_id").annotate(n=Count("id"))
    }


def account_managers() -> list:
    """Users who manage at least one account or hold the account-manager role."""
    return list(
        get_user_model()
        .objects.filter(Q(accounts__isnull=False) | Q(groups__name=Role.ACCOUNT_MANAGER.value))
        .distinct()
        .order_by("username")
    )


def customer_contracts(*, customer_id: int) -> list[Contract]:
    return list(
        Contract.objects.select_related("rate_table")
        .prefetch_related(
            Prefetch("allowances", queryset=IncludedAllowance.objects.select_related("meter").order_by("meter__code")),
            Prefetch("overrides", queryset=PriceOverride.objects.select_related("meter").order_by("meter__code")),
        )
        .filter(customer_id=customer_id)
        .order_by("-starts_at")
    )


def contract_get(*, customer_id: int, contract_id: int) -> Contract | None:
    return (
        Contract.objects.select_related("rate_table", "customer", "protected_version")
        .prefetch_related(
            Prefetch("allowances", queryset=IncludedAllowance.objects.select_related("meter").order_by("meter__code")),
            Prefetch("overrides", queryset=PriceOverride.objects.select_related("meter").order_by("meter__code")),
        )
        .filter(customer_id=customer_id, pk=contract_id)
        .first()
    )


def contract_status(contract: Contract, at: datetime) -> str:
    if contract_in_force_at(starts_at=contract.starts_at, ends_at=contract.ends_at, at=at):
        return "active"
    return "scheduled" if contract.starts_at > at else "ended"


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    user: str
    kind: str  # created | changed | deleted
    subject: str  # "contract", "allowance llm.input_tokens.fast", ...
    reason: str
    changes: list[tuple[str, str, str]]  # (field, old, new)


# The contract fields a history row compares: its terms, the rate table by name.
_CONTRACT_HISTORY_FIELDS = [f.removesuffix("_id") for f in CONTRACT_TERM_FIELDS]


def _fmt(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, Decimal):
        return decimal_str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _history_rows(records, subject_of, fields) -> list[HistoryRow]:
    rows = []
    previous: dict = {}
    for record in sorted(records, key=lambda r: (r.history_date, r.history_id)):
        key = subject_of(record)
        prev = previous.get(record.id)
        kind = {"+": "created", "~": "changed", "-": "deleted"}[record.history_type]
        changes = []
        for name in fields:
            new = getattr(record, f"{name}_id", None) if name in ("rate_table", "meter") else getattr(record, name)
            if prev is None:
                if kind == "created":
                    changes.append((name, "", _fmt(new)))
                continue
            old = getattr(prev, f"{name}_id", None) if name in ("rate_table", "meter") else getattr(prev, name)
            if old != new:
                changes.append((name, _fmt(old), _fmt(new)))
        previous[record.id] = record
        if kind == "changed" and not changes:
            continue
        user = record.history_user.username if record.history_user_id else "system"
        rows.append(
            HistoryRow(
                at=record.history_date,
                user=user,
                kind=kind,
                subject=key,
                reason=record.history_change_reason or "",
                changes=changes,
            )
        )
    return rows


def contract_history(*, contract_id: int) -> list[HistoryRow]:
    """The contract's changes, with its allowances and overrides, newest first."""
    contract_records = list(Contract.history.filter(id=contract_id).select_related("history_user"))
    allowance_records = list(IncludedAllowance.history.filter(contract_id=contract_id).select_related("history_user"))
    override_records = list(PriceOverride.history.filter(contract_id=contract_id).select_related("history_user"))
    meter_ids = {r.meter_id for r in allowance_records + override_records}
    meters = {meter_id: spec.code for meter_id, spec in meters_by_ids(meter_ids).items()}
    tables = rate_table_codes_by_ids({r.rate_table_id for r in contract_records})

    rows = _history_rows(contract_records, lambda r: "contract", _CONTRACT_HISTORY_FIELDS)
    rows = [
        HistoryRow(
            at=r.at,
            user=r.user,
            kind=r.kind,
            subject=r.subject,
            reason=r.reason,
            changes=[
                (
                    f,
                    tables.get(int(o), o) if f == "rate_table" and o not in ("", "—") else o,
                    tables.get(int(n), n) if f == "rate_table" and n not in ("", "—") else n,
                )
                for f, o, n in r.changes
            ],
        )
        for r in rows
    ]
    rows += _history_rows(allowance_records, lambda r: f"allowance {meters.get(r.meter_id, r.meter_id)}", ["quantity"])
    rows += _history_rows(
        override_records,
        lambda r: f"override {meters.get(r.meter_id, r.meter_id)}",
        ["kind", "multiplier", "unit_price", "price_per_units"],
    )
    policy_records = list(CreditPolicy.history.filter(contract_id=contract_id).select_related("history_user"))
    rows += _history_rows(policy_records, lambda r: "credit policy", list(CREDIT_POLICY_FIELDS))
    rows.sort(key=lambda r: r.at, reverse=True)
    return rows


def customer_history(*, customer_id: int) -> list[HistoryRow]:
    records = list(Customer.history.filter(id=customer_id).select_related("history_user"))
    rows = _history_rows(records, lambda r: "customer", ["name", "segment", "status", "account_manager_id"])
    ids = {int(v) for r in rows for f, o, n in r.changes if f == "account_manager_id" for v in (o, n) if v.isdigit()}
    names = usernames_by_ids(ids)

    def label(value: str) -> str:
        return names.get(int(value), value) if value.isdigit() else value

    rows = [
        HistoryRow(
            at=r.at,
            user=r.user,
            kind=r.kind,
            subject=r.subject,
            reason=r.reason,
            changes=[
                ("account manager", label(o), label(n)) if f == "account_manager_id" else (f, o, n)
                for f, o, n in r.changes
            ],
        )
        for r in rows
    ]
    rows.sort(key=lambda r: r.at, reverse=True)
    return rows


def contracts_including_credits(*, at: datetime) -> list[ContractTerms]:
    """Contracts in force at `at` that include credits per period and draw a wallet (prepaid, hybrid)."""
    qs = (
        _terms_queryset()
        .filter(
            _in_force_q(at),
            included_credits__gt=0,
            billing_model__in=[Contract.BillingModel.PREPAID, Contract.BillingModel.HYBRID],
        )
        .order_by("id")
    )
    return [contract_terms_from(c) for c in qs]


# --- batch reads for insights and alerts


def customers_by_id(*, customer_ids: Iterable[int]) -> dict[int, Customer]:
    """Many customers (with their account manager) in one query."""
    ids = list({int(i) for i in customer_ids})
    return {c.pk: c for c in Customer.objects.select_related("account_manager").filter(pk__in=ids)} if ids else {}


def customer_names(*, customer_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """customer id -> (external id, name), one narrow query."""
    ids = list({int(i) for i in customer_ids})
    if not ids:
        return {}
    return {
        pk: (ext, name)
        for pk, ext, name in Customer.objects.filter(pk__in=ids).values_list("pk", "external_id", "name")
    }


def customer_choices() -> list[Customer]:
    """Every customer (id, external id and name only), by name: for pickers."""
    return list(Customer.objects.only("pk", "external_id", "name").order_by("name"))


def customers_of_manager(*, user_id: int, limit: int = 200) -> tuple[list[Customer], int]:
    """The accounts a person manages, by name (at most `limit`), and how many there are."""
    qs = Customer.objects.filter(account_manager_id=user_id)
    return list(qs.order_by("name")[:limit]), qs.count()


def customer_ids_in_force(*, at: datetime) -> set[int]:
    """Customers with a contract in force at `at`."""
    return set(Contract.objects.filter(_in_force_q(at)).values_list("customer_id", flat=True))


def unit_values(*, customer_ids: Iterable[int], at: datetime) -> dict[int, Decimal]:
    """`ContractTerms.unit_value` for many customers: of the contract in force at `at`, else the latest one
    started before it, else the first one. One narrow query (dashboards ask it for every customer)."""
    chosen: dict[int, tuple[datetime, Decimal, str]] = {}
    rows = (
        Contract.objects.filter(customer_id__in={int(i) for i in customer_ids})
        .order_by("customer_id", "starts_at", "id")
        .values_list("customer_id", "starts_at", "credit_price", "rate_table__pricing_unit")
    )
    for customer_id, starts_at, credit_price, pricing_unit in rows:  # oldest first, as contracts_for_customers
        if customer_id not in chosen or starts_at <= at:
            chosen[customer_id] = (starts_at, credit_price, pricing_unit)
    return {
        customer_id: credit_price if priced_in_credits(pricing_unit) else Decimal(1)
        for customer_id, (_, credit_price, pricing_unit) in chosen.items()
    }
