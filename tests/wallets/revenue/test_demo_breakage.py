"""The demo's roll-forward shows breakage: paid pilot packs expire this month with credits left."""

import importlib
from io import StringIO

import pytest
from django.utils import timezone

from apps.wallets.models import CreditGrant
from apps.wallets.revenue import month_of, rollforward

pytestmark = pytest.mark.django_db


def test_demo_has_breakage_this_month():
    for name in ("apps.core.demo", "apps.catalog.demo", "apps.contracts.demo", "apps.wallets.demo"):
        importlib.import_module(name).seed(stdout=StringIO(), size="small")
    report = rollforward(period=month_of(timezone.now()))
    expired_paid = CreditGrant.objects.filter(
        price_per_credit__gt=0, expired_at__isnull=False, note__startswith="Pilot"
    )
    assert expired_paid.exists()
    assert report.total.breakage > 0
    assert report.total.breakage == sum(r.breakage for r in report.rows)
    assert any(r.breakage > 0 and r.credits.paid_expired > 0 for r in report.rows)
