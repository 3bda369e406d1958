"""Catalog: products, meters, meter costs (COGS), rate tables and their versioned rates."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.history import HistoricalRecords
from apps.core.money import DecimalField

from .cohorts import Cohort, cohort_summary


class Product(models.Model):
    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Meter(models.Model):
    class Aggregation(models.TextChoices):
        SUM = "sum", "Sum of quantity"
        COUNT = "count", "Count of events"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="meters")
    code = models.CharField(max_length=80, unique=True, help_text="e.g. llm.input_tokens, used by usage events.")
    name = models.CharField(max_length=120)
    unit = models.CharField(max_length=40, help_text="Singular unit name, e.g. token, image, second.")
    aggregation = models.CharField(max_length=10, choices=Aggregation.choices, default=Aggregation.SUM)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["product__name", "code"]

    def __str__(self) -> str:
        return self.code


class MeterCost(models.Model):
    """What one block of `per_units` units costs us (COGS), in force from `effective_from`."""

    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="costs")
    effective_from = models.DateTimeField()
    unit_cost = DecimalField()
    per_units = DecimalField(default=Decimal(1))
    currency = models.CharField(max_length=10, default="USD")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["meter__code", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["meter", "effective_from"], name="meter_cost_unique_effective_from"),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="meter_cost_non_negative"),
            models.CheckConstraint(condition=Q(per_units__gt=0), name="meter_cost_per_units_positive"),
        ]

    @property
    def cost_per_unit(self) -> Decimal:
        return self.unit_cost / self.per_units


class RateTable(models.Model):
    """A named price book in one pricing unit (a currency or credits)."""

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    pricing_unit = models.CharField(max_length=10, help_text="USD, EUR, ... or 'credits'.")
    currency_per_unit = DecimalField(
        default=Decimal(1),
        help_text=(
            "What one pricing unit is worth in the cost currency at list: 1 for USD, e.g. 0.01 when 1 credit = $0.01. "
            "Used to compare prices with costs (margin)."
        ),
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    DISCARDED = "discarded", "Discarded"


class RateTableVersion(models.Model):
    """One version of a rate table. Only drafts change; submitting freezes the content (content_hash).

    Stored status is the workflow state; whether an approved version is scheduled, active or
    superseded depends on the instant asked about (see selectors.rate_table_version_in_force).
    """

    rate_table = models.ForeignKey(RateTable, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reverts_to = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="A rollback: the earlier approved version this draft copies (set by 'Revert to vN').",
    )
    effective_from = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, help_text="Why this price change (given at submit).")
    backdate_reason = models.TextField(blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    cohort = models.CharField(
        max_length=20,
        choices=Cohort.choices,
        default=Cohort.ALL,
        help_text="Which contracts the version applies to from its effective instant (see catalog.cohorts).",
    )
    cohort_customers = models.JSONField(
        default=list, blank=True, help_text="Chosen cohort: customers' external ids (sorted)."
    )
    cohort_segments = models.JSONField(default=list, blank=True, help_text="Chosen cohort: segment codes (sorted).")
    grandfather_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Contracts outside the cohort move to this version from this instant (empty: at their renewal).",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["rate_table", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rate_table", "number"], name="rate_table_version_unique_number"),
            models.UniqueConstraint(
                fields=["rate_table", "effective_from"],
                condition=Q(status="approved"),
                name="rate_table_version_unique_approved_effective_from",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(effective_from__isnull=False),
                name="rate_table_version_approved_has_effective_from",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rate_table.code} v{self.number}"

    @property
    def is_editable(self) -> bool:
        return self.status in (VersionStatus.DRAFT, VersionStatus.CHANGES_REQUESTED)

    @property
    def cohort_summary(self) -> str:
        return cohort_summary(
            cohort=self.cohort,
            customers=self.cohort_customers,
            segments=self.cohort_segments,
            grandfather_until=self.grandfather_until,
        )


class Rate(models.Model):
    class PricingModel(models.TextChoices):
        PER_UNIT = "per_unit", "Per unit"
        GRADUATED = "graduated", "Graduated tiers"
        VOLUME = "volume", "Volume tiers"
        PACKAGE = "package", "Package"

    version = models.ForeignKey(RateTableVersion, on_delete=models.CASCADE, related_name="rates")
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="rates")
    pricing_model = models.CharField(max_length=12, choices=PricingModel.choices, default=PricingModel.PER_UNIT)
    unit_price = DecimalField(default=Decimal(0), help_text="Price per block of price_per_units units.")
    price_per_units = DecimalField(
        default=Decimal(1), help_text="Block size: e.g. 1,000,000 tokens. For package pricing, the package size."
    )
    free_units = DecimalField(default=Decimal(0), help_text="Units per period that are free at this rate.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["meter__code"]
        constraints = [
            models.UniqueConstraint(fields=["version", "meter"], name="rate_unique_meter_per_version"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="rate_unit_price_non_negative"),
            models.CheckConstraint(condition=Q(price_per_units__gt=0), name="rate_price_per_units_positive"),
            models.CheckConstraint(condition=Q(free_units__gte=0), name="rate_free_units_non_negative"),
        ]


class RateTier(models.Model):
    """A tier of a graduated or volume rate: applies to cumulative quantity up to `up_to` (None: no bound)."""

    rate = models.ForeignKey(Rate, on_delete=models.CASCADE, related_name="tiers")
    up_to = DecimalField(null=True, blank=True)
    unit_price = DecimalField()
    flat_fee = DecimalField(default=Decimal(0))

    class Meta:
        ordering = [models.F("up_to").asc(nulls_last=True)]
        constraints = [
            models.UniqueConstraint(fields=["rate", "up_to"], name="rate_tier_unique_bound"),
            models.UniqueConstraint(fields=["rate"], condition=Q(up_to__isnull=True), name="rate_tier_one_open_tier"),
            models.CheckConstraint(condition=Q(unit_price__gte=0) & Q(flat_fee__gte=0), name="rate_tier_non_negative"),
        ]


class ApprovalDecision(models.Model):
    """Append-only record of every lifecycle transition of a version."""

    class Action(models.TextChoices):
        CREATE = "create", "Created draft"
        SUBMIT = "submit", "Submitted for approval"
        WITHDRAW = "withdraw", "Withdrew to draft"
        APPROVE = "approve", "Approved"
        REQUEST_CHANGES = "request_changes", "Requested changes"
        REJECT = "reject", "Rejected"
        DISCARD = "discard", "Discarded"

    version = models.ForeignKey(RateTableVersion, on_delete=models.PROTECT, related_name="decisions")
    action = models.CharField(max_length=20, choices=Action.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    effective_from = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]


class VersionContributor(models.Model):
    """Everyone who changed a version's content (created, edited a cell or tier, added or removed a rate, or
    submitted it). The four-eyes rule excludes each of them from deciding on the version."""

    version = models.ForeignKey(RateTableVersion, on_delete=models.CASCADE, related_name="contributors")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    first_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "user"], name="catalog_version_contributor_once")]

    def __str__(self) -> str:
        return f"{self.user} on {self.version}"
