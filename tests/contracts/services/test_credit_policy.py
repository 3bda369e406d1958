"""credit_policy_set: validated terms, a reason into the history, effective with its contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.contracts.models import CreditPolicy
from apps.contracts.selectors import contract_in_force, contracts_with_credit_policies
from apps.contracts.services import credit_policy_set
from apps.core.actors import SYSTEM
from apps.core.errors import NotFound, ValidationFailed
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db
D = Decimal
JAN = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def contract():
    return f.contract(f.customer(), billing_model="prepaid", starts_at=JAN, ends_at=JAN + timedelta(days=90))


@pytest.mark.parametrize(
    "terms,field",
    [
        ({"rollover_enabled": True, "rollover_cap": D(0)}, "rollover_cap"),
        ({"rollover_cap_kind": "weekly"}, "rollover_cap_kind"),
        ({"recurring_kind": "support"}, "recurring_kind"),
        ({"recurring_credits": D(-5)}, "recurring_credits"),
        ({"topup_amount": D(100), "topup_threshold": D(10), "topup_monthly_cap": 0}, "topup_threshold"),
        ({"topup_monthly_cap": "many"}, "topup_monthly_cap"),
        ({"spend_limit": D(0)}, "spend_limit"),
        ({"rollover_expiry_periods": 0}, "rollover_expiry_periods"),
    ],
)
def test_bad_terms_are_refused_with_the_field(contract, terms, field):
    with pytest.raises(ValidationFailed) as exc:
        credit_policy_set(contract_id=contract.pk, actor=SYSTEM, change_reason="x", **terms)
    assert exc.value.field == field
    assert not CreditPolicy.objects.exists()


def test_a_reason_is_required_and_kept_and_unknown_terms_refused(contract):
    with pytest.raises(ValidationFailed) as exc:
        credit_policy_set(contract_id=contract.pk, actor=SYSTEM, change_reason="  ", spend_limit=D(5))
    assert exc.value.field == "change_reason"
    with pytest.raises(ValidationFailed):
        credit_policy_set(contract_id=contract.pk, actor=SYSTEM, change_reason="x", discount=D(5))
    with pytest.raises(NotFound):
        credit_policy_set(contract_id=0, actor=SYSTEM, change_reason="x", spend_limit=D(5))
    credit_policy_set(contract_id=contract.pk, actor=SYSTEM, change_reason="pilot", spend_limit=D(5))
    credit_policy_set(contract_id=contract.pk, actor=SYSTEM, change_reason="renewal", recurring_credits=D(50))
    policy = CreditPolicy.objects.get(contract=contract)
    assert (policy.spend_limit, policy.recurring_credits) == (D(5), D(50))  # other terms keep their value
    assert [h.history_change_reason for h in policy.history.order_by("history_date")] == ["pilot", "renewal"]


def test_the_policy_is_in_force_with_its_contract(contract):
    credit_policy_set(contract_id=contract.pk, actor=SYSTEM, change_reason="x", spend_limit=D(10))
    assert (
        contract_in_force(customer_id=contract.customer_id, at=JAN + timedelta(days=5)).credit_policy.spend_limit == 10
    )
    later = f.contract(contract.customer, billing_model="prepaid", starts_at=JAN + timedelta(days=90))
    assert contract_in_force(customer_id=contract.customer_id, at=later.starts_at).credit_policy is None
    [terms] = contracts_with_credit_policies(customer_ids=[contract.customer_id])[contract.customer_id]
    assert terms.id == contract.pk
