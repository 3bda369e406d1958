from __future__ import annotations

from django import forms
from django.utils import timezone

from apps.core.forms import ReasonFormMixin

from .models import Meter, Product, RateTable


class ProductForm(ReasonFormMixin, forms.ModelForm):
    class Meta:
        model = Product
        fields = ["code", "name", "description", "is_active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class MeterForm(ReasonFormMixin, forms.ModelForm):
    class Meta:
        model = Meter
        fields = ["product", "code", "name", "unit", "aggregation", "description", "is_active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class MeterCostForm(forms.Form):
    effective_from = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), help_text="UTC. Costs apply from this instant on."
    )
    unit_cost = forms.DecimalField(max_digits=30, decimal_places=12, min_value=0, help_text="Cost per block.")
    per_units = forms.DecimalField(
        max_digits=30,
        decimal_places=12,
        min_value=0,
        initial=1,
        help_text="Block size, e.g. 1000000 for a price per million tokens.",
    )
    currency = forms.CharField(max_length=10, initial="USD")
    note = forms.CharField(max_length=200, required=False, help_text="e.g. provider price list of 2026-11")


class FirstCostForm(forms.Form):
    """The optional first cost on the new-meter form: leave the cost empty to add it later."""

    unit_cost = forms.DecimalField(
        max_digits=30,
        decimal_places=12,
        min_value=0,
        required=False,
        label="Cost",
        help_text="What one block costs us (COGS), e.g. 0.10 per 1M tokens.",
    )
    per_units = forms.DecimalField(
        max_digits=30,
        decimal_places=12,
        min_value=0,
        initial=1,
        required=False,
        label="Per units",
        help_text="Block size, e.g. 1000000.",
    )
    currency = forms.CharField(max_length=10, initial="USD", required=False)
    effective_from = forms.DateTimeField(
        required=False,
        label="Cost effective from",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="UTC. Empty: from now on.",
    )
    note = forms.CharField(max_length=200, required=False)

    def cost(self) -> dict | None:
        d = self.cleaned_data
        if d.get("unit_cost") is None:
            return None
        return {
            "unit_cost": d["unit_cost"],
            "per_units": 1 if d.get("per_units") is None else d["per_units"],
            "currency": d.get("currency") or "USD",
            "effective_from": d.get("effective_from") or timezone.now(),
            "note": d.get("note") or "",
        }


class RateTableForm(forms.ModelForm):
    class Meta:
        model = RateTable
        fields = ["code", "name", "pricing_unit", "currency_per_unit", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class SubmitForm(forms.Form):
    effective_from = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="UTC. Events from this instant on are priced by this version.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why do prices change?"}))
    backdate_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 2,
                "placeholder": "Only when the date is in the past: why, and what re-rating means for customers.",
            }
        ),
    )


class ReviewForm(forms.Form):
    DECISIONS = [("approve", "Approve"), ("request_changes", "Request changes"), ("reject", "Reject")]
    decision = forms.ChoiceField(choices=DECISIONS, widget=forms.RadioSelect)
    comment = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Required to reject or request changes."}),
    )
    content_hash = forms.CharField(widget=forms.HiddenInput)
    confirm_warnings = forms.BooleanField(
        required=False, label="I have read the warnings above and approve anyway (e.g. without a fresh simulation)."
    )

    def __init__(self, *args, warnings: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.warnings = warnings or []

    def clean(self):
        data = super().clean()
        if data.get("decision") in ("reject", "request_changes") and not (data.get("comment") or "").strip():
            self.add_error("comment", "A comment is required to reject or request changes.")
        if data.get("decision") == "approve" and self.warnings and not data.get("confirm_warnings"):
            self.add_error(
                "confirm_warnings",
                "Confirm that you approve despite: " + " ".join(self.warnings),
            )
        return data


class AsOfForm(forms.Form):
    as_of = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def instant(self):
        if self.is_valid() and self.cleaned_data.get("as_of"):
            return self.cleaned_data["as_of"]
        return timezone.now()


def submit_form_for(version) -> SubmitForm:
    """A resubmission (after changes were requested, or a withdrawal) starts from what was already given."""
    initial = {k: getattr(version, k) for k in ("effective_from", "reason", "backdate_reason") if getattr(version, k)}
    return SubmitForm(initial=initial)
