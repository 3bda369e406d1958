"""Issue 9 item 13: append-only means append-only, in the database itself (PostgreSQL, raw SQL).

The ledger (entries and allocations), approval decisions, decided credit requests and the role-change record
refuse UPDATE, DELETE and TRUNCATE. The test settings let test-suite flushes TRUNCATE
(`ratedesk.allow_truncate`), so each TRUNCATE here first switches that off, as every production session is."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.catalog import services as catalog
from apps.catalog.models import ApprovalDecision
from apps.core import services as core
from apps.core.actors import Actor
from apps.core.models import RoleChange
from apps.core.roles import Role
from apps.wallets.models import CreditRequest, LedgerEntry
from apps.wallets.services import credit_issue, credit_request_approve
from tests.catalog.factories import MeterFactory, RateTableFactory
from tests.contracts import factories as f

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the triggers exist on PostgreSQL only"),
]


@pytest.fixture
def rows(actors, users):
    draft = catalog.rate_table_version_create_draft(rate_table_id=RateTableFactory().id, actor=actors["owner"])
    catalog.rate_add(version_id=draft.id, meter_id=MeterFactory().id, unit_price="1", actor=actors["owner"])
    catalog.rate_table_version_submit(
        version_id=draft.id, effective_from=timezone.now() + timedelta(days=1), reason="r", actor=actors["owner"]
    )
    cust = f.customer()
    request = credit_issue(
        customer_id=cust.pk,
        amount=Decimal("5000"),
        idempotency_key="big",
        actor=actors["support"],
        kind="support",
        reason_code="outage",
    ).request
    credit_request_approve(request_id=request.pk, actor=actors["finance"], comment="ok")
    core.user_roles_set(user=users["am"], roles=[Role.SUPPORT_AGENT], actor=Actor(user=users["admin"]), reason="r")
    return {
        "catalog_approvaldecision": ApprovalDecision.objects.filter(version=draft).first().pk,
        "wallets_creditrequest": request.pk,
        "core_rolechange": RoleChange.objects.get().pk,
        "wallets_ledgerentry": LedgerEntry.objects.filter(wallet__customer=cust).first().pk,
    }


SETS = {
    "catalog_approvaldecision": "comment = 'rewritten'",
    "wallets_creditrequest": "amount = 1",
    "core_rolechange": "reason = 'rewritten'",
    "wallets_ledgerentry": "note = 'rewritten'",
}


@pytest.mark.parametrize("table", list(SETS))
def test_update_delete_and_truncate_are_refused(rows, table):
    pk = rows[table]
    for sql in (f"UPDATE {table} SET {SETS[table]} WHERE id = %s", f"DELETE FROM {table} WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test transaction's deferred FK checks run first
        cursor.execute("SET LOCAL ratedesk.allow_truncate = 'off'")
        cursor.execute(f"TRUNCATE {table} CASCADE")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE id = %s", [pk])
        assert cursor.fetchone()[0] == 1


def test_truncate_is_refused_on_the_ledger_allocations_too(rows):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test transaction's deferred FK checks run first
        cursor.execute("SET LOCAL ratedesk.allow_truncate = 'off'")
        cursor.execute("TRUNCATE wallets_ledgerallocation")


def test_a_pending_credit_request_can_be_decided_once_then_it_is_frozen(actors):
    cust = f.customer()
    request = credit_issue(
        customer_id=cust.pk,
        amount=Decimal("5000"),
        idempotency_key="big2",
        actor=actors["support"],
        kind="support",
        reason_code="outage",
    ).request
    with connection.cursor() as cursor:  # still pending: the decision itself is an update
        cursor.execute("UPDATE wallets_creditrequest SET note = 'context' WHERE id = %s", [request.pk])
    credit_request_approve(request_id=request.pk, actor=actors["finance"], comment="ok")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE wallets_creditrequest SET status = 'pending' WHERE id = %s", [request.pk])
    assert CreditRequest.objects.get(pk=request.pk).status == CreditRequest.Status.APPROVED
