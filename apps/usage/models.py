"""Usage: raw events as reported, what rating did with each, and rollups recomputed from the rated records.

Rating order: within a customer x meter x billing period, events are priced in the order
(timestamp, event id as sent). An event's tier position is the cumulative quantity of the events
before it in that order, so the result does not depend on how events were split into batches or in
which order they arrived. See apps/usage/rating/pricing.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.money import DecimalField


class UsageEvent(models.Model):
    """One usage event as a product reported it. Written by ingestion in bulk (raw SQL), never edited
    except for its rating state."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending rating"
        RATED = "rated", "Rated"
        ERROR = "error", "Could not be rated"

    customer = models.ForeignKey("contracts.Customer", on_delete=models.PROTECT, related_name="+", db_index=False)
    event_id = models.CharField(max_length=200, help_text="Idempotency id sent by the product, unique per customer.")
    meter = models.ForeignKey("catalog.Meter", on_delete=models.PROTECT, related_name="+", db_index=False)
    quantity = DecimalField()
    timestamp = models.DateTimeField()
    attributes = models.JSONField(default=dict, blank=True)
    payload_hash = models.CharField(max_length=32, help_text="Hash of meter, quantity, timestamp and attributes.")
    api_key = models.ForeignKey(
        "core.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    received_at = models.DateTimeField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    rating_error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "usage_event"
        constraints = [
            models.UniqueConstraint(fields=["customer", "event_id"], name="usage_event_unique_id_per_customer"),
        ]
        indexes = [
            # The rating queue: only pending rows are in it, so it stays small.
            models.Index(fields=["id"], condition=Q(state="pending"), name="usage_event_pending"),
            models.Index(fields=["customer", "timestamp"], name="usage_event_customer_ts"),
            # Events that could not be rated (few): the overview lists them, re-rating retries them.
            models.Index(fields=["customer", "timestamp"], condition=Q(state="error"), name="usage_event_errors"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.quantity} at {self.timestamp:%Y-%m-%d %H:%M:%S})"


class RatingBatch(models.Model):
    """One run of the rating engine: a batch of pending events, or a re-rate of a range."""

    class Kind(models.TextChoices):
        RATE = "rate", "Rating"
        RERATE = "rerate", "Re-rating"

    key = models.CharField(
        max_length=100, unique=True, help_text="Derived from the work; wallet idempotency keys use it."
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.RATE)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=120, blank=True)
    range_start = models.DateTimeField(null=True, blank=True)
    range_end = models.DateTimeField(null=True, blank=True)
    customer = models.ForeignKey(
        "contracts.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)
    events = models.PositiveIntegerField(default=0, help_text="Records written (new or re-rated).")
    superseded = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "usage_rating_batch"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.key}"


class RatedUsage(models.Model):
    """What rating did with one event. Re-rating supersedes a record with a new one (never edits amounts)."""

    # No foreign-key checks on the hottest insert (rated records, by COPY): events, batches and ledger entries are
    # never deleted (PostgreSQL refuses it), and the engine writes only ids it has just read or created.
    event = models.ForeignKey(UsageEvent, on_delete=models.PROTECT, related_name="ratings", db_constraint=False)
    # Not indexed either: nothing reads rated records by batch, and each index costs every rated row an insert.
    batch = models.ForeignKey(
        RatingBatch, on_delete=models.PROTECT, related_name="records", db_constraint=False, db_index=False
    )
    # Copies of the event's customer and meter, and the terms used: protected like foreign keys (Django refuses to
    # delete what they point to) but without a database constraint, each of which would be one more index probe
    # per rated row; the engine writes them from rows that exist.
    customer = models.ForeignKey(
        "contracts.Customer", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    meter = models.ForeignKey(
        "catalog.Meter", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    timestamp = models.DateTimeField()
    day = models.DateField(help_text="UTC day of the timestamp: the rollup bucket.")
    event_ref = models.CharField(max_length=200, help_text="The event's id as sent (second key of the rating order).")
    contract = models.ForeignKey(
        "contracts.Contract", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    period_start = models.DateTimeField()
    rate_version = models.ForeignKey(
        "catalog.RateTableVersion", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    pricing_unit = models.CharField(max_length=10)
    currency = models.CharField(max_length=10)
    billing_model = models.CharField(max_length=10, default="", help_text="Contract terms at rating time.")
    enforcement = models.CharField(max_length=10, default="")
    credit_price = DecimalField(default=Decimal(1))
    allowance = DecimalField(default=Decimal(0), help_text="Units of this meter included per period.")
    pricing_model = models.CharField(max_length=12)
    override_kind = models.CharField(max_length=12, blank=True)
    override_value = DecimalField(null=True, blank=True, help_text="Multiplier, or the fixed unit price.")
    quantity = DecimalField(help_text="Billable quantity (1 for count meters).")
    prior_quantity = DecimalField(help_text="Cumulative quantity before this event in its period.")
    included_quantity = DecimalField(default=Decimal(0))
    credit_quantity = DecimalField(default=Decimal(0))
    overage_quantity = DecimalField(default=Decimal(0))
    over_limit_quantity = DecimalField(default=Decimal(0))
    tier = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Tier (1-based) the event ended in.")
    unit_price = DecimalField(help_text="Effective price per price_per_units (after override) of that tier.")
    price_per_units = DecimalField(default=Decimal(1))
    lines = models.JSONField(default=list, blank=True, help_text="Tier lines: tier, quantity, unit price, amount.")
    amount = DecimalField(help_text="Price of the chargeable quantity, in the pricing unit, unrounded.")
    credits = DecimalField(default=Decimal(0), help_text="Credits this charge needs (prepaid and hybrid).")
    credits_drawn = DecimalField(default=Decimal(0))
    overage_units = DecimalField(
        default=Decimal(0), help_text="Overage in charge units: credits (prepaid, hybrid) or currency (postpaid)."
    )
    overage_amount = DecimalField(default=Decimal(0), help_text="Billed in arrears, in the contract currency.")
    revenue = DecimalField(default=Decimal(0), help_text="Revenue the drawn credits carried plus overage.")
    cost = DecimalField(default=Decimal(0), help_text="Meter cost in force at the timestamp.")
    over_limit = models.BooleanField(default=False)
    ledger_entry = models.ForeignKey(
        "wallets.LedgerEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    allocations = models.JSONField(default=list, blank=True, help_text="Grants drawn: grant, credits, revenue, kind.")
    attr_user = models.CharField(max_length=120, blank=True, default="")
    attr_agent = models.CharField(max_length=120, blank=True, default="")
    attr_team = models.CharField(max_length=120, blank=True, default="")
    superseded_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        RatingBatch,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_records",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "usage_rated"
        ordering = ["timestamp", "event_ref"]
        constraints = [
            models.UniqueConstraint(
                fields=["event"], condition=Q(superseded_at__isnull=True), name="usage_rated_one_current_per_event"
            ),
        ]
        indexes = [
            # Rollup rebuilds (customer x day [x meter]) and period suffix reads use the current records only.
            models.Index(
                fields=["customer", "day", "meter"],
                condition=Q(superseded_at__isnull=True),
                name="usage_rated_current_bucket",
            ),
            # Usage over the limit, for settling it again when credits come back (small: only those rows).
            models.Index(
                fields=["customer", "timestamp"],
                condition=Q(superseded_at__isnull=True, over_limit=True),
                name="usage_rated_over_limit",
            ),
        ]


class RatingCursor(models.Model):
    """Where rating stands in one customer x meter x billing period: the cumulative quantity of the current
    rated records and the last position rated. Kept exact inside the rating transaction (one customer at
    a time); lets a batch price in-order events without reading the period's records."""

    customer = models.ForeignKey("contracts.Customer", on_delete=models.CASCADE, related_name="+", db_index=False)
    meter = models.ForeignKey("catalog.Meter", on_delete=models.CASCADE, related_name="+", db_index=False)
    contract = models.ForeignKey("contracts.Contract", on_delete=models.CASCADE, related_name="+", db_index=False)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    quantity = DecimalField(default=Decimal(0))
    # Signed: a credit note on overage (a volume true-up) frees room under the cap (migration 0010 recounted it).
    overage_units = DecimalField(
        default=Decimal(0), help_text="Overage in the period: credits (prepaid, hybrid) or currency (postpaid)."
    )
    last_timestamp = models.DateTimeField(null=True, blank=True)
    last_event_ref = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "usage_rating_cursor"
        constraints = [
            models.UniqueConstraint(fields=["customer", "meter", "period_start"], name="usage_cursor_unique"),
        ]


class _Totals(models.Model):
    events = models.PositiveIntegerField(default=0)
    amount = DecimalField(default=Decimal(0))
    credits = DecimalField(default=Decimal(0), help_text="Credits drawn from the wallet.")
    revenue = DecimalField(default=Decimal(0))
    cost = DecimalField(default=Decimal(0))
    updated_at = models.DateTimeField()

    class Meta:
        abstract = True


class DailyUsage(_Totals):
    """Rollup: customer x meter x UTC day. Recomputed and replaced from the current rated records."""

    customer = models.ForeignKey("contracts.Customer", on_delete=models.PROTECT, related_name="+", db_index=False)
    meter = models.ForeignKey("catalog.Meter", on_delete=models.PROTECT, related_name="+", db_index=False)
    day = models.DateField()
    currency = models.CharField(max_length=10, blank=True)
    quantity = DecimalField(default=Decimal(0))
    included_quantity = DecimalField(default=Decimal(0))
    credit_quantity = DecimalField(default=Decimal(0))
    overage_quantity = DecimalField(default=Decimal(0))
    over_limit_quantity = DecimalField(default=Decimal(0))
    overage_amount = DecimalField(default=Decimal(0))
    over_limit_events = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "usage_daily"
        constraints = [
            models.UniqueConstraint(fields=["customer", "meter", "day"], name="usage_daily_unique_bucket"),
        ]
        indexes = [models.Index(fields=["day", "meter"], name="usage_daily_day_meter")]


class DailyAttribution(_Totals):
    """Rollup: customer x UTC day x attribution value (who or what drove the usage)."""

    class Kind(models.TextChoices):
        USER = "user", "User"
        AGENT = "agent", "Agent"
        TEAM = "team", "Team"

    customer = models.ForeignKey("contracts.Customer", on_delete=models.PROTECT, related_name="+", db_index=False)
    day = models.DateField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(max_length=120)

    class Meta:
        db_table = "usage_daily_attribution"
        constraints = [
            models.UniqueConstraint(fields=["customer", "day", "kind", "value"], name="usage_attr_unique_bucket"),
        ]


# The coarse rollups' sums (each a usage_daily column of the same name; besides: events).
WEEKLY_SUMS = ("quantity", "included_quantity", "amount", "revenue", "cost")
METER_DAY_SUMS = ("revenue", "cost")


def week_of(day: date) -> date:
    """The Monday of the day's week (usage_weekly's key)."""
    return day - timedelta(days=day.weekday())


class WeeklyUsage(models.Model):
    """Coarser rollup: usage_daily's rows summed per customer x meter x week (weeks start on Monday, UTC), for
    totals over long ranges (the overview's customer x meter cells: a 30-day range reads about 11 rows per cell
    instead of 30). Kept by the code that writes usage_daily, in the same transaction (apps/usage/rating/rollups.py):
    the touched buckets' daily rows are taken out before and added back after, so every row is exactly the sum of
    its week's daily rows. A row whose days have no usage left reads as zero events: readers skip it."""

    customer = models.ForeignKey("contracts.Customer", on_delete=models.PROTECT, related_name="+", db_index=False)
    meter = models.ForeignKey("catalog.Meter", on_delete=models.PROTECT, related_name="+", db_index=False)
    week = models.DateField(help_text="The Monday the week starts on (UTC).")
    events = models.BigIntegerField(default=0)
    quantity = DecimalField(default=Decimal(0))
    included_quantity = DecimalField(default=Decimal(0))
    amount = DecimalField(default=Decimal(0))
    revenue = DecimalField(default=Decimal(0))
    cost = DecimalField(default=Decimal(0))

    class Meta:
        db_table = "usage_weekly"
        constraints = [
            models.UniqueConstraint(fields=["customer", "meter", "week"], name="usage_weekly_unique_bucket"),
        ]
        indexes = [models.Index(fields=["week"], name="usage_weekly_week")]


class DailyMeterTotal(models.Model):
    """Coarser rollup: usage_daily's rows summed over every customer, per meter x UTC day (the organisation's
    charts: about 10 rows a day instead of one per customer and meter). Its rows are shared by every customer, so
    a rating run never updates one in place (it would wait for, and make wait, another run's open transaction on the
    same day): it appends its change (new minus old daily rows), then merges the rows of its days that no open
    transaction holds into one (apps/usage/rating/rollups.py). A (meter, day) is the sum of its rows; a day x meter
    without usage left sums to zero events: readers skip it."""

    meter = models.ForeignKey("catalog.Meter", on_delete=models.PROTECT, related_name="+", db_index=False)
    day = models.DateField()
    events = models.BigIntegerField(default=0)
    revenue = DecimalField(default=Decimal(0))
    cost = DecimalField(default=Decimal(0))

    class Meta:
        db_table = "usage_daily_meter"
        indexes = [models.Index(fields=["day", "meter"], name="usage_daily_meter_day")]


# Period close (apps/usage/closing) keeps its models in its own package; they belong to this app.
from .closing.models import ClosedPeriod, FrozenLine, FrozenStatement, PeriodAction, ReopenRequest  # noqa: E402,F401
from .simulation.models import Simulation, SimulationLine  # noqa: E402,F401 - registered with the usage app
