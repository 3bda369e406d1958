"""Credit policies seen through rating and the public surface: the spend limit per enforcement (prepaid and
postpaid) in rated charges, the auto top-up notified as an alert, "why this charge", the entitlement API, the
customer-page panel and the policy edit page (roles, reason, history)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from apps.alerts.models import Alert
from apps.alerts.services import alerts_evaluate
from apps.contracts.selectors import contract_history
from apps.contracts.services import credit_policy_set
from apps.core.actors import SYSTEM
from apps.core.services import api_key_create
from apps.usage.models import RatedUsage
from apps.wallets.models import CreditGrant
from tests.usage.builders import ago, ingest, rate

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def setup(world):
    tokens = world.meter("llm.tokens", cost="0.0001")
    table = world.table(unit="credits")
    world.version(table, {tokens: "1"}, effective_from=ago(days=90))
    return world, tokens, table


def _policy(customer, **terms):
    contract = customer.contracts.get()
    credit_policy_set(contract_id=contract.pk, actor=SYSTEM, change_reason="order form", **terms)
    return contract


def _period_start():
    return timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def test_prepaid_spend_limit_hard_is_over_limit_soft_is_drawn_and_alerted(setup):
    world, tokens, table = setup
    hard = world.customer("hardco", table, enforcement="hard", credits="5000")
    soft = world.customer("softco", table, enforcement="soft", credits="5000")
    for c in (hard, soft):
        _policy(c, spend_limit=D(100))
    t0 = max(_period_start(), ago(hours=3)) + timedelta(minutes=1)
    ingest([world.event(c, tokens, q, t0 + timedelta(seconds=i)) for c in (hard, soft) for i, q in enumerate((60, 60))])
    rate()
    hard_rows = RatedUsage.objects.filter(customer=hard, superseded_at__isnull=True).order_by("timestamp")
    assert [r.credits_drawn for r in hard_rows] == [D(60), D(40)]
    assert hard_rows[1].over_limit and hard_rows[1].over_limit_quantity == D(20)
    soft_rows = RatedUsage.objects.filter(customer=soft, superseded_at__isnull=True)
    assert sum(r.credits_drawn for r in soft_rows) == D(120) and not any(r.over_limit for r in soft_rows)

    alerts_evaluate(customer_ids=[hard.pk, soft.pk], notify=False)
    fired = {a.customer_id: a for a in Alert.objects.filter(kind="spend_limit")}
    assert fired[hard.pk].value == D(100)  # what was drawn: the hard limit held back the rest
    assert set(fired) == {hard.pk, soft.pk}
    assert fired[soft.pk].value == D(120) and "spend limit 100 credits reached" in fired[soft.pk].message

    # why this charge: the spend limit held back part of the debit
    event_pk = hard_rows[1].event_id
    client = Client()
    client.force_login(world.owner.user)
    page = client.get(f"/usage/events/{event_pk}/").content.decode()
    assert 'data-testid="policy-note"' in page and "spend limit" in page


def test_postpaid_hard_spend_limit_caps_overage(setup):
    world, tokens, table = setup
    post = world.customer("postco", table, billing_model="postpaid", enforcement="hard")
    free = world.customer("freeco", table, billing_model="postpaid", enforcement="hard")
    _policy(post, spend_limit=D(50))
    t0 = max(_period_start(), ago(hours=3)) + timedelta(minutes=1)
    ingest([world.event(c, tokens, 30, t0 + timedelta(seconds=i)) for c in (post, free) for i in range(3)])
    rate()
    rows = RatedUsage.objects.filter(customer=post, superseded_at__isnull=True).order_by("timestamp")
    assert [r.overage_units for r in rows] == [D(30), D(20), D(0)]
    assert [r.over_limit for r in rows] == [False, True, True]
    assert sum(r.overage_units for r in RatedUsage.objects.filter(customer=free)) == D(90)  # no limit: all billed
    client = Client()
    client.force_login(world.owner.user)
    page = client.get(f"/usage/events/{rows[1].event_id}/").content.decode()
    assert "spend limit of 50 USD per period was reached" in page


def test_auto_top_up_in_rating_is_alerted_explained_and_in_the_api(setup, users):
    world, tokens, table = setup
    acme = world.customer("acme", table, enforcement="hard", credits="300", credit_price="0.05")
    _policy(acme, topup_threshold=D(200), topup_amount=D(1000), topup_monthly_cap=3)
    ingest([world.event(acme, tokens, 150, ago(minutes=5))])
    rate()
    [topup] = CreditGrant.objects.filter(wallet__customer=acme, reason_code="auto_topup")
    assert topup.price_per_credit == D("0.05") and topup.amount == D(1000)
    ingest([world.event(acme, tokens, 10, ago(minutes=4))])  # 1150 -> 1140: no crossing
    rate()
    assert CreditGrant.objects.filter(wallet__customer=acme, reason_code="auto_topup").count() == 1

    alerts_evaluate(customer_ids=[acme.pk], notify=False)
    alerts_evaluate(customer_ids=[acme.pk], notify=False)  # once per top-up, also when evaluated again
    [alert] = Alert.objects.filter(customer=acme, kind="auto_topup")
    assert alert.subject == f"topup-{topup.pk}" and "auto top-up of 1,000 credits" in alert.message

    record = RatedUsage.objects.filter(customer=acme).order_by("timestamp").first()
    client = Client()
    client.force_login(users["am"])
    page = client.get(f"/usage/events/{record.event_id}/").content.decode()
    assert f"grant #{topup.pk}" in page

    key = api_key_create(name="reader", actor=SYSTEM, scopes=frozenset({"read"}))
    body = (
        Client(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}").get("/api/v1/customers/acme/entitlements/llm.tokens").json()
    )
    top = body["credit_policy"]["auto_top_up"]
    assert (top["threshold"], top["amount"], top["monthly_cap"], top["used_this_month"]) == ("200", "1000", 3, 1)
    assert body["credit_policy"]["next"][0].startswith("Tops up 1,000 credits below 200; used 1 of 3 top-ups")

    panel = client.get("/wallets/customers/acme/policy-panel/").content.decode()
    assert "Tops up 1,000 credits below 200; used 1 of 3 top-ups this month." in panel


def test_entitlement_refuses_at_a_hard_spend_limit(setup):
    world, tokens, table = setup
    capped = world.customer("capped", table, enforcement="hard", credits="1000")
    _policy(capped, spend_limit=D(10))
    ingest([world.event(capped, tokens, 10, max(_period_start(), ago(hours=2)) + timedelta(minutes=1))])
    rate()
    key = api_key_create(name="reader", actor=SYSTEM, scopes=frozenset({"read"}))
    body = (
        Client(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
        .get("/api/v1/customers/capped/entitlements/llm.tokens")
        .json()
    )
    assert (body["allowed"], body["reason"]) == (False, "spend_limit_reached")
    assert body["credit_policy"]["spend_limit"] == {
        "limit": "10",
        "unit": "credits",
        "used": "10",
        "reached": True,
        "enforcement": "hard",
    }
    client = Client()
    client.force_login(world.owner.user)
    panel = client.get("/wallets/customers/capped/policy-panel/").content.decode()
    assert 'data-testid="spend-limit-reached"' in panel and "further usage is not drawn" in panel


def test_policy_edit_page_roles_reason_and_history(setup, clients):
    world, tokens, table = setup
    acme = world.customer("acme", table, enforcement="hard", credits="10")
    contract = acme.contracts.get()
    url = f"/customers/acme/contracts/{contract.pk}/credit-policy/"
    assert clients["support"].get(url).status_code == 403
    assert clients["am"].get(url).status_code == 200
    form = {
        "rollover_cap_kind": "amount",
        "rollover_cap": "0",
        "rollover_expiry_periods": "1",
        "recurring_credits": "500",
        "recurring_kind": "promotional",
        "topup_threshold": "0",
        "topup_amount": "0",
        "topup_monthly_cap": "0",
        "spend_limit": "",
    }
    missing_reason = clients["am"].post(url, form)
    assert missing_reason.status_code == 400
    bad = clients["am"].post(url, {**form, "topup_amount": "100", "change_reason": "pilot"})
    assert bad.status_code == 400 and "monthly cap" in bad.content.decode()
    ok = clients["am"].post(url, {**form, "change_reason": "pilot: 500 promo credits monthly"})
    assert ok.status_code == 302
    [row] = [r for r in contract_history(contract_id=contract.pk) if r.subject == "credit policy"]
    assert row.reason == "pilot: 500 promo credits monthly" and ("recurring_credits", "", "500") in row.changes
    panel = clients["support"].get("/wallets/customers/acme/policy-panel/").content.decode()
    assert "Grants 500 promotional credits" in panel and "Edit policies" not in panel
