from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.utils import timezone

from .models import CreditGrant, CreditReason, LedgerEntry


class CreditIssueForm(forms.Form):
    amount = forms.DecimalField(
        label="Credits",
        min_value=0,
        max_digits=20,
        decimal_places=2,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    kind = forms.ChoiceField(
        choices=[(CreditGrant.Kind.SUPPORT, "Support (goodwill)"), (CreditGrant.Kind.PROMOTIONAL, "Promotional (free)")]
    )
    reason_code = forms.ChoiceField(label="Reason", choices=[("", "Choose…"), *CreditReason.choices])
    reference = forms.CharField(
        label="Ticket reference",
        max_length=120,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e.g. SUP-1234"}),
    )
    expires_on = forms.DateField(
        label="Expires on", widget=forms.DateInput(attrs={"type": "date"}), help_text="At 00:00 UTC on that day."
    )
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args, **kwargs):
        initial = kwargs.setdefault("initial", {})
        days = int(settings.RATEDESK["SUPPORT_CREDIT_DEFAULT_EXPIRY_DAYS"])
        initial.setdefault("expires_on", (timezone.now() + timedelta(days=days)).date())
        initial.setdefault("idempotency_key", f"ui-{uuid.uuid4()}")
        initial.setdefault("kind", CreditGrant.Kind.SUPPORT)
        super().__init__(*args, **kwargs)

    @property
    def expires_at(self) -> datetime:
        return datetime.combine(self.cleaned_data["expires_on"], time.min, tzinfo=UTC)


class DecisionForm(forms.Form):
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class VoidForm(forms.Form):
    reason = forms.CharField(max_length=500)
    idempotency_key = forms.CharField(max_length=100, required=False)


class LedgerFilterForm(forms.Form):
    type = forms.ChoiceField(required=False, choices=[("", "All entries"), *LedgerEntry.EntryType.choices])
