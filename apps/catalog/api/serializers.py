from rest_framework import serializers


class TierSerializer(serializers.Serializer):
    up_to = serializers.DecimalField(max_digits=30, decimal_places=12, allow_null=True, normalize_output=True)
    unit_price = serializers.DecimalField(max_digits=30, decimal_places=12, normalize_output=True)
    flat_fee = serializers.DecimalField(max_digits=30, decimal_places=12, normalize_output=True)


class RateSerializer(serializers.Serializer):
    meter = serializers.CharField(source="meter.code")
    pricing_model = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=30, decimal_places=12, normalize_output=True)
    price_per_units = serializers.DecimalField(max_digits=30, decimal_places=12, normalize_output=True)
    free_units = serializers.DecimalField(max_digits=30, decimal_places=12, normalize_output=True)
    tiers = TierSerializer(many=True, source="tiers.all")


class VersionSerializer(serializers.Serializer):
    rate_table = serializers.CharField(source="rate_table.code")
    number = serializers.IntegerField()
    status = serializers.CharField()
    effective_from = serializers.DateTimeField()
    content_hash = serializers.CharField()
    approved_by = serializers.CharField(source="decided_by.username", default=None, allow_null=True)
    approved_at = serializers.DateTimeField(source="decided_at")
    cohort = serializers.CharField(help_text="Who it applies to: all, new_contracts or chosen (apps.catalog.cohorts).")
    cohort_customers = serializers.ListField(child=serializers.CharField(), help_text="Chosen customers' ids.")
    cohort_segments = serializers.ListField(child=serializers.CharField(), help_text="Chosen segments.")
    grandfather_until = serializers.DateTimeField(
        allow_null=True, help_text="Contracts outside the cohort move to it from then (null: at their renewal)."
    )
    rates = RateSerializer(many=True, source="rates.all")


class RateTableSerializer(serializers.Serializer):
    code = serializers.CharField(source="table.code")
    name = serializers.CharField(source="table.name")
    pricing_unit = serializers.CharField(source="table.pricing_unit")
    active_version = serializers.IntegerField(source="active.number", default=None, allow_null=True)
    active_since = serializers.DateTimeField(source="active.effective_from", default=None, allow_null=True)
    next_version = serializers.IntegerField(source="scheduled.number", default=None, allow_null=True)
    next_effective_from = serializers.DateTimeField(source="scheduled.effective_from", default=None, allow_null=True)
