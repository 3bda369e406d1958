"""Closed months, their frozen statements (append-only on PostgreSQL) and the record of closing and reopening."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.money import DecimalField


class ClosedPeriod(models.Model):
    """One close of a calendar month (UTC). A reopened close stays as history; closing again makes a new row."""

    class Status(models.TextChoices):
        CLOSED = "closed", "Closed"
        REOPENED = "reopened", "Reopened"

    month = models.DateField(help_text="The first day of the calendar month (UTC).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CLOSED)
    content_hash = models.CharField(max_length=64, help_text="SHA-256 over the frozen statements' hashes, in order.")
    statements_count = models.PositiveIntegerField(default=0)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField()
    reopened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "usage_closed_period"
        ordering = ["-month", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["month"], condition=Q(status="closed"), name="usage_closed_period_once"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} ({self.status})"


class FrozenStatement(models.Model):
    """One customer's statement for a closed month, as it was at the close. Never changes."""

    period = models.ForeignKey(ClosedPeriod, on_delete=models.PROTECT, related_name="statements")
    customer = models.ForeignKey("contracts.Customer", on_delete=models.PROTECT, related_name="+")
    customer_external_id = models.CharField(max_length=80)
    customer_name = models.CharField(max_length=200)
    currency = models.CharField(max_length=10)
    amount_due = DecimalField()
    content_hash = models.CharField(max_length=64)

    class Meta:
        db_table = "usage_frozen_statement"
        ordering = ["customer_external_id"]
        constraints = [
            models.UniqueConstraint(fields=["period", "customer"], name="usage_frozen_statement_once"),
        ]


class FrozenLine(models.Model):
    """One line of a frozen statement (see closing.statements.Line for the meaning of each column)."""

    statement = models.ForeignKey(FrozenStatement, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveIntegerField()
    line_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=20)
    description = models.TextField()
    meter = models.CharField(max_length=100, blank=True)
    quantity = DecimalField(null=True, blank=True)
    included = DecimalField(null=True, blank=True)
    from_credits = DecimalField(null=True, blank=True)
    overage = DecimalField(null=True, blank=True)
    unit_price = DecimalField(null=True, blank=True)
    credits = DecimalField(null=True, blank=True)
    amount = DecimalField()
    currency = models.CharField(max_length=10)
    reference = models.CharField(max_length=200, blank=True)

    class Meta:
        db_table = "usage_frozen_line"
        ordering = ["statement_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["statement", "line_id"], name="usage_frozen_line_unique_id"),
        ]


class ReopenRequest(models.Model):
    """A finance user asks to reopen a closed month, with a reason; another finance user decides."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"

    period = models.ForeignKey(ClosedPeriod, on_delete=models.PROTECT, related_name="reopen_requests")
    reason = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)

    class Meta:
        db_table = "usage_reopen_request"
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["period"], condition=Q(status="pending"), name="usage_reopen_request_one_pending"
            ),
        ]


class PeriodAction(models.Model):
    """Append-only record of closing and reopening: who, when, what, why, and the content hash concerned."""

    class Action(models.TextChoices):
        CLOSE = "close", "Closed"
        REOPEN_REQUEST = "reopen_request", "Asked to reopen"
        REOPEN_APPROVE = "reopen_approve", "Approved reopening"
        REOPEN_DECLINE = "reopen_decline", "Declined reopening"

    month = models.DateField()
    period = models.ForeignKey(ClosedPeriod, on_delete=models.PROTECT, related_name="actions")
    action = models.CharField(max_length=20, choices=Action.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    content_hash = models.CharField(max_length=64)
    at = models.DateTimeField()

    class Meta:
        db_table = "usage_period_action"
        ordering = ["-at", "-id"]
