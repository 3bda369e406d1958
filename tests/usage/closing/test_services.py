"""Closing a month: invoice-ready statements freeze under a content hash; late usage lands in the next open month
as adjustments referencing the closed one; reopening takes a second finance approver and a reason."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from apps.core.actors import SYSTEM
from apps.core.errors import Conflict, Forbidden, FourEyesViolation, ValidationFailed
from apps.usage.closing import selectors, services
from apps.usage.closing.models import ClosedPeriod, FrozenLine, FrozenStatement, PeriodAction
from apps.usage.closing.statements import month_label, next_month, previous_month
from tests.usage.builders import D

pytestmark = pytest.mark.django_db


def _by_customer(statements):
    return {s.customer_external_id: s for s in statements}


def _beta_tops_up_500_below_600(m):
    from apps.contracts.models import Contract
    from apps.contracts.services import credit_policy_set

    credit_policy_set(
        contract_id=Contract.objects.get(customer=m.beta).pk,
        actor=SYSTEM,
        change_reason="agreed in the order form",
        topup_threshold=D(600),
        topup_amount=D(500),
        topup_monthly_cap=3,
    )


def test_statement_lines_base_fee_usage_purchases_and_credits_applied(month_world):
    m = month_world
    sts = _by_customer(selectors.period_statements(month=m.month))
    acme, beta = sts["acme"], sts["beta"]
    # base fee of the period that starts on the 15th, rounded once half up; usage billed in arrears (postpaid)
    assert [(ln.kind, ln.amount) for ln in acme.lines] == [("base_fee", D("100.00")), ("usage", D("20.01"))]
    # anchor day 15: the month bills the one billing period that starts in it (on the 15th), not two
    assert acme.lines[0].line_id == f"{month_label(m.month)}:acme:base_fee:{m.month.replace(day=15).isoformat()}"
    usage = acme.lines[1]
    assert (usage.quantity, usage.overage, usage.unit_price) == (D(1334), D(1334), D("0.015"))
    assert acme.amount_due == D("120.01") and acme.currency == "USD"
    # prepaid: the purchase is billed at its price; credits applied are shown, not billed again
    kinds = {ln.kind: ln for ln in beta.lines}
    assert kinds["credit_purchase"].amount == D("12.50") and kinds["credit_purchase"].reference == "PO-7"
    assert kinds["usage"].amount == 0 and kinds["usage"].credits == D(250)
    assert kinds["credits_applied"].credits == D(250) and kinds["credits_applied"].amount == 0
    assert beta.amount_due == D("12.50")
    ids = [ln.line_id for s in sts.values() for ln in s.lines]
    assert len(ids) == len(set(ids)) and f"{month_label(m.month)}:acme:usage:llm.tokens" in ids


def test_close_freezes_statements_under_a_hash_and_is_recorded(month_world, actors):
    m = month_world
    live = _by_customer(selectors.period_statements(month=m.month))
    period = services.period_close(month=m.month, actor=actors["finance"])
    frozen = selectors.frozen_statements(period=period)
    assert [st.customer_external_id for st, _ in frozen] == ["acme", "beta"]
    for st, stored_hash in frozen:
        assert st.content_hash == stored_hash == live[st.customer_external_id].content_hash
        assert st.amount_due == live[st.customer_external_id].amount_due
    assert period.statements_count == 2 and len(period.content_hash) == 64
    assert selectors.frozen_intact(period=period)
    action = PeriodAction.objects.get(period=period)
    assert (action.action, action.actor.username, action.content_hash) == ("close", "finance", period.content_hash)


def test_late_event_lands_in_next_month_and_the_closed_statement_never_changes(month_world, actors):
    m = month_world
    period = services.period_close(month=m.month, actor=actors["finance"])
    before = {st.customer_external_id: h for st, h in selectors.frozen_statements(period=period)}
    # a late event for the closed month, received in this month
    m.usage(m.acme, 100, m.at(28), id="late-1", received=m.at(2, month=m.next_month))
    after = {st.customer_external_id: (st.content_hash, h) for st, h in selectors.frozen_statements(period=period)}
    assert after == {k: (h, h) for k, h in before.items()}
    nxt = _by_customer(selectors.period_statements(month=m.next_month))["acme"]
    (adj,) = nxt.lines_of("adjustment")
    assert adj.reference == month_label(m.month) and adj.meter == "llm.tokens"
    assert (adj.quantity, adj.amount) == (D(100), D("1.50"))
    assert f":adjustment:{month_label(m.month)}:llm.tokens" in adj.line_id
    # an earlier month carries nothing
    assert all(not s.lines_of("adjustment") for s in selectors.period_statements(month=previous_month(m.month)))


def test_adjustments_are_carried_once_then_only_the_difference(month_world, actors):
    m = month_world
    services.period_close(month=m.month, actor=actors["finance"])
    m.usage(m.acme, 100, m.at(28), id="late-1", received=m.at(1, month=m.next_month))
    nxt = services.period_close(
        month=m.next_month, actor=actors["finance"], now=m.at(1, month=m.next_month) + timedelta(days=40)
    )
    frozen = _by_customer(st for st, _ in selectors.frozen_statements(period=nxt))
    assert [ln.amount for ln in frozen["acme"].lines_of("adjustment")] == [D("1.50")]
    # nothing new: the month after carries no adjustment; a second late event is carried alone
    following = next_month(nxt.month)
    assert all(not s.lines_of("adjustment") for s in selectors.period_statements(month=following))
    m.usage(m.acme, 10, m.at(27), id="late-2", received=m.at(2, month=m.next_month))
    (adj,) = _by_customer(selectors.period_statements(month=following))["acme"].lines_of("adjustment")
    assert (adj.quantity, adj.amount, adj.reference) == (D(10), D("0.15"), month_label(m.month))


def test_only_finance_closes_only_ended_months_in_order_once(month_world, actors):
    m = month_world
    for who in ("owner", "am", "support", "admin"):
        with pytest.raises(Forbidden):
            services.period_close(month=m.month, actor=actors[who])
    with pytest.raises(ValidationFailed) as exc:
        services.period_close(month=m.next_month, actor=actors["finance"])
    assert exc.value.code == "period_not_ended"
    services.period_close(month=m.month, actor=actors["finance"])
    with pytest.raises(Conflict) as exc:
        services.period_close(month=m.month, actor=actors["finance2"])
    assert exc.value.code == "period_closed"
    with pytest.raises(Conflict) as exc:
        services.period_close(month=previous_month(m.month), actor=actors["finance"])
    assert exc.value.code == "close_out_of_order"


def test_reopen_needs_a_reason_and_a_second_finance_approver(month_world, actors):
    m = month_world
    period = services.period_close(month=m.month, actor=actors["finance"])
    with pytest.raises(ValidationFailed) as exc:
        services.period_reopen_request(month=m.month, reason="  ", actor=actors["finance"])
    assert exc.value.code == "reason_required"
    with pytest.raises(Forbidden):
        services.period_reopen_request(month=m.month, reason="wrong price", actor=actors["am"])
    request = services.period_reopen_request(month=m.month, reason="wrong price", actor=actors["finance"])
    with pytest.raises(Conflict) as exc:
        services.period_reopen_request(month=m.month, reason="again", actor=actors["finance2"])
    assert exc.value.code == "reopen_pending"
    with pytest.raises(FourEyesViolation):
        services.period_reopen_approve(request_id=request.pk, actor=actors["finance"])
    with pytest.raises(Forbidden):
        services.period_reopen_approve(request_id=request.pk, actor=actors["owner"])
    assert selectors.close_in_force(month=m.month) is not None
    services.period_reopen_approve(request_id=request.pk, actor=actors["finance2"], comment="ok")
    assert selectors.close_in_force(month=m.month) is None
    period.refresh_from_db()
    assert period.status == "reopened"
    # the frozen statements stay as history; closing again freezes new ones
    assert FrozenStatement.objects.filter(period=period).count() == 2
    again = services.period_close(month=m.month, actor=actors["finance2"])
    assert again.pk != period.pk and again.content_hash == period.content_hash
    log = list(PeriodAction.objects.filter(month=m.month).order_by("at", "id").values_list("action", "actor__username"))
    assert log == [
        ("close", "finance"),
        ("reopen_request", "finance"),
        ("reopen_approve", "finance2"),
        ("close", "finance2"),
    ]


def test_decline_keeps_the_period_closed_and_only_the_latest_closed_month_reopens(month_world, actors):
    m = month_world
    services.period_close(month=m.month, actor=actors["finance"])
    request = services.period_reopen_request(month=m.month, reason="typo", actor=actors["finance"])
    services.period_reopen_decline(request_id=request.pk, actor=actors["finance2"], comment="not needed")
    assert selectors.close_in_force(month=m.month) is not None
    with pytest.raises(Conflict) as exc:
        services.period_reopen_decline(request_id=request.pk, actor=actors["finance2"])
    assert exc.value.code == "already_decided"
    services.period_close(
        month=m.next_month, actor=actors["finance"], now=m.at(1, month=m.next_month) + timedelta(days=40)
    )
    with pytest.raises(Conflict) as exc:
        services.period_reopen_request(month=m.month, reason="late", actor=actors["finance"])
    assert exc.value.code == "reopen_out_of_order"


def test_the_database_refuses_to_change_a_frozen_statement(month_world, actors):
    m = month_world
    period = services.period_close(month=m.month, actor=actors["finance"])
    line = FrozenLine.objects.filter(statement__period=period).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        FrozenLine.objects.filter(pk=line.pk).update(amount=Decimal("0"))
    with pytest.raises(IntegrityError), transaction.atomic():
        FrozenStatement.objects.filter(period=period).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        ClosedPeriod.objects.filter(pk=period.pk).delete()


def test_demo_closes_last_month_once(month_world, users):
    import io

    from apps.usage.closing import demo

    out = io.StringIO()
    demo.seed(stdout=out)
    period = selectors.close_in_force(month=month_world.month)
    assert period is not None and period.closed_by == users["finance"] and period.statements_count == 2
    demo.seed(stdout=out)
    assert ClosedPeriod.objects.count() == 1 and "skipped" in out.getvalue()


def test_the_hash_check_notices_a_line_changed_behind_the_triggers(month_world, actors):
    from django.db import connection

    period = services.period_close(month=month_world.month, actor=actors["finance"])
    assert selectors.frozen_intact(period=period)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # as a superuser could: triggers off
        cursor.execute(
            "UPDATE usage_frozen_line SET amount = amount + 1 WHERE id = "
            "(SELECT min(id) FROM usage_frozen_line WHERE kind = 'usage')"
        )
        cursor.execute("SET LOCAL session_replication_role = origin")
    assert not selectors.frozen_intact(period=period)


def test_an_auto_top_up_is_billed_as_one_in_the_month_it_fired(month_world):
    from apps.usage.closing.statements import CREDIT_PURCHASE, build_statement
    from apps.wallets.models import CreditGrant

    m = month_world
    _beta_tops_up_500_below_600(m)
    m.usage(m.beta, 200, m.at(10), id="b2")  # 750 -> 550 credits: crosses 600 once
    topup = CreditGrant.objects.get(wallet__customer=m.beta, reason_code="auto_topup")
    purchases = [ln for ln in build_statement(customer=m.beta, month=m.month).lines if ln.kind == CREDIT_PURCHASE]
    labels = {ln.line_id.rsplit(":", 1)[-1]: ln.description for ln in purchases}
    assert labels[f"grant-{topup.pk}"].startswith("Automatic top-up")
    assert [d for d in labels.values() if d.startswith("Credits purchased")]  # the order-form purchase stays one


def _purchase(m, customer, amount, day, *, key, reference="", price="0.0125"):
    from apps.wallets import services as wallets

    return wallets.wallet_grant(
        customer_id=customer.pk,
        kind="purchased",
        amount=D(amount),
        price_per_credit=D(price),
        effective_at=m.at(day, 10),
        idempotency_key=key,
        reference=reference,
        actor=SYSTEM,
    )


def test_a_purchase_back_dated_into_a_closed_month_lands_in_the_next_open_month(month_world, actors, clients):
    from apps.usage.closing import exports

    m = month_world
    period = services.period_close(month=m.month, actor=actors["finance"])
    csv_before, json_before = exports.export_csv(period), exports.export_json(period)
    # recorded now, dated in the closed month (the wallet keeps both: created_at and effective_at)
    grant = _purchase(m, m.beta, 400, 14, key="beta-late-purchase", reference="PO-9")
    assert grant.created_at > period.closed_at and grant.effective_at.date() < m.next_month
    # the closed statement stays frozen, byte for byte
    assert exports.export_csv(period) == csv_before and exports.export_json(period) == json_before
    assert selectors.frozen_intact(period=period)
    # the next open month carries it, referencing the closed month, with a stable line id
    nxt = _by_customer(selectors.period_statements(month=m.next_month))["beta"]
    (adj,) = nxt.lines_of("adjustment")
    label = month_label(m.month)
    assert adj.line_id == f"{month_label(m.next_month)}:beta:adjustment:{label}:grant-{grant.pk}"
    assert adj.reference == label and adj.meter == ""
    assert (adj.quantity, adj.credits, adj.unit_price, adj.amount) == (D(400), D(400), D("0.0125"), D("5.00"))
    assert adj.description == (
        f"Credits purchased dated {m.month.year}-{m.month.month:02d}-14, after {m.month:%B %Y} was closed (PO-9)"
    )
    assert nxt.amount_due == D("5.00")
    # not a purchase of the next month
    assert not nxt.lines_of("credit_purchase")
    # the printed statement and the period page show it
    page = clients["finance"].get(f"/usage/periods/{month_label(m.next_month)}/")
    assert page.status_code == 200 and b"5.00" in page.content
    printed = clients["finance"].get(f"/usage/periods/{month_label(m.next_month)}/customers/beta/")
    assert printed.status_code == 200 and f"{m.month:%B %Y} was closed".encode() in printed.content


def test_a_back_dated_purchase_is_carried_once_and_frozen_with_the_next_close(month_world, actors):
    m = month_world
    services.period_close(month=m.month, actor=actors["finance"])
    grant = _purchase(m, m.beta, 400, 14, key="beta-late-purchase")
    nxt = services.period_close(
        month=m.next_month, actor=actors["finance"], now=m.at(1, month=m.next_month) + timedelta(days=40)
    )
    frozen = _by_customer(st for st, _ in selectors.frozen_statements(period=nxt))
    (adj,) = frozen["beta"].lines_of("adjustment")
    assert adj.line_id.endswith(f":grant-{grant.pk}") and adj.amount == D("5.00")
    # carried once: the month after has nothing more for it
    following = next_month(nxt.month)
    assert all(not s.lines_of("adjustment") for s in selectors.period_statements(month=following))
    # a purchase dated in the closed month before its close is on that month's statement, never adjusted
    closed = _by_customer(st for st, _ in selectors.frozen_statements(period=selectors.close_in_force(month=m.month)))
    assert [ln.reference for ln in closed["beta"].lines_of("credit_purchase")] == ["PO-7"]


def test_an_auto_top_up_fired_by_late_usage_for_a_closed_month_is_adjusted_in_the_next(month_world, actors):
    from apps.wallets.models import CreditGrant

    m = month_world
    _beta_tops_up_500_below_600(m)
    services.period_close(month=m.month, actor=actors["finance"])
    # late usage for the closed month: 750 -> 550 credits crosses 600, the top-up is dated at the usage
    m.usage(m.beta, 200, m.at(25), id="b-late", received=m.at(1, month=m.next_month))
    topup = CreditGrant.objects.get(wallet__customer=m.beta, reason_code="auto_topup")
    assert topup.effective_at == m.at(25)
    adj = {
        ln.line_id.rsplit(":", 1)[-1]: ln
        for ln in _by_customer(selectors.period_statements(month=m.next_month))["beta"].lines_of("adjustment")
    }
    top = adj[f"grant-{topup.pk}"]
    assert top.description.startswith(f"Automatic top-up dated {m.month.year}-{m.month.month:02d}-25, after")
    assert (top.quantity, top.unit_price) == (D(500), topup.price_per_credit)  # at the contract's credit price
    assert top.amount == (D(500) * topup.price_per_credit).quantize(D("0.01")) and top.reference == month_label(m.month)
    assert adj["llm.tokens"].quantity == D(200)  # the late usage itself, as before


def test_a_void_after_the_close_is_not_credited_back_and_a_voided_late_purchase_is_not_billed(month_world, actors):
    from apps.wallets.models import CreditGrant
    from apps.wallets.services import grant_void

    m = month_world
    services.period_close(month=m.month, actor=actors["finance"])
    billed = CreditGrant.objects.get(reference="PO-7")
    grant_void(grant_id=billed.pk, idempotency_key="void-po7", actor=SYSTEM, reason="refund, handled by finance")
    late = _purchase(m, m.beta, 400, 14, key="beta-late-then-voided")
    grant_void(grant_id=late.pk, idempotency_key="void-late", actor=SYSTEM, reason="entered twice")
    assert all(not s.lines_of("adjustment") for s in selectors.period_statements(month=m.next_month))


def test_a_contract_back_dated_into_a_closed_month_has_its_base_fee_billed_once_in_the_next(month_world, actors):
    from apps.contracts import services as contracts
    from apps.contracts.models import Contract

    m = month_world
    period = services.period_close(month=m.month, actor=actors["finance"])
    # recorded after the close, starting in the closed month: its billing period of that month was on no statement
    gamma = contracts.customer_create(external_id="gamma", name="Gamma", actor=m.world.owner)
    contracts.contract_create(
        customer_id=gamma.pk,
        rate_table_id=Contract.objects.get(customer=m.acme).rate_table_id,
        starts_at=m.at(1, hour=0),
        billing_model="postpaid",
        enforcement="unlimited",
        base_fee=D("50"),
        billing_anchor_day=1,
        actor=m.world.finance,
    )
    assert selectors.frozen_intact(period=period)
    nxt = _by_customer(selectors.period_statements(month=m.next_month))["gamma"]
    label = month_label(m.month)
    (adj,) = nxt.lines_of("adjustment")
    assert adj.line_id == f"{month_label(m.next_month)}:gamma:adjustment:{label}:base-fee"
    assert (adj.reference, adj.amount, adj.currency) == (label, D("50.00"), "USD")
    assert adj.description == f"Base fee for {m.month:%B %Y}, recorded after it was closed"
    # the next month's own base fee is billed as usual, besides the adjustment
    assert [ln.amount for ln in nxt.lines_of("base_fee")] == [D("50.00")]
    assert nxt.amount_due == D("100.00")
    # carried once: frozen with the next close, nothing more for it the month after
    closed_next = services.period_close(
        month=m.next_month, actor=actors["finance"], now=m.at(1, month=m.next_month) + timedelta(days=40)
    )
    frozen = _by_customer(st for st, _ in selectors.frozen_statements(period=closed_next))
    assert [ln.line_id.rsplit(":", 1)[-1] for ln in frozen["gamma"].lines_of("adjustment")] == ["base-fee"]
    following = _by_customer(selectors.period_statements(month=next_month(closed_next.month)))
    assert "gamma" not in following or not following["gamma"].lines_of("adjustment")


def test_a_base_fee_changed_after_the_close_bills_the_difference_once(month_world, actors):
    from apps.contracts import services as contracts
    from apps.contracts.models import Contract

    m = month_world
    services.period_close(month=m.month, actor=actors["finance"])
    contract = Contract.objects.get(customer=m.acme)
    contracts.contract_update(
        contract_id=contract.pk, base_fee=D("120"), change_reason="fee agreed late", actor=m.world.finance
    )
    nxt = _by_customer(selectors.period_statements(month=m.next_month))["acme"]
    (adj,) = nxt.lines_of("adjustment")
    assert adj.amount == D("20.00") and adj.reference == month_label(m.month)
    assert adj.description == f"Base fee for {m.month:%B %Y} changed after it was closed: 120 now, 100 billed"
    # an anchor moved after the close bills no second fee for the month (one period starts in it either way)
    contracts.contract_update(
        contract_id=contract.pk,
        base_fee=D("99.995"),
        billing_anchor_day=1,
        change_reason="anchor",
        actor=m.world.finance,
    )
    nxt = _by_customer(selectors.period_statements(month=m.next_month))["acme"]
    assert not nxt.lines_of("adjustment")
