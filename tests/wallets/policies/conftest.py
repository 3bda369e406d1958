"""Builders for the credit-policy tests: a prepaid contract with a policy, through the services."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.contracts.services import credit_policy_set
from apps.core.actors import SYSTEM
from tests.contracts import factories as f

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def policy_contract():
    """make(policy terms, **contract terms) -> (customer, contract)."""

    def make(*, policy: dict | None = None, **terms):
        cust = f.customer()
        defaults = {"billing_model": "prepaid", "enforcement": "hard", "starts_at": JAN}
        contract = f.contract(cust, **{**defaults, **terms})
        if policy:
            credit_policy_set(contract_id=contract.pk, actor=SYSTEM, change_reason="agreed in the order form", **policy)
        return cust, contract

    return make


def D(value) -> Decimal:
    return Decimal(str(value))
