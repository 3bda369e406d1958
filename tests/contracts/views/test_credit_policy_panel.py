"""The customer page lazy-loads the credit-policy panel; the panel and the edit page refuse who may not use them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.contracts.services import credit_policy_set
from apps.core.actors import SYSTEM
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db


def test_customer_page_loads_the_policy_panel_and_roles(clients):
    cust = f.customer(external_id="initech")
    contract = f.contract(cust, billing_model="prepaid", starts_at=datetime(2026, 1, 1, tzinfo=UTC))
    credit_policy_set(
        contract_id=contract.pk,
        actor=SYSTEM,
        change_reason="x",
        topup_threshold=Decimal(2000),
        topup_amount=Decimal(10000),
        topup_monthly_cap=3,
    )
    page = clients["am"].get("/customers/initech/").content.decode()
    assert 'hx-get="/wallets/customers/initech/policy-panel/"' in page
    panel = clients["am"].get("/wallets/customers/initech/policy-panel/").content.decode()
    assert "Tops up 10,000 credits below 2,000; used 0 of 3 top-ups this month." in panel
    assert f"/customers/initech/contracts/{contract.pk}/credit-policy/" in panel
    assert clients["anonymous"].get("/wallets/customers/initech/policy-panel/").status_code == 302
    assert clients["admin"].get(f"/customers/initech/contracts/{contract.pk}/credit-policy/").status_code == 403
    assert clients["finance"].get(f"/customers/initech/contracts/{contract.pk}/credit-policy/").status_code == 200
    assert clients["am"].get(f"/customers/initech/contracts/{contract.pk + 999}/credit-policy/").status_code == 404
