from __future__ import annotations

from django import forms

from .models import Alert, Kind
from .selectors import DEFAULT_STATE_FILTER


class AlertFilterForm(forms.Form):
    kind = forms.ChoiceField(label="Type", required=False, choices=[("", "All types"), *Kind.choices])
    customer = forms.ChoiceField(label="Customer", required=False)
    state = forms.ChoiceField(
        label="State",
        required=False,
        initial=DEFAULT_STATE_FILTER,
        choices=[
            ("live", "Open or acknowledged"),
            ("open", "Open"),
            ("acknowledged", "Acknowledged"),
            ("resolved", "Resolved"),
            ("all", "All"),
        ],
    )

    def __init__(self, *args, customers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].choices = [("", "All customers")] + [(c.external_id, c.name) for c in customers]


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        label="Note",
        max_length=2000,
        widget=forms.Textarea(
            attrs={
                "rows": 2,
                "placeholder": "What you did or will do, e.g. “Called Acme, top-up of 50k credits on Friday”",
            }
        ),
    )


class RuleForm(forms.Form):
    kind = forms.ChoiceField(label="Rule type", choices=Kind.choices)
    customer = forms.ChoiceField(
        label="Customer", required=False, help_text="Empty: the rule applies to every customer."
    )
    meter = forms.ChoiceField(
        label="Meter",
        required=False,
        help_text="Included usage, spikes and margin: one meter, or empty for every meter.",
    )
    threshold = forms.DecimalField(label="Threshold", max_digits=24, decimal_places=6)
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)
    note = forms.CharField(label="Note", required=False, max_length=300)

    def __init__(self, *args, customers=(), meters=(), editing=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].choices = [("", "Every customer")] + [(str(c.pk), c.name) for c in customers]
        self.fields["meter"].choices = [("", "Every meter")] + [(str(m.pk), m.code) for m in meters]
        if editing is not None:
            self.fields["kind"].disabled = True
            self.fields["customer"].disabled = True
            if editing.source == "default":
                self.fields["meter"].disabled = True

    def clean_customer(self):
        value = self.cleaned_data.get("customer")
        return int(value) if value else None

    def clean_meter(self):
        value = self.cleaned_data.get("meter")
        return int(value) if value else None


class WebhookForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="Receives a POST with a JSON body, signed in X-Ratedesk-Signature.",
    )
    kinds = forms.MultipleChoiceField(
        label="Alert types",
        required=False,
        choices=Kind.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every type.",
    )
    is_active = forms.BooleanField(label="Active", required=False, initial=True)
    rotate_secret = forms.BooleanField(label="Rotate the signing secret", required=False)


STATE_LABELS = dict(Alert.State.choices)
