from __future__ import annotations

import re
from datetime import UTC, datetime, time
from decimal import Decimal

from django import forms

from apps.catalog.cohorts import Cohort
from apps.core.forms import ReasonFormMixin

from .models import CREDIT_POLICY_FIELDS, Contract, CreditPolicy, Customer, PriceOverride
from .selectors import customer_ids_by_external_id


def _decimal(label, required=True, initial=None, help_text=""):
    return forms.DecimalField(
        label=label,
        required=required,
        initial=initial,
        max_digits=30,
        decimal_places=12,
        help_text=help_text,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )


def date_to_instant(value) -> datetime | None:
    """Contracts start and end at 00:00 UTC on a date."""
    return datetime.combine(value, time.min, tzinfo=UTC) if value else None


class CustomerFilterForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or external id"}),
    )
    account_manager = forms.ChoiceField(label="Account manager", required=False)
    segment = forms.ChoiceField(
        label="Segment", required=False, choices=[("", "All segments"), *Customer.Segment.choices]
    )
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "All statuses"), *Customer.Status.choices])
    billing_model = forms.ChoiceField(
        label="Billing", required=False, choices=[("", "All billing models"), *Contract.BillingModel.choices]
    )

    def __init__(self, *args, managers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account_manager"].choices = [("", "Anyone"), ("none", "Unassigned")] + [
            (str(u.pk), u.get_full_name() or u.username) for u in managers
        ]


class CustomerForm(ReasonFormMixin, forms.Form):
    external_id = forms.SlugField(
        label="External id (CRM)", max_length=80, help_text="The id usage events use. It cannot change later."
    )
    name = forms.CharField(max_length=200)
    segment = forms.ChoiceField(choices=Customer.Segment.choices)
    status = forms.ChoiceField(choices=Customer.Status.choices)
    account_manager = forms.ChoiceField(label="Account manager", required=False)

    def __init__(self, *args, managers=(), editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account_manager"].choices = [("", "Unassigned")] + [
            (str(u.pk), u.get_full_name() or u.username) for u in managers
        ]
        if editing:
            del self.fields["external_id"]
        order = [
            n
            for n in ("external_id", "name", "segment", "status", "account_manager", "change_reason")
            if n in self.fields
        ]
        self.order_fields(order)

    def clean_account_manager(self):
        value = self.cleaned_data.get("account_manager")
        return int(value) if value else None


class ContractForm(ReasonFormMixin, forms.Form):
    rate_table = forms.ChoiceField(label="Rate table")
    starts_on = forms.DateField(
        label="Starts on", widget=forms.DateInput(attrs={"type": "date"}), help_text="At 00:00 UTC."
    )
    ends_on = forms.DateField(
        label="Ends on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Exclusive, 00:00 UTC. Empty: open-ended.",
    )
    billing_model = forms.ChoiceField(choices=Contract.BillingModel.choices)
    enforcement = forms.ChoiceField(label="Enforcement policy", choices=Contract.Enforcement.choices)
    overdraft_limit = _decimal("Overdraft limit", initial=Decimal(0), help_text="Soft policy only: how far below zero.")
    currency = forms.CharField(max_length=3, initial="USD")
    base_fee = _decimal("Base fee per period", initial=Decimal(0))
    included_credits = _decimal("Included credits per period", initial=Decimal(0))
    credit_price = _decimal("Credit price", initial=Decimal(1), help_text="Currency per credit.")
    billing_anchor_day = forms.IntegerField(
        label="Billing anchor day",
        min_value=1,
        max_value=31,
        initial=1,
        help_text="Periods start on this day (last day in shorter months).",
    )
    alert_thresholds = forms.CharField(
        label="Alert thresholds (%)", initial="70, 90, 100", help_text="Of included usage, comma-separated."
    )
    protected_version = forms.ChoiceField(
        label="Price protection: version",
        required=False,
        help_text="Priced by this approved version of the contract's rate table, whatever is approved later.",
    )
    protected_until = forms.DateField(
        label="Protected until",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Exclusive, 00:00 UTC.",
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, rate_tables=(), versions=(), require_reason=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rate_table"].choices = [("", "Choose…")] + [
            (str(t.pk), f"{t.name} ({t.code}, {t.pricing_unit})") for t in rate_tables
        ]
        self.fields["protected_version"].choices = [("", "None")] + [
            (str(v.pk), f"{v.rate_table.code} v{v.number} (from {v.effective_from:%Y-%m-%d})") for v in versions
        ]
        self.fields["change_reason"].required = require_reason

    def clean(self):
        data = super().clean()
        if data.get("protected_version") and not data.get("protected_until"):
            self.add_error("protected_until", "Say until when the price is protected.")
        if data.get("protected_until") and not data.get("protected_version"):
            self.add_error("protected_version", "Choose the version that protects the price, or clear the date.")
        return data

    def clean_alert_thresholds(self):
        raw = self.cleaned_data["alert_thresholds"]
        try:
            return [int(p.strip().rstrip("%")) for p in raw.replace(";", ",").split(",") if p.strip()]
        except ValueError:
            raise forms.ValidationError("Whole percentages separated by commas, e.g. 70, 90, 100.") from None

    def clean_currency(self):
        return self.cleaned_data["currency"].upper()

    def terms(self) -> dict:
        d = self.cleaned_data
        return {
            "rate_table_id": int(d["rate_table"]),
            "starts_at": date_to_instant(d["starts_on"]),
            "ends_at": date_to_instant(d.get("ends_on")),
            "billing_model": d["billing_model"],
            "enforcement": d["enforcement"],
            "overdraft_limit": d["overdraft_limit"],
            "currency": d["currency"],
            "base_fee": d["base_fee"],
            "included_credits": d["included_credits"],
            "credit_price": d["credit_price"],
            "billing_anchor_day": d["billing_anchor_day"],
            "alert_thresholds": d["alert_thresholds"],
            "notes": d.get("notes", ""),
            "protected_version_id": int(d["protected_version"]) if d.get("protected_version") else None,
            "protected_until": date_to_instant(d.get("protected_until")),
        }


class AllowanceRowForm(forms.Form):
    meter = forms.ChoiceField(required=False)
    quantity = _decimal("Units per period", required=False)

    def __init__(self, *args, meters=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["meter"].choices = [("", "—")] + [(str(m.id), m.code) for m in meters]

    def clean(self):
        data = super().clean()
        if data.get("meter") and data.get("quantity") is None:
            self.add_error("quantity", "How many units are included?")
        return data


class OverrideRowForm(forms.Form):
    meter = forms.ChoiceField(required=False)
    kind = forms.ChoiceField(choices=PriceOverride.Kind.choices, required=False)
    multiplier = _decimal("Multiplier", required=False)
    unit_price = _decimal("Unit price", required=False)
    price_per_units = _decimal("Per units", required=False)

    def __init__(self, *args, meters=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["meter"].choices = [("", "—")] + [(str(m.id), m.code) for m in meters]

    def clean(self):
        data = super().clean()
        if not data.get("meter"):
            return data
        if data.get("kind") == PriceOverride.Kind.MULTIPLIER and data.get("multiplier") is None:
            self.add_error("multiplier", "A multiplier override needs a multiplier (e.g. 0.8).")
        if data.get("kind") == PriceOverride.Kind.FIXED and data.get("unit_price") is None:
            self.add_error("unit_price", "A fixed override needs a unit price.")
        return data


class _RowFormSet(forms.BaseFormSet):
    def __init__(self, *args, meters=(), **kwargs):
        self.meters = meters
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {"meters": self.meters}

    @property
    def empty_form(self):
        form = self.form(
            auto_id=self.auto_id,
            prefix=self.add_prefix("__prefix__"),
            empty_permitted=True,
            use_required_attribute=False,
            meters=self.meters,
        )
        self.add_fields(form, None)
        return form

    def clean(self):
        seen = set()
        for form in self.forms:
            meter = getattr(form, "cleaned_data", {}).get("meter")
            if meter and meter in seen:
                form.add_error("meter", "This meter appears twice.")
            seen.add(meter)


AllowanceFormSet = forms.formset_factory(AllowanceRowForm, formset=_RowFormSet, extra=2)
OverrideFormSet = forms.formset_factory(OverrideRowForm, formset=_RowFormSet, extra=2)


class CohortForm(forms.Form):
    """Who an approved version applies to (catalog stores the choice; contracts knows the customers and segments)."""

    cohort = forms.ChoiceField(label="Applies to", choices=Cohort.choices, widget=forms.RadioSelect, initial=Cohort.ALL)
    customers = forms.CharField(
        label="Chosen customers",
        required=False,
        help_text="External ids, separated by commas or spaces.",
        widget=forms.TextInput(attrs={"placeholder": "acme, globex"}),
    )
    segments = forms.MultipleChoiceField(
        label="Chosen segments", required=False, choices=Customer.Segment.choices, widget=forms.CheckboxSelectMultiple
    )
    grandfather_until = forms.DateField(
        label="Others move on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="00:00 UTC. Empty: contracts outside the cohort keep their version until they renew.",
    )

    def clean_customers(self) -> list[str]:
        ids = sorted({p for p in re.split(r"[\s,;]+", self.cleaned_data.get("customers") or "") if p})
        known = customer_ids_by_external_id(ids)
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise forms.ValidationError(f"No customer with external id {', '.join(unknown)}.")
        return ids

    def clean(self):
        data = super().clean()
        if data.get("cohort") == Cohort.CHOSEN and not data.get("customers") and not data.get("segments"):
            self.add_error("customers", "Choose at least one customer or segment.")
        return data


class CreditPolicyForm(ReasonFormMixin, forms.Form):
    """A contract's credit policies (issue #11); the reason is required (it goes into the history)."""

    rollover_enabled = forms.BooleanField(label="Roll unused included credits over", required=False)
    rollover_purchased = forms.BooleanField(label="Roll purchased credits expiring at period end too", required=False)
    rollover_cap_kind = forms.ChoiceField(label="Rollover cap in", choices=CreditPolicy.CapKind.choices)
    rollover_cap = _decimal("Rollover cap", initial=Decimal(0))
    rollover_expiry_periods = forms.IntegerField(
        label="Rolled-over credits last (periods)", min_value=1, max_value=24, initial=1
    )
    recurring_credits = _decimal("Credits granted every period", initial=Decimal(0), help_text="0: none.")
    recurring_kind = forms.ChoiceField(label="Recurring credits are", choices=CreditPolicy.RecurringKind.choices)
    topup_threshold = _decimal("Auto top-up below (credits)", initial=Decimal(0))
    topup_amount = _decimal("Auto top-up amount (credits)", initial=Decimal(0), help_text="0: no auto top-up.")
    topup_monthly_cap = forms.IntegerField(label="At most top-ups a month", min_value=0, max_value=100, initial=0)
    spend_limit = _decimal(
        "Spend limit per period",
        required=False,
        help_text="Credits (prepaid, hybrid) or currency (postpaid). Empty: none.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["change_reason"].required = True

    def terms(self) -> dict:
        return {name: self.cleaned_data[name] for name in CREDIT_POLICY_FIELDS}
