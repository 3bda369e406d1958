from __future__ import annotations

from rest_framework import serializers

from ..models import CreditGrant, CreditReason


def _dec(**kwargs):
    return serializers.DecimalField(max_digits=30, decimal_places=12, normalize_output=True, **kwargs)


class BalanceGrantSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=CreditGrant.Kind.choices)
    remaining = _dec()
    priority = serializers.IntegerField()
    expires_at = serializers.DateTimeField(allow_null=True)
    effective_at = serializers.DateTimeField()


class BalanceSerializer(serializers.Serializer):
    customer = serializers.CharField(help_text="The customer's external id.")
    balance = _dec(help_text="Sum of the grants' remaining credits (decimal string).")
    unit = serializers.CharField()
    grants = BalanceGrantSerializer(many=True, help_text="Grants with credits left, in burn-down order.")


class CreditIssueInputSerializer(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=20, decimal_places=6, min_value=0, help_text='Credits, as a decimal string, e.g. "250".'
    )
    kind = serializers.ChoiceField(
        choices=[CreditGrant.Kind.SUPPORT, CreditGrant.Kind.PROMOTIONAL], default=CreditGrant.Kind.SUPPORT
    )
    reason = serializers.ChoiceField(choices=CreditReason.choices, help_text="Reason code.")
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Default: 90 days from now (settings)."
    )
    idempotency_key = serializers.CharField(
        max_length=180, help_text="A repeat with the same key returns the first result."
    )
    reference = serializers.CharField(
        max_length=120, required=False, allow_blank=True, default="", help_text="Ticket reference."
    )
    note = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_amount(self, value):
        if isinstance(self.initial_data.get("amount"), float):
            raise serializers.ValidationError("Send the amount as a decimal string, not a JSON float.")
        return value


class GrantOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    amount = _dec()
    remaining = _dec()
    expires_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(source="reason_code")
    reference = serializers.CharField()


class CreditRequestOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="pending, approved or rejected (its current state).")
    amount = _dec()
    kind = serializers.CharField()
    reason = serializers.CharField(source="reason_code")
    expires_at = serializers.DateTimeField(allow_null=True)
    requested_at = serializers.DateTimeField()


class CreditIssueOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["issued", "pending"],
        help_text="issued (201): granted now; pending (202): above a cap, waiting for finance.",
    )
    customer = serializers.CharField()
    idempotency_key = serializers.CharField()
    grant = GrantOutSerializer(allow_null=True)
    request = CreditRequestOutSerializer(allow_null=True)
    balance = _dec()
