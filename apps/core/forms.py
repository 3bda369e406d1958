from django import forms
from django.contrib.auth.forms import AuthenticationForm


class LoginForm(AuthenticationForm):
    username = forms.CharField(widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}))


class ReasonFormMixin(forms.Form):
    """Edit forms offer a reason that becomes the history change reason."""

    change_reason = forms.CharField(
        label="Reason for change",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Why are you changing this? (kept in the history)"}),
    )
