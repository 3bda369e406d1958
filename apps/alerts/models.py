"""Alerts: rules (default ones derived from each contract, custom ones added by people), the alerts they fire,
webhook endpoints and every notification delivery.

An alert fires once per crossing per window: the window is the billing period (or the day, for spikes), and
a crossing is numbered (`seq`). The database enforces both "at most one alert per rule x customer x subject x
window x crossing" and "at most one live (open or acknowledged) alert per rule x customer x subject x window",
so a replayed batch, a repeated task or two workers evaluating at once can never fire twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.history import HistoricalRecords
from apps.core.money import DecimalField


class Kind(models.TextChoices):
    INCLUDED_USAGE = "included_usage", "Included usage crossed"
    BALANCE_BELOW = "balance_below", "Balance below"
    RUNWAY_BELOW = "runway_below", "Runway below"
    POSTPAID_SPEND_ABOVE = "postpaid_spend_above", "Postpaid spend above"
    DAILY_SPIKE = "daily_spike", "Daily usage spike"
    NEGATIVE_MARGIN = "negative_margin", "Margin below"
    AUTO_TOPUP = "auto_topup", "Auto top-up issued"
    SPEND_LIMIT = "spend_limit", "Spend limit reached"


# What the threshold of each kind means (shown next to the number in forms, lists and messages).
THRESHOLD_UNITS: dict[str, str] = {
    Kind.INCLUDED_USAGE: "%",
    Kind.BALANCE_BELOW: "credits",
    Kind.RUNWAY_BELOW: "days",
    Kind.POSTPAID_SPEND_ABOVE: "currency",
    Kind.DAILY_SPIKE: "×",
    Kind.NEGATIVE_MARGIN: "%",
    Kind.AUTO_TOPUP: "credits",
    Kind.SPEND_LIMIT: "per period",
}

THRESHOLD_HELP: dict[str, str] = {
    Kind.INCLUDED_USAGE: "Percent of the meter's included allowance used in the billing period (e.g. 90).",
    Kind.BALANCE_BELOW: "Wallet balance in credits; fires when the balance drops below it.",
    Kind.RUNWAY_BELOW: "Days until the balance runs out at the trailing 14-day burn rate.",
    Kind.POSTPAID_SPEND_ABOVE: "Overage billed in arrears this billing period, in the contract currency.",
    Kind.DAILY_SPIKE: "Multiple of the trailing 7-day daily average (e.g. 3 = three times the usual day).",
    Kind.NEGATIVE_MARGIN: "Gross margin % of a meter's charged usage this period; fires below it (0 = below cost).",
    Kind.AUTO_TOPUP: "The contract's auto top-up threshold (credits); fires once per top-up the contract issued.",
    Kind.SPEND_LIMIT: "Consumption this period (credits prepaid, currency postpaid); fires when it reaches the limit.",
}

# Kinds whose subject is a meter (one alert per meter); the others concern the whole account.
METER_KINDS = frozenset({Kind.INCLUDED_USAGE, Kind.DAILY_SPIKE, Kind.NEGATIVE_MARGIN})


class AlertRule(models.Model):
    """What to watch. `customer` empty: the rule applies to every customer. `meter` empty (meter kinds): every
    meter. Default rules are created from the contract in force (`contract`, `default_key`); editing one marks it
    customized so a later sync leaves it as the person set it."""

    class Source(models.TextChoices):
        DEFAULT = "default", "From the contract"
        CUSTOM = "custom", "Added by a person"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    customer = models.ForeignKey(
        "contracts.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    meter = models.ForeignKey("catalog.Meter", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    threshold = DecimalField()
    enabled = models.BooleanField(default=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CUSTOM)
    contract = models.ForeignKey(
        "contracts.Contract", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    default_key = models.CharField(max_length=60, blank=True, default="")
    customized = models.BooleanField(default=False)
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["customer_id", "kind", "threshold", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "default_key"],
                condition=Q(contract__isnull=False),
                name="alert_rule_default_once_per_contract",
            ),
            models.UniqueConstraint(
                fields=["default_key"],
                condition=Q(contract__isnull=True) & ~Q(default_key=""),
                name="alert_rule_global_default_once",
            ),
        ]
        indexes = [models.Index(fields=["customer", "enabled"], name="alert_rule_customer")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.threshold}"

    @property
    def unit(self) -> str:
        return THRESHOLD_UNITS.get(self.kind, "")


class Alert(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    customer = models.ForeignKey("contracts.Customer", on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    meter = models.ForeignKey("catalog.Meter", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    subject = models.CharField(max_length=80, blank=True, default="", help_text="The meter code, or empty.")
    window = models.CharField(max_length=20, help_text="Billing period start (or the day, for spikes), ISO date.")
    seq = models.PositiveIntegerField(default=1, help_text="Which crossing in the window (1 = the first).")
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    value = DecimalField(help_text="The value the alert fired on.")
    threshold = DecimalField(help_text="The threshold it crossed.")
    unit = models.CharField(max_length=12, blank=True)
    message = models.CharField(max_length=300)
    detail = models.JSONField(default=dict, blank=True)
    occurred_on = models.DateField(help_text="The day the data crossed the threshold.")
    fired_at = models.DateTimeField()
    last_value = DecimalField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledge_note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_value = DecimalField(null=True, blank=True)
    resolve_reason = models.CharField(max_length=200, blank=True)
    batch_id = models.BigIntegerField(null=True, blank=True, help_text="The rating batch whose evaluation fired it.")

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "customer", "subject", "window", "seq"], name="alert_once_per_crossing"
            ),
            models.UniqueConstraint(
                fields=["rule", "customer", "subject", "window"],
                condition=~Q(state="resolved"),
                name="alert_one_live_per_window",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "-fired_at"], name="alert_state_fired"),
            models.Index(fields=["customer", "-fired_at"], name="alert_customer_fired"),
        ]

    def __str__(self) -> str:
        return self.message

    @property
    def is_live(self) -> bool:
        return self.state != self.State.RESOLVED


class WebhookEndpoint(models.Model):
    """Where alert notifications are POSTed, signed with HMAC-SHA256 of the body under `secret`."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, help_text="Shared secret for the X-Ratedesk-Signature header.")
    is_active = models.BooleanField(default=True)
    kinds = models.JSONField(default=list, blank=True, help_text="Alert kinds to send; empty = all.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def wants(self, kind: str) -> bool:
        return self.is_active and (not self.kinds or kind in self.kinds)


class NotificationDelivery(models.Model):
    """One notification of one alert to one recipient: an email to the account manager or a POST to a webhook.
    Unique per alert x channel x recipient, so notifying twice is impossible; attempts are logged in `log`."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Retrying"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    recipient = models.CharField(max_length=500, help_text="Email address or URL.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    body = models.TextField(blank=True, help_text="Webhooks: the exact JSON body signed and sent.")
    signature = models.CharField(max_length=100, blank=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    log = models.JSONField(default=list, blank=True, help_text="One entry per attempt: at, status, error.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["alert", "channel", "recipient"], name="delivery_once_per_recipient"),
        ]
        indexes = [models.Index(fields=["status", "-created_at"], name="delivery_status_created")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.recipient}"
