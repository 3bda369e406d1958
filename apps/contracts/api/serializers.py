from __future__ import annotations

from rest_framework import serializers

from ..models import Customer


class CustomerSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id", read_only=True, help_text="The CRM id usage events use.")
    account_manager = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ["id", "name", "segment", "status", "account_manager"]

    def get_account_manager(self, obj) -> str | None:
        return obj.account_manager.username if obj.account_manager_id else None


class OverrideSerializer(serializers.Serializer):
    meter = serializers.CharField()
    kind = serializers.CharField()
    multiplier = serializers.DecimalField(max_digits=30, decimal_places=12, allow_null=True, normalize_output=True)
    unit_price = serializers.DecimalField(max_digits=30, decimal_places=12, allow_null=True, normalize_output=True)
    price_per_units = serializers.DecimalField(max_digits=30, decimal_places=12, normalize_output=True)


class AllowanceSerializer(serializers.Serializer):
    meter = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=30, decimal_places=12, normalize_output=True)


def _dec(**kwargs):
    return serializers.DecimalField(max_digits=30, decimal_places=12, normalize_output=True, **kwargs)


class ContractSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rate_table = serializers.CharField(help_text="Rate table code.")
    pricing_unit = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(allow_null=True)
    billing_model = serializers.ChoiceField(choices=["prepaid", "postpaid", "hybrid"])
    enforcement = serializers.ChoiceField(choices=["hard", "soft", "unlimited"])
    overdraft_limit = _dec()
    currency = serializers.CharField()
    base_fee = _dec()
    included_credits = _dec()
    credit_price = _dec()
    alert_thresholds = serializers.ListField(child=serializers.IntegerField())
    billing_anchor_day = serializers.IntegerField()
    current_period_start = serializers.DateTimeField()
    current_period_end = serializers.DateTimeField()
    allowances = AllowanceSerializer(many=True)
    overrides = OverrideSerializer(many=True)


class CustomerDetailSerializer(CustomerSerializer):
    contract = serializers.SerializerMethodField(help_text="The contract in force now, or null.")

    class Meta(CustomerSerializer.Meta):
        fields = CustomerSerializer.Meta.fields + ["contract"]

    def get_contract(self, obj) -> ContractSerializer(allow_null=True):  # type: ignore[valid-type]
        return self.context.get("contract")
