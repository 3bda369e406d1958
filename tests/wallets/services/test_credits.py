from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.actors import SYSTEM, Actor
from apps.core.errors import Conflict, Forbidden, FourEyesViolation, InvalidTransition, ValidationFailed
from apps.core.roles import Role
from apps.wallets.models import CreditGrant, CreditRequest, LedgerEntry
from apps.wallets.selectors import credit_requests_pending, support_activity, wallet_balance, wallet_conservation
from apps.wallets.services import credit_issue, credit_request_approve, credit_request_reject, grant_void
from tests.conftest import make_user
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db
D = Decimal
CAPS = {
    "SUPPORT_CREDIT_CAP_PER_GRANT": "500",
    "SUPPORT_CREDIT_CAP_PER_CUSTOMER_MONTH": "1000",
    "SUPPORT_CREDIT_DEFAULT_EXPIRY_DAYS": 90,
}


@pytest.fixture(autouse=True)
def caps(settings):
    settings.RATEDESK = {**settings.RATEDESK, **CAPS}


def issue(cust, amount, key, actor, **kw):
    kw.setdefault("reason_code", "outage")
    return credit_issue(customer_id=cust.pk, amount=D(str(amount)), idempotency_key=key, actor=actor, **kw)


def test_within_caps_is_issued_with_default_expiry(actors):
    cust = f.customer()
    before = timezone.now()
    result = issue(cust, 200, "k1", actors["support"], reference="SUP-1", note="sorry")
    assert result.status == "issued" and result.request is None
    grant = result.grant
    assert (grant.kind, grant.amount, grant.price_per_credit, grant.source) == ("support", D(200), 0, "support")
    assert grant.created_by == actors["support"].user and grant.reference == "SUP-1"
    assert before + timedelta(days=90) <= grant.expires_at <= timezone.now() + timedelta(days=90)
    assert wallet_balance(customer_id=cust.pk).balance == D(200)
    entry = LedgerEntry.objects.get(grant=grant)
    assert entry.actor_user == actors["support"].user


def test_above_the_per_grant_cap_becomes_a_pending_request(actors):
    cust = f.customer()
    result = issue(cust, 501, "k1", actors["support"])
    assert result.status == "pending" and result.grant is None
    assert result.request.status == "pending" and result.request.requested_by == actors["support"].user
    assert wallet_balance(customer_id=cust.pk).balance == 0
    assert [r.pk for r in credit_requests_pending()] == [result.request.pk]


def test_monthly_cap_counts_what_was_issued_this_month(actors):
    cust = f.customer()
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert issue(cust, 500, "a", actors["support"], now=now).status == "issued"
    assert issue(cust, 400, "b", actors["support"], now=now).status == "issued"
    assert issue(cust, 101, "c", actors["support"], now=now).status == "pending"  # 900 + 101 > 1000
    assert issue(cust, 100, "d", actors["support"], now=now).status == "issued"  # exactly 1000
    other = f.customer()
    assert issue(other, 500, "e", actors["support"], now=now).status == "issued"  # per customer


def test_monthly_cap_ignores_voided_and_direct_grants(actors):
    cust = f.customer()
    f.grant(cust, 5000, kind="purchased")
    first = issue(cust, 500, "a", actors["support"])
    issue(cust, 500, "b", actors["support"])
    assert issue(cust, 1, "c", actors["support"]).status == "pending"
    grant_void(grant_id=first.grant.pk, idempotency_key="v", actor=actors["finance"], reason="wrong account")
    assert issue(cust, 500, "d", actors["support"]).status == "issued"


def test_same_key_returns_the_first_result(actors):
    cust = f.customer()
    first = issue(cust, 100, "same", actors["support"])
    again = issue(cust, 100, "same", actors["support"])
    assert again.replayed and again.grant.pk == first.grant.pk
    pending = issue(cust, 900, "big", actors["support"])
    pending_again = issue(cust, 900, "big", actors["support"])
    assert pending_again.status == "pending" and pending_again.request.pk == pending.request.pk
    assert CreditGrant.objects.count() == 1 and CreditRequest.objects.count() == 1
    with pytest.raises(Conflict):
        issue(cust, 101, "same", actors["support"])  # same key, different amount
    with pytest.raises(Conflict):
        issue(f.customer(), 100, "same", actors["support"])  # same key, other customer


def test_validation(actors):
    cust = f.customer()
    for kwargs in (
        dict(kind="purchased"),
        dict(reason_code="because"),
        dict(reason_code="other"),
        dict(expires_at=timezone.now() - timedelta(days=1)),
        dict(reference="x" * 121),
    ):
        with pytest.raises(ValidationFailed):
            issue(cust, 10, "k", actors["support"], **kwargs)
    with pytest.raises(ValidationFailed):
        issue(cust, 0, "k", actors["support"])
    assert issue(cust, 10, "k", actors["support"], reason_code="other", note="custom deal").status == "issued"


def test_finance_approves_and_the_grant_lands(actors):
    cust = f.customer()
    request = issue(cust, 800, "k", actors["support"], kind="promotional", reference="SUP-9").request
    decided = credit_request_approve(request_id=request.pk, actor=actors["finance"], comment="ok")
    assert decided.status == "approved" and decided.decided_by == actors["finance"].user
    grant = decided.grant
    assert (grant.kind, grant.amount, grant.source, grant.reference) == ("promotional", D(800), "request", "SUP-9")
    assert grant.created_by == actors["support"].user
    assert wallet_balance(customer_id=cust.pk).balance == D(800)
    with pytest.raises(InvalidTransition):
        credit_request_approve(request_id=request.pk, actor=actors["finance2"], comment="again")
    assert wallet_conservation(customer_id=cust.pk).holds
    # the replayed issue call still says it went to a request; the request shows where it stands now
    replay = issue(cust, 800, "k", actors["support"], kind="promotional")
    assert replay.status == "pending" and replay.request.status == "approved" and replay.grant.pk == grant.pk
    rows = support_activity(customer_id=cust.pk)
    assert [(r.status, r.amount) for r in rows] == [("approved", D(800))]


def test_reject_needs_a_comment(actors):
    cust = f.customer()
    request = issue(cust, 800, "k", actors["support"]).request
    with pytest.raises(ValidationFailed):
        credit_request_reject(request_id=request.pk, actor=actors["finance"], comment="")
    decided = credit_request_reject(request_id=request.pk, actor=actors["finance"], comment="use a contract change")
    assert decided.status == "rejected" and decided.grant is None
    assert wallet_balance(customer_id=cust.pk).balance == 0


def test_requester_can_never_decide_whatever_groups(actors, db):
    cust = f.customer()
    both = make_user("support-and-finance", Role.SUPPORT_AGENT, Role.FINANCE_APPROVER)
    request = issue(cust, 900, "k", Actor(user=both)).request
    with pytest.raises(FourEyesViolation):
        credit_request_approve(request_id=request.pk, actor=Actor(user=both), comment="self")
    with pytest.raises(FourEyesViolation):
        credit_request_reject(request_id=request.pk, actor=Actor(user=both), comment="self")
    with pytest.raises(Forbidden):
        credit_request_approve(request_id=request.pk, actor=SYSTEM, comment="machine")
    credit_request_approve(request_id=request.pk, actor=actors["finance"], comment="fine")


def test_approval_after_the_requested_expiry_is_refused(actors):
    cust = f.customer()
    now = timezone.now()
    request = issue(
        cust, 900, "k", actors["support"], expires_at=now + timedelta(seconds=1), now=now - timedelta(seconds=5)
    ).request
    CreditRequest.objects.filter(pk=request.pk).update(expires_at=now - timedelta(seconds=1))
    with pytest.raises(Conflict):
        credit_request_approve(request_id=request.pk, actor=actors["finance"], comment="late")
