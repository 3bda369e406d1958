from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.wallets.models import LedgerEntry
from apps.wallets.selectors import wallet_balance
from apps.wallets.tasks import expire_credits, void_grant
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db
D = Decimal


def test_beat_schedule_runs_the_expiry_task():
    entry = settings.CELERY_BEAT_SCHEDULE["wallets-expire-credits"]
    assert entry["task"] == "wallets.expire_credits" == expire_credits.name


def test_task_expires_due_grants():
    cust = f.customer()
    now = timezone.now()
    f.grant(cust, 10, effective_at=now - timedelta(days=2), expires_at=now - timedelta(minutes=1))
    f.grant(cust, 5, expires_at=now + timedelta(days=1))
    assert expire_credits.delay().get() == 1
    assert wallet_balance(customer_id=cust.pk).balance == D(5)
    assert expire_credits.delay().get() == 0


def test_command_with_and_without_now():
    cust = f.customer()
    now = timezone.now()
    f.grant(cust, 10, expires_at=now + timedelta(days=3))
    out = StringIO()
    call_command("expire_credits", stdout=out)
    assert "Expired 0 grants" in out.getvalue()
    call_command("expire_credits", "--now", (now + timedelta(days=4)).isoformat(), stdout=out)
    assert "Expired 1 grant." in out.getvalue()
    entry = LedgerEntry.objects.get(entry_type="expiry")
    assert entry.effective_at == cust.wallet.grants.get().expires_at  # dated at the expiry instant
    with pytest.raises(CommandError):
        call_command("expire_credits", "--now", "yesterday")


def test_void_task_does_not_retry_domain_errors():
    cust = f.customer()
    grant = f.grant(cust, 10)
    assert void_grant.delay(grant.pk, "v1", "mistake").get() is not None
    assert void_grant.delay(grant.pk, "v2", "again").get() is None  # already voided: refused, not retried
