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


def test_usage_events_and_rating_batches_change_state_but_are_never_deleted(world):
    # Rated records reference them without a foreign-key check on every insert: that is safe because nothing
    # can delete what they reference (the ledger entries they reference are append-only above).
    from apps.usage.models import RatedUsage
    from tests.usage.builders import ago, ingest, rate

    meter = MeterFactory()
    table = world.table()
    world.version(table, {meter: "1"}, effective_from=ago(days=5))
    ingest([world.event(world.customer("kept", table, credits="10"), meter, 1, ago(minutes=1))])
    rate()
    record = RatedUsage.objects.get()
    with connection.cursor() as cursor:  # state changes stay possible
        cursor.execute("UPDATE usage_event SET rating_error = '' WHERE id = %s", [record.event_id])
    for table_name, pk in (("usage_event", record.event_id), ("usage_rating_batch", record.batch_id)):
        with pytest.raises(DatabaseError, match="DELETE refused"), transaction.atomic(), connection.cursor() as c:
            c.execute(f"DELETE FROM {table_name} WHERE id = %s", [pk])  # noqa: S608 - fixed table names
        with pytest.raises(DatabaseError, match="TRUNCATE refused"), transaction.atomic(), connection.cursor() as c:
            c.execute("SET CONSTRAINTS ALL IMMEDIATE")
            c.execute("SET LOCAL ratedesk.allow_truncate = 'off'")
            c.execute(f"TRUNCATE {table_name} CASCADE")
    assert RatedUsage.objects.filter(event_id=record.event_id, batch_id=record.batch_id).exists()
