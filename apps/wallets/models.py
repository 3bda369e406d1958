"""Wallets: credit grants and an append-only ledger."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.history import HistoricalRecords
from apps.core.money import DecimalField

# Burn-down order, the one home of the rule (DESIGN "Wallets"): priority (lower first; included credits carry
# priority 0), then earliest expiry (no expiry last, on SQLite and PostgreSQL alike), then free before paid (a
# grant is free when its price per credit is 0; paid grants are never ranked by their price), then oldest; the id
# makes it total.
IS_PAID = models.Case(
    models.When(price_per_credit=0, then=models.Value(0)), default=models.Value(1), output_field=models.IntegerField()
)
BURN_ORDER = ("priority", models.F("expires_at").asc(nulls_last=True), IS_PAID.asc(), "created_at", "id")


class Wallet(models.Model):
    customer = models.OneToOneField("contracts.Customer", on_delete=models.PROTECT, related_name="wallet")
    unit = models.CharField(max_length=10, default="credits")
    balance = DecimalField(default=Decimal(0), help_text="Always equals the sum of the grants' remaining.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_non_negative")]

    def __str__(self) -> str:
        return f"wallet of {self.customer}"


class CreditGrant(models.Model):
    class Kind(models.TextChoices):
        INCLUDED = "included", "Included in the contract (this period)"
        PURCHASED = "purchased", "Purchased (commit)"
        PROMOTIONAL = "promotional", "Promotional (free)"
        SUPPORT = "support", "Support (goodwill)"
        ROLLOVER = "rollover", "Rollover"

    class Source(models.TextChoices):
        DIRECT = "direct", "Direct grant (billing, migration, demo)"
        SUPPORT = "support", "Support credit within the caps"
        REQUEST = "request", "Credit request approved by finance"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="grants")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    source = models.CharField(
        max_length=10,
        choices=Source.choices,
        default=Source.DIRECT,
        help_text="How the grant came about; support and request grants count towards the monthly support cap.",
    )
    amount = DecimalField()
    remaining = DecimalField()
    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower draws first.")
    effective_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    price_per_credit = DecimalField(default=Decimal(0), help_text="What the customer paid per credit (0 if free).")
    reason_code = models.CharField(max_length=30, blank=True)
    reference = models.CharField(max_length=120, blank=True, help_text="Ticket, order or invoice reference.")
    note = models.TextField(blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = list(BURN_ORDER)
        constraints = [
            models.CheckConstraint(condition=Q(remaining__gte=0), name="grant_remaining_non_negative"),
            models.CheckConstraint(
                condition=Q(remaining__lte=models.F("amount")), name="grant_remaining_within_amount"
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(price_per_credit__gte=0), name="grant_amount_positive"
            ),
        ]

    @property
    def is_free(self) -> bool:
        return self.price_per_credit == 0


class LedgerEntry(models.Model):
    """Append-only. Corrections are new entries (void, reversal); PostgreSQL refuses UPDATE/DELETE."""

    class EntryType(models.TextChoices):
        GRANT = "grant", "Grant"
        DEBIT = "debit", "Debit"
        EXPIRY = "expiry", "Expiry"
        VOID = "void", "Void"
        REVERSAL = "reversal", "Reversal"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    entry_type = models.CharField(max_length=10, choices=EntryType.choices)
    grant = models.ForeignKey(
        CreditGrant,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entries",
        help_text="Set when the entry concerns one grant (grant, expiry, void).",
    )
    amount = DecimalField(help_text="Signed: + adds to the balance, - takes from it.")
    requested = DecimalField(
        null=True, blank=True, help_text="Debits: what was asked for; shortfall = requested - drawn."
    )
    balance_after = DecimalField()
    revenue = DecimalField(default=Decimal(0), help_text="Debits: what the drawn credits were paid for.")
    idempotency_key = models.CharField(max_length=200, unique=True)
    reference = models.CharField(max_length=200, blank=True)
    reverses = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_api_key = models.ForeignKey("core.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)
    effective_at = models.DateTimeField(
        default=timezone.now,
        db_index=True,
        help_text="When the movement happened (a debit's usage instant, "
        "an expiry's expiry instant); created_at is when it was written.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["wallet", "created_at"], name="ledger_wallet_created"),
            models.Index(fields=["wallet", "entry_type", "effective_at"], name="ledger_wallet_type_effective"),
            models.Index(fields=["wallet", "-id"], name="ledger_wallet_newest"),
        ]

    @property
    def shortfall(self) -> Decimal:
        """Debits: what was asked for and not covered by the balance."""
        if self.entry_type != self.EntryType.DEBIT or self.requested is None:
            return Decimal(0)
        return self.requested + self.amount


class LedgerAllocation(models.Model):
    """Which grants a debit or reversal touched, and by how much (signed like the entry)."""

    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="allocations")
    grant = models.ForeignKey(CreditGrant, on_delete=models.PROTECT, related_name="allocations")
    amount = DecimalField()
    revenue = DecimalField(default=Decimal(0))

    class Meta:
        ordering = ["id"]


class CreditReason(models.TextChoices):
    """Why support issued a credit (CreditGrant.reason_code / CreditRequest.reason_code)."""

    OUTAGE = "outage", "Outage"
    BILLING_DISPUTE = "billing_dispute", "Billing dispute"
    GOODWILL = "goodwill", "Goodwill"
    TRIAL_EXTENSION = "trial_extension", "Trial extension"
    OTHER = "other", "Other"


class CreditRequest(models.Model):
    """A credit above a cap, waiting for a finance approver (never the requester)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="credit_requests")
    amount = DecimalField()
    kind = models.CharField(max_length=12, choices=CreditGrant.Kind.choices)
    reason_code = models.CharField(max_length=30)
    reference = models.CharField(max_length=120, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_by_api_key = models.ForeignKey(
        "core.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    grant = models.OneToOneField(CreditGrant, null=True, blank=True, on_delete=models.PROTECT, related_name="request")
    history = HistoricalRecords()

    class Meta:
        ordering = ["-requested_at"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="credit_request_amount_positive")]
