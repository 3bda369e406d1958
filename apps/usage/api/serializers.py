"""Serializers for the OpenAPI schema and the read endpoints. The ingestion hot path validates in plain
Python (ingestion.py); these describe its contract."""

from __future__ import annotations

from rest_framework import serializers


class EventInSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=200, help_text="Idempotency id, unique per customer.")
    customer = serializers.CharField(help_text="The customer's external id.")
    meter = serializers.CharField(help_text="Meter code, e.g. llm.input_tokens.")
    quantity = serializers.CharField(help_text='Non-negative decimal, as a string ("1500") or an integer.')
    timestamp = serializers.DateTimeField(
        help_text="ISO 8601 with a time zone; at most 5 minutes ahead, at most the late window (35 days) old."
    )
    attributes = serializers.DictField(required=False, help_text="user, agent, team, model, ... (free-form).")


class EventsInSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=EventInSerializer(), min_length=1, max_length=1000, help_text="1 to 1000 events."
    )


class RejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.CharField(allow_null=True)
    code = serializers.ChoiceField(
        choices=[
            "invalid",
            "unknown_customer",
            "unknown_meter",
            "invalid_quantity",
            "timestamp_in_future",
            "timestamp_too_old",
            "idempotency_conflict",
        ]
    )
    message = serializers.CharField()


class IngestResultSerializer(serializers.Serializer):
    ingested = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = RejectionSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    code = serializers.CharField()
    extra = serializers.DictField(required=False)


class MeterSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    unit = serializers.CharField()
    aggregation = serializers.CharField()


class MeterUsageSerializer(serializers.Serializer):
    meter = serializers.CharField()
    quantity = serializers.CharField()
    credits = serializers.CharField(help_text="Credits drawn from the wallet.")
    amount = serializers.CharField(help_text="Rated amount in the rate table's pricing unit, unrounded.")
    cost = serializers.CharField(
        required=False,
        help_text="Our cost (COGS). Only for roles that may see margin and API keys with the `margin` scope.",
    )


class UsageSerializer(serializers.Serializer):
    customer = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField(help_text="Inclusive.")
    meters = MeterUsageSerializer(many=True)


class EntitlementSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reason = serializers.CharField()
    policy = serializers.CharField(allow_null=True, help_text="hard, soft or unlimited.")
    balance = serializers.CharField(allow_null=True, help_text="Usable credits now (prepaid and hybrid).")
    included_remaining = serializers.CharField(allow_null=True)
    credit_policy = serializers.JSONField(
        required=False,
        help_text="The contract's credit policies and their state: rollover, recurring_grant, auto_top_up "
        "(threshold, amount, monthly_cap, used_this_month), spend_limit (limit, unit, used, reached), next (what the "
        "contract will do next, as sentences); absent without a policy.",
    )
