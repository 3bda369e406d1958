from io import StringIO

import pytest

from apps.contracts.models import Contract, Customer
from apps.wallets.models import CreditGrant, CreditRequest, LedgerEntry
from apps.wallets.selectors import wallet_conservation

pytestmark = pytest.mark.django_db


def _seed():
    import importlib

    out = StringIO()
    for name in ("apps.core.demo", "apps.catalog.demo", "apps.contracts.demo", "apps.wallets.demo"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        module.seed(stdout=out, size="small")
    return out.getvalue()


def counts():
    return (
        Customer.objects.count(),
        Contract.objects.count(),
        CreditGrant.objects.count(),
        LedgerEntry.objects.count(),
        CreditRequest.objects.count(),
    )


def test_demo_is_realistic_and_idempotent():
    _seed()
    first = counts()
    assert 30 <= first[0] <= 50
    if Contract.objects.exists():
        models = set(Contract.objects.values_list("billing_model", flat=True))
        policies = set(Contract.objects.values_list("enforcement", flat=True))
        assert models == {"prepaid", "postpaid", "hybrid"} and policies == {"hard", "soft", "unlimited"}
        managers = set(Customer.objects.values_list("account_manager__username", flat=True))
        assert {"am", "am2"} <= managers
        kinds = set(CreditGrant.objects.values_list("kind", flat=True))
        assert {"purchased", "promotional", "support"} <= kinds
        assert CreditRequest.objects.filter(status="pending").exists()
        # Debits come from the usage demo (rated events); the wallet demo writes grants, expiries, requests.
        assert LedgerEntry.objects.filter(entry_type="grant").count() > 30
        assert LedgerEntry.objects.filter(entry_type="expiry").exists()
    _seed()
    assert counts() == first
    assert all(wallet_conservation(customer_id=c.pk).holds for c in Customer.objects.all())
