"""Contracts: customers, their contract terms, included allowances and price overrides."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.history import HistoricalRecords
from apps.core.money import DecimalField


def default_thresholds() -> list[int]:
    return [70, 90, 100]


class Customer(models.Model):
    class Segment(models.TextChoices):
        STARTUP = "startup", "Startup"
        SMB = "smb", "SMB"
        MID_MARKET = "mid_market", "Mid-market"
        ENTERPRISE = "enterprise", "Enterprise"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        TRIAL = "trial", "Trial"
        SUSPENDED = "suspended", "Suspended"
        CHURNED = "churned", "Churned"

    external_id = models.SlugField(max_length=80, unique=True, help_text="The CRM id; usage events use it.")
    name = models.CharField(max_length=200)
    segment = models.CharField(max_length=20, choices=Segment.choices, default=Segment.SMB)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="accounts"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# A contract's terms as its services set them (and history compares them): the one list of them.
CONTRACT_TERM_FIELDS = (
    "rate_table_id",
    "starts_at",
    "ends_at",
    "billing_model",
    "currency",
    "base_fee",
    "included_credits",
    "credit_price",
    "enforcement",
    "overdraft_limit",
    "alert_thresholds",
    "billing_anchor_day",
    "notes",
    "protected_version_id",
    "protected_until",
)


class Contract(models.Model):
    class BillingModel(models.TextChoices):
        PREPAID = "prepaid", "Prepaid (credits)"
        POSTPAID = "postpaid", "Postpaid (invoiced)"
        HYBRID = "hybrid", "Hybrid (credits, then overage)"

    class Enforcement(models.TextChoices):
        HARD = "hard", "Hard: block at zero"
        SOFT = "soft", "Soft: overdraft up to a limit"
        UNLIMITED = "unlimited", "Unlimited"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="contracts")
    rate_table = models.ForeignKey("catalog.RateTable", on_delete=models.PROTECT, related_name="contracts")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Exclusive; empty means open-ended.")
    billing_model = models.CharField(max_length=10, choices=BillingModel.choices, default=BillingModel.PREPAID)
    currency = models.CharField(max_length=10, default="USD")
    base_fee = DecimalField(default=Decimal(0), help_text="Subscription fee per billing period.")
    included_credits = DecimalField(default=Decimal(0), help_text="Credits included per period.")
    credit_price = DecimalField(default=Decimal(1), help_text="Currency per credit.")
    enforcement = models.CharField(max_length=10, choices=Enforcement.choices, default=Enforcement.HARD)
    overdraft_limit = DecimalField(default=Decimal(0), help_text="Soft policy: how far below zero usage may go.")
    alert_thresholds = models.JSONField(
        default=default_thresholds, help_text="% of included usage, e.g. [70, 90, 100]."
    )
    billing_anchor_day = models.PositiveSmallIntegerField(default=1, help_text="Day of month periods start (1-31).")
    notes = models.TextField(blank=True)
    # Price protection: priced by this approved version of the table until protected_until (exclusive), whatever
    # is approved later (see apps.catalog.cohorts).
    protected_version = models.ForeignKey(
        "catalog.RateTableVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    protected_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["customer__name", "-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="contract_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(billing_anchor_day__gte=1) & Q(billing_anchor_day__lte=31), name="contract_anchor_day_range"
            ),
            models.CheckConstraint(
                condition=Q(base_fee__gte=0)
                & Q(included_credits__gte=0)
                & Q(credit_price__gte=0)
                & Q(overdraft_limit__gte=0),
                name="contract_amounts_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer} · {self.rate_table} from {self.starts_at:%Y-%m-%d}"


class IncludedAllowance(models.Model):
    """Units of a meter included per billing period."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="allowances")
    meter = models.ForeignKey("catalog.Meter", on_delete=models.PROTECT, related_name="+")
    quantity = DecimalField()
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contract", "meter"], name="allowance_unique_meter"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="allowance_non_negative"),
        ]


class PriceOverride(models.Model):
    class Kind(models.TextChoices):
        MULTIPLIER = "multiplier", "Multiplier (follows list price)"
        FIXED = "fixed", "Fixed price"

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="overrides")
    meter = models.ForeignKey("catalog.Meter", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    multiplier = DecimalField(null=True, blank=True, help_text="e.g. 0.8 for 20 % off list.")
    unit_price = DecimalField(null=True, blank=True, help_text="Fixed price per block of price_per_units.")
    price_per_units = DecimalField(default=Decimal(1))
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contract", "meter"], name="override_unique_meter"),
            models.CheckConstraint(
                condition=(Q(kind="multiplier", multiplier__isnull=False, multiplier__gte=0))
                | (Q(kind="fixed", unit_price__isnull=False, unit_price__gte=0)),
                name="override_kind_has_value",
            ),
        ]


# A credit policy's terms as its service sets them (and history compares them): the one list of them.
CREDIT_POLICY_FIELDS = (
    "rollover_enabled",
    "rollover_purchased",
    "rollover_cap_kind",
    "rollover_cap",
    "rollover_expiry_periods",
    "recurring_credits",
    "recurring_kind",
    "topup_threshold",
    "topup_amount",
    "topup_monthly_cap",
    "spend_limit",
)


class CreditPolicy(models.Model):
    """A contract's credit policies (issue #11): rollover, recurring grants, auto top-up and a spend limit per
    period. One per contract, so effective-dated with it; edited with a reason, in history."""

    class CapKind(models.TextChoices):
        AMOUNT = "amount", "Credits"
        PERCENT = "percent", "% of the period's included credits"

    class RecurringKind(models.TextChoices):
        PROMOTIONAL = "promotional", "Promotional (free)"
        PURCHASED = "purchased", "Purchased (at the credit price)"

    contract = models.OneToOneField(Contract, on_delete=models.CASCADE, related_name="credit_policy")
    rollover_enabled = models.BooleanField(default=False, help_text="Unused included credits roll over.")
    rollover_purchased = models.BooleanField(
        default=False, help_text="Purchased credits expiring at the period's end roll over too."
    )
    rollover_cap_kind = models.CharField(max_length=10, choices=CapKind.choices, default=CapKind.AMOUNT)
    rollover_cap = DecimalField(default=Decimal(0), help_text="At most this much rolls over (credits or %).")
    rollover_expiry_periods = models.PositiveSmallIntegerField(
        default=1, help_text="Rolled-over credits expire at the end of this many following periods."
    )
    recurring_credits = DecimalField(default=Decimal(0), help_text="Credits granted every period (0: none).")
    recurring_kind = models.CharField(max_length=12, choices=RecurringKind.choices, default=RecurringKind.PROMOTIONAL)
    topup_threshold = DecimalField(default=Decimal(0), help_text="Auto top-up when the balance falls below this.")
    topup_amount = DecimalField(default=Decimal(0), help_text="Credits bought per auto top-up (0: no top-up).")
    topup_monthly_cap = models.PositiveSmallIntegerField(default=0, help_text="At most this many top-ups a month.")
    spend_limit = DecimalField(
        null=True, blank=True, help_text="Per period: credits (prepaid, hybrid) or currency (postpaid); empty: none."
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(rollover_cap__gte=0)
                & Q(recurring_credits__gte=0)
                & Q(topup_threshold__gte=0)
                & Q(topup_amount__gte=0)
                & (Q(spend_limit__isnull=True) | Q(spend_limit__gt=0)),
                name="credit_policy_amounts_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"credit policy of contract #{self.contract_id}"
