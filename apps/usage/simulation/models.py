"""A simulation of a rate-table version over a range of real usage, and its figures per customer x meter."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from apps.core.money import DecimalField

FIGURES = ("quantity", "amount", "credits", "overage_amount", "revenue", "cost")


class Simulation(models.Model):
    """Inputs (version, the content hash of its prices at run time, range, who, when) and outcome. Results are
    the current rated figures ("now") and what re-rating would write if the version were approved from the range
    start ("simulated"), read inside a rolled-back transaction (see shadow.py)."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    version = models.ForeignKey("catalog.RateTableVersion", on_delete=models.CASCADE, related_name="+")
    content_hash = models.CharField(max_length=64, help_text="The version's pricing hash when the run started.")
    range_start = models.DateTimeField(help_text="Inclusive (UTC midnight of the first day).")
    range_end = models.DateTimeField(help_text="Exclusive (UTC midnight after the last day).")
    default_range = models.BooleanField(default=False, help_text="The affected contracts' current + previous periods.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_label = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    customers_total = models.PositiveIntegerField(default=0)
    customers_done = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0, help_text="Rated records looked at (now).")
    pricing_unit = models.CharField(max_length=10, blank=True)
    shock_threshold = DecimalField(default=Decimal(20), help_text="Bill shock: % change of a customer's amount.")
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        db_table = "usage_simulation"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["version", "-created_at"], name="usage_simulation_version")]

    def __str__(self) -> str:
        return f"simulation {self.pk} of version {self.version_id}"

    @property
    def progress_percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        return self.customers_done * 100 // self.customers_total if self.customers_total else 0


class SimulationLine(models.Model):
    """One customer x meter of a simulation: the figures now and simulated over the range (sums of the current
    rated records with timestamps in it; amounts in the table's pricing unit, overage and revenue in the contract
    currency, cost in the cost currency)."""

    simulation = models.ForeignKey(Simulation, on_delete=models.CASCADE, related_name="lines")
    customer = models.ForeignKey("contracts.Customer", on_delete=models.CASCADE, related_name="+", db_index=False)
    meter = models.ForeignKey("catalog.Meter", on_delete=models.CASCADE, related_name="+", db_index=False)
    events = models.PositiveIntegerField(default=0)
    quantity_now = DecimalField(default=Decimal(0))
    quantity_simulated = DecimalField(default=Decimal(0))
    amount_now = DecimalField(default=Decimal(0))
    amount_simulated = DecimalField(default=Decimal(0))
    credits_now = DecimalField(default=Decimal(0), help_text="Credits drawn from the wallet.")
    credits_simulated = DecimalField(default=Decimal(0))
    overage_amount_now = DecimalField(default=Decimal(0))
    overage_amount_simulated = DecimalField(default=Decimal(0))
    revenue_now = DecimalField(default=Decimal(0))
    revenue_simulated = DecimalField(default=Decimal(0))
    cost_now = DecimalField(default=Decimal(0))
    cost_simulated = DecimalField(default=Decimal(0))

    class Meta:
        db_table = "usage_simulation_line"
        constraints = [
            models.UniqueConstraint(fields=["simulation", "customer", "meter"], name="usage_simulation_line_unique"),
        ]
