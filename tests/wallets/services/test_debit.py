from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.wallets.models import CreditGrant, LedgerEntry
from apps.wallets.selectors import wallet_balance, wallet_conservation
from apps.wallets.services import grant_void, wallet_debit, wallet_expire_due, wallet_reverse
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db
D = Decimal


def debit(cust, amount, key, **kw):
    return wallet_debit(customer_id=cust.pk, amount=D(str(amount)), idempotency_key=key, actor=SYSTEM, **kw)


def test_burn_down_order_priority_expiry_free_before_paid_oldest():
    cust = f.customer()
    now = timezone.now()
    paid_late = f.grant(cust, 10, price_per_credit=D("0.5"), expires_at=now + timedelta(days=30))
    free_late = f.grant(cust, 10, kind="promotional", expires_at=now + timedelta(days=30))
    no_expiry = f.grant(cust, 10)
    soon = f.grant(cust, 10, price_per_credit=D("0.5"), expires_at=now + timedelta(days=5))
    urgent = f.grant(cust, 10, priority=10)
    older_same = f.grant(cust, 10, kind="promotional", expires_at=now + timedelta(days=30))
    result = debit(cust, 55, "d1")
    drawn = [(a.grant_id, a.amount) for a in result.allocations]
    assert drawn == [
        (urgent.pk, D(10)),
        (soon.pk, D(10)),
        (free_late.pk, D(10)),
        (older_same.pk, D(10)),
        (paid_late.pk, D(10)),
        (no_expiry.pk, D(5)),
    ]
    assert result.drawn == D(55) and result.shortfall == 0
    assert result.revenue == D("10")  # 20 paid credits at 0.5
    assert result.balance_after == D(5)


def test_debit_never_goes_negative_and_returns_shortfall():
    cust = f.customer()
    f.grant(cust, 30)
    result = debit(cust, 50, "d1")
    assert (result.drawn, result.shortfall, result.balance_after) == (D(30), D(20), D(0))
    again = debit(cust, 5, "d2")
    assert again.drawn == 0 and again.shortfall == D(5) and again.entry_id is not None
    assert wallet_conservation(customer_id=cust.pk).holds


def test_debit_is_idempotent_by_key():
    cust = f.customer()
    f.grant(cust, 100, price_per_credit=D("0.01"))
    first = debit(cust, 40, "same")
    second = debit(cust, 40, "same")
    assert second.replayed and not first.replayed
    assert (second.entry_id, second.drawn, second.revenue, second.balance_after, second.allocations) == (
        first.entry_id,
        first.drawn,
        first.revenue,
        first.balance_after,
        first.allocations,
    )
    assert LedgerEntry.objects.filter(entry_type="debit").count() == 1
    assert wallet_balance(customer_id=cust.pk).balance == D(60)


def test_key_reused_for_another_wallet_is_a_conflict():
    a, b = f.customer(), f.customer()
    f.grant(a, 10)
    f.grant(b, 10)
    debit(a, 1, "k")
    with pytest.raises(Conflict):
        debit(b, 1, "k")


def test_debit_respects_effective_and_expiry_instants():
    cust = f.customer()
    at = datetime(2026, 5, 1, 12, tzinfo=UTC)
    f.grant(cust, 10, effective_at=at + timedelta(seconds=1))
    f.grant(cust, 10, effective_at=at - timedelta(days=1), expires_at=at)  # expires exactly at `at`: unusable
    usable = f.grant(cust, 10, effective_at=at - timedelta(days=1), expires_at=at + timedelta(seconds=1))
    result = debit(cust, 25, "d", at=at)
    assert [a.grant_id for a in result.allocations] == [usable.pk]
    assert result.drawn == D(10)


def test_zero_debit_records_nothing_and_validation():
    cust = f.customer()
    assert debit(cust, 0, "z").entry_id is None
    with pytest.raises(ValidationFailed):
        debit(cust, -1, "neg")
    with pytest.raises(ValidationFailed):
        wallet_debit(customer_id=cust.pk, amount=1.5, idempotency_key="f", actor=SYSTEM)
    with pytest.raises(ValidationFailed):
        debit(cust, 1, "")
    with pytest.raises(NotFound):
        wallet_debit(customer_id=999999, amount=D(1), idempotency_key="x", actor=SYSTEM)


def test_reverse_gives_back_to_the_same_grants_last_drawn_first():
    cust = f.customer()
    g1 = f.grant(cust, 10, priority=1, price_per_credit=D("2"))
    g2 = f.grant(cust, 10, priority=2)
    result = debit(cust, 15, "d")
    partial = wallet_reverse(entry_id=result.entry_id, idempotency_key="r1", actor=SYSTEM, amount=D(7))
    g1.refresh_from_db()
    g2.refresh_from_db()
    assert (g1.remaining, g2.remaining) == (D(2), D(10))  # 5 back to g2 first, then 2 to g1
    assert partial.amount == D(7) and partial.revenue == D(-4)
    assert wallet_reverse(entry_id=result.entry_id, idempotency_key="r1", actor=SYSTEM, amount=D(7)).pk == partial.pk
    with pytest.raises(ValidationFailed):
        wallet_reverse(entry_id=result.entry_id, idempotency_key="r2", actor=SYSTEM, amount=D(9))
    rest = wallet_reverse(entry_id=result.entry_id, idempotency_key="r3", actor=SYSTEM)
    assert rest.amount == D(8)
    with pytest.raises(Conflict):
        wallet_reverse(entry_id=result.entry_id, idempotency_key="r4", actor=SYSTEM)
    c = wallet_conservation(customer_id=cust.pk)
    assert c.holds and c.balance == D(20) and c.debited == 0


def test_reverse_onto_an_expired_grant_expires_the_given_back_credits():
    cust = f.customer()
    now = timezone.now()
    g = f.grant(cust, 10, effective_at=now - timedelta(days=2), expires_at=now - timedelta(hours=1))
    result = debit(cust, 4, "d", at=now - timedelta(days=1))
    assert wallet_expire_due(now=now) == 1
    wallet_reverse(entry_id=result.entry_id, idempotency_key="r", actor=SYSTEM)
    g.refresh_from_db()
    assert g.remaining == 0
    c = wallet_conservation(customer_id=cust.pk)
    assert c.holds and c.balance == 0 and c.expired == D(10) and c.debited == 0


def test_expire_due_writes_one_entry_at_the_expiry_instant_and_is_idempotent():
    cust = f.customer()
    now = timezone.now()
    expiry = now - timedelta(hours=3)
    g = f.grant(cust, 10, effective_at=now - timedelta(days=3), expires_at=expiry)
    f.grant(cust, 5, expires_at=now + timedelta(days=3))
    debit(cust, 4, "d", at=now - timedelta(days=1))
    assert wallet_expire_due(now=now) == 1
    assert wallet_expire_due(now=now) == 0
    entry = LedgerEntry.objects.get(entry_type="expiry")
    assert entry.amount == D(-6) and entry.effective_at == expiry and entry.grant_id == g.pk
    g.refresh_from_db()
    assert g.remaining == 0 and g.expired_at == expiry
    assert wallet_balance(customer_id=cust.pk).balance == D(5)
    assert wallet_conservation(customer_id=cust.pk).holds


def test_void_takes_what_is_left_and_is_idempotent():
    cust = f.customer()
    g = f.grant(cust, 10)
    debit(cust, 3, "d")
    entry = grant_void(grant_id=g.pk, idempotency_key="v", actor=SYSTEM, reason="sold by mistake")
    assert entry.amount == D(-7)
    assert grant_void(grant_id=g.pk, idempotency_key="v", actor=SYSTEM, reason="again").pk == entry.pk
    with pytest.raises(Conflict):
        grant_void(grant_id=g.pk, idempotency_key="v2", actor=SYSTEM, reason="again")
    with pytest.raises(ValidationFailed):
        grant_void(grant_id=g.pk, idempotency_key="v3", actor=SYSTEM, reason="")
    assert debit(cust, 1, "d2").drawn == 0
    assert wallet_conservation(customer_id=cust.pk).holds


def test_grant_is_idempotent_and_validates():
    cust = f.customer()
    g1 = f.grant(cust, 10, key="g")
    g2 = f.grant(cust, 99, key="g")
    assert g1.pk == g2.pk and CreditGrant.objects.count() == 1
    now = timezone.now()
    with pytest.raises(ValidationFailed):
        f.grant(cust, 10, expires_at=now - timedelta(days=1), effective_at=now)
    with pytest.raises(ValidationFailed):
        f.grant(cust, 10, kind="gift")
    with pytest.raises(ValidationFailed):
        f.grant(cust, 0)


def test_remaining_constraint_refuses_negative():
    cust = f.customer()
    g = f.grant(cust, 10)
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditGrant.objects.filter(pk=g.pk).update(remaining=D(-1))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the append-only trigger exists on PostgreSQL only")
def test_database_refuses_update_and_delete_of_ledger_rows():
    cust = f.customer()
    f.grant(cust, 10)
    debit(cust, 4, "d")
    entry = LedgerEntry.objects.filter(entry_type="debit").get()
    statements = [
        ("UPDATE wallets_ledgerentry SET amount = 0 WHERE id = %s", entry.pk),
        ("DELETE FROM wallets_ledgerentry WHERE id = %s", entry.pk),
        ("UPDATE wallets_ledgerallocation SET amount = 0 WHERE entry_id = %s", entry.pk),
        ("DELETE FROM wallets_ledgerallocation WHERE entry_id = %s", entry.pk),
    ]
    for sql, pk in statements:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(note="edited")
    assert LedgerEntry.objects.get(pk=entry.pk).amount == D(-4)


def _reverse_world(name):
    """Two paid grants and an expired one, three debits, one of them drawn from the grant that expired since."""
    now = timezone.now()
    cust = f.customer(name)
    old = f.grant(cust, 6, priority=0, effective_at=now - timedelta(days=3), expires_at=now - timedelta(hours=1))
    paid = f.grant(cust, 10, priority=1, price_per_credit=D("2"))
    free = f.grant(cust, 10, priority=2)
    first = debit(cust, 5, f"{name}-d1", at=now - timedelta(days=2))  # all from `old`, which then expires
    wallet_expire_due(now=now)
    second = debit(cust, 12, f"{name}-d2")  # 10 paid, 2 free
    third = debit(cust, 3, f"{name}-d3")  # free
    parts = {paid.pk: (D(4), D(8)), free.pk: (D(2), D(0))}
    return (
        cust,
        [old, paid, free],
        [
            {"entry_id": first.entry_id, "idempotency_key": f"{name}-r1"},
            {"entry_id": second.entry_id, "idempotency_key": f"{name}-r2", "parts": parts},
            {"entry_id": third.entry_id, "idempotency_key": f"{name}-r3", "amount": D(1)},
            {"entry_id": second.entry_id, "idempotency_key": f"{name}-r4", "amount": D(3)},  # the same debit again
        ],
    )


def _ledger(cust, grants):
    entries = [
        (e.entry_type, e.amount, e.balance_after, e.revenue, e.grant_id is not None, e.reverses_id is not None)
        for e in LedgerEntry.objects.filter(wallet__customer=cust).order_by("id")
    ]
    remaining = [CreditGrant.objects.get(pk=g.pk).remaining for g in grants]
    return entries, remaining, wallet_balance(customer_id=cust.pk).balance


def test_reversals_at_once_leave_the_ledger_one_by_one_would():
    from apps.wallets.services import ReverseRequest, wallet_reverses

    one, one_grants, one_requests = _reverse_world("one")
    for request in one_requests:
        wallet_reverse(actor=SYSTEM, **request)
    many, many_grants, many_requests = _reverse_world("many")
    entries = wallet_reverses(requests=[ReverseRequest(**r) for r in many_requests], actor=SYSTEM)
    assert all(e is not None and e.entry_type == "reversal" for e in entries)
    assert _ledger(many, many_grants) == _ledger(one, one_grants)
    assert wallet_conservation(customer_id=many.pk).holds
    # replayed: the same entries, nothing new
    again = wallet_reverses(requests=[ReverseRequest(**r) for r in many_requests], actor=SYSTEM)
    assert [e.pk for e in again] == [e.pk for e in entries]
