"""Alert writes, one module per concern; every public service stays importable from `apps.alerts.services`.

rules          custom rules, default rules synced from contracts
evaluation     fire once per crossing, resolve on clear, acknowledge
notifications  deliveries (email, webhook), attempts with backoff, the sweep
webhooks       webhook endpoints and delivery signatures
"""

from .evaluation import EvaluationSummary, alert_acknowledge, alerts_evaluate
from .notifications import (
    MAX_ATTEMPTS,
    PermanentDeliveryError,
    TransientDeliveryError,
    _queue_notifications,
    alert_payload,
    deliveries_due,
    delivery_attempt,
    max_attempts,
    retry_delay,
    site_url,
)
from .rules import (
    DEFAULT_RUNWAY_DAYS,
    DEFAULT_SPIKE_MULTIPLE,
    GLOBAL_MARGIN_KEY,
    alert_rule_create,
    alert_rule_update,
    alert_rules_sync_defaults,
)
from .webhooks import sign, verify_signature, webhook_endpoint_create, webhook_endpoint_update

__all__ = [
    "DEFAULT_RUNWAY_DAYS",
    "DEFAULT_SPIKE_MULTIPLE",
    "GLOBAL_MARGIN_KEY",
    "MAX_ATTEMPTS",
    "EvaluationSummary",
    "PermanentDeliveryError",
    "TransientDeliveryError",
    "_queue_notifications",
    "alert_acknowledge",
    "alert_payload",
    "alert_rule_create",
    "alert_rule_update",
    "alert_rules_sync_defaults",
    "alerts_evaluate",
    "deliveries_due",
    "delivery_attempt",
    "max_attempts",
    "retry_delay",
    "sign",
    "site_url",
    "verify_signature",
    "webhook_endpoint_create",
    "webhook_endpoint_update",
]
