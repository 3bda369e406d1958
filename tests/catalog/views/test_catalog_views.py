from datetime import timedelta

import pytest
from django.utils import timezone

from apps.catalog import services
from apps.catalog.models import RateTableVersion, VersionStatus
from tests.catalog.factories import MeterFactory, ProductFactory, RateTableFactory, add_cost, approved_version

pytestmark = pytest.mark.django_db
ROLES = ["owner", "finance", "am", "support", "admin"]


@pytest.fixture
def world(actors):
    meter = MeterFactory(code="llm.input_tokens.fast", unit="token")
    add_cost(meter, "0.05", "1000000")
    table = RateTableFactory(code="list-usd")
    active = approved_version(
        table,
        {meter: "0.15"},
        maker=actors["owner"],
        checker=actors["finance"],
        effective_from=timezone.now() - timedelta(days=5),
        per_units="1000000",
    )
    draft = services.rate_table_version_create_draft(rate_table_id=table.id, actor=actors["owner"])
    return {"meter": meter, "table": table, "active": active, "draft": draft, "rate": draft.rates.get()}


def pages(world):
    return {
        "/catalog/products/": {"owner", "finance", "am", "admin"},
        "/catalog/products/new/": {"owner"},
        f"/catalog/products/{world['meter'].product_id}/history/": {"owner", "finance", "am", "admin"},
        "/catalog/meters/": {"owner", "finance", "am", "admin"},
        "/catalog/meters/new/": {"owner"},
        f"/catalog/meters/{world['meter'].pk}/": {"owner", "finance", "am", "admin"},
        f"/catalog/meters/{world['meter'].pk}/edit/": {"owner"},
        "/catalog/rate-tables/": {"owner", "finance", "am", "admin"},
        "/catalog/rate-tables/new/": {"owner"},
        "/catalog/rate-tables/list-usd/": {"owner", "finance", "am", "admin"},
        f"/catalog/versions/{world['draft'].pk}/": {"owner", "finance", "am", "admin"},
        f"/catalog/versions/{world['draft'].pk}/rates/{world['rate'].pk}/tiers/": {"owner", "finance", "am", "admin"},
        "/catalog/reviews/": {"finance"},
        f"/catalog/reviews/{world['active'].pk}/": {"finance"},
        "/catalog/panels/price-changes/": {"owner", "finance"},
    }


def test_permission_matrix_for_pages(world, clients):
    for url, allowed in pages(world).items():
        for role in ROLES:
            status = clients[role].get(url).status_code
            assert status == (200 if role in allowed else 403), (url, role, status)
        response = clients["anonymous"].get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_permission_matrix_for_actions(world, clients):
    draft, rate = world["draft"], world["rate"]
    posts = {
        "/catalog/rate-tables/list-usd/new-draft/": {},
        f"/catalog/versions/{draft.pk}/rates/{rate.pk}/cell/": {"field": "unit_price", "unit_price": "0.2"},
        f"/catalog/versions/{draft.pk}/rates/add/": {"meter": world["meter"].pk},
        f"/catalog/versions/{draft.pk}/rates/{rate.pk}/remove/": {},
        f"/catalog/versions/{draft.pk}/submit/": {},
        f"/catalog/versions/{draft.pk}/withdraw/": {},
        f"/catalog/versions/{draft.pk}/discard/": {},
    }
    for url, data in posts.items():
        for role in ["finance", "am", "support", "admin"]:
            assert clients[role].post(url, data).status_code == 403, (url, role)
    assert clients["owner"].post(f"/catalog/reviews/{draft.pk}/", {"decision": "approve"}).status_code == 403
    assert clients["am"].post(f"/catalog/reviews/{draft.pk}/", {"decision": "approve"}).status_code == 403


def test_inline_cell_edit_saves_and_returns_row(world, clients):
    draft, rate = world["draft"], world["rate"]
    url = f"/catalog/versions/{draft.pk}/rates/{rate.pk}/cell/"
    response = clients["owner"].post(url, {"field": "unit_price", "unit_price": "0.04"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="rate-{rate.pk}"' in html and "below cost" in html  # 0.04 per 1M < 0.05 cost
    rate.refresh_from_db()
    assert str(rate.unit_price).rstrip("0") == "0.04"


def test_inline_cell_error_shows_in_place_and_keeps_value(world, clients):
    draft, rate = world["draft"], world["rate"]
    url = f"/catalog/versions/{draft.pk}/rates/{rate.pk}/cell/"
    response = clients["owner"].post(url, {"field": "unit_price", "unit_price": "-3"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Cannot be negative" in html and 'value="-3"' in html
    rate.refresh_from_db()
    assert rate.unit_price > 0


def test_tiers_expander_validates_and_saves(world, clients):
    draft, rate = world["draft"], world["rate"]
    services.rate_update_field(
        rate_id=rate.id,
        field="pricing_model",
        value="graduated",
        actor=__import__("apps.core.actors", fromlist=["Actor"]).Actor(user=world["draft"].created_by),
    )
    url = f"/catalog/versions/{draft.pk}/rates/{rate.pk}/tiers/"
    bad = clients["owner"].post(
        url, {"up_to": ["100", "100", ""], "tier_price": ["1", "2", "3"], "flat_fee": ["", "", ""]}
    )
    assert "must be above" in bad.content.decode() and 'value="100"' in bad.content.decode()
    no_open = clients["owner"].post(url, {"up_to": ["100", "200"], "tier_price": ["1", "2"], "flat_fee": ["", ""]})
    assert "open-ended" in no_open.content.decode()
    # Bounds are explicit, so rows typed out of order are stored in bound order.
    ok = clients["owner"].post(url, {"up_to": ["", "1000"], "tier_price": ["0.1", "0.2"], "flat_fee": ["", ""]})
    assert "Tiers saved" in ok.content.decode()
    assert [str(t.up_to).split(".")[0] for t in rate.tiers.all()] == ["1000", "None"]


def test_submit_errors_come_back_on_the_form_with_values_kept(world, clients):
    draft = world["draft"]
    response = clients["owner"].post(
        f"/catalog/versions/{draft.pk}/submit/",
        {"effective_from": "2020-01-01T00:00", "reason": "cut"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "backdating reason" in html and "cut" in html
    assert RateTableVersion.objects.get(pk=draft.pk).status == VersionStatus.DRAFT


def test_submit_then_finance_reviews_diff_and_approves(world, clients, users):
    draft, rate = world["draft"], world["rate"]
    clients["owner"].post(
        f"/catalog/versions/{draft.pk}/rates/{rate.pk}/cell/", {"field": "unit_price", "unit_price": "0.12"}
    )
    effective = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = clients["owner"].post(
        f"/catalog/versions/{draft.pk}/submit/", {"effective_from": effective, "reason": "Cut"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 204 and response["HX-Redirect"] == f"/catalog/versions/{draft.pk}/"
    queue = clients["finance"].get("/catalog/reviews/").content.decode()
    assert "List" not in queue or "Review" in queue
    review = clients["finance"].get(f"/catalog/reviews/{draft.pk}/")
    html = review.content.decode()
    assert "0.15" in html and "0.12" in html and "-20.0 %" in html
    version = RateTableVersion.objects.get(pk=draft.pk)
    # Reject without comment: form error, nothing changes.
    bad = clients["finance"].post(
        f"/catalog/reviews/{draft.pk}/", {"decision": "reject", "comment": "", "content_hash": version.content_hash}
    )
    assert bad.status_code == 400 and "comment is required" in bad.content.decode()
    ok = clients["finance"].post(
        f"/catalog/reviews/{draft.pk}/",
        # No simulation was run: approving needs the explicit confirmation (tests/usage/simulation covers both ways).
        {"decision": "approve", "comment": "fine", "content_hash": version.content_hash, "confirm_warnings": "on"},
    )
    assert ok.status_code == 302
    assert RateTableVersion.objects.get(pk=draft.pk).status == VersionStatus.APPROVED


def test_review_page_refuses_own_change(world):
    from django.test import Client

    from apps.core.actors import Actor
    from apps.core.roles import Role
    from tests.conftest import make_user

    both = make_user("both", Role.MONETIZATION_OWNER, Role.FINANCE_APPROVER)
    client = Client()
    client.force_login(both)
    draft = services.rate_table_version_submit(
        version_id=world["draft"].pk,
        effective_from=timezone.now() + timedelta(days=1),
        reason="x",
        actor=Actor(user=both),
    )
    page = client.get(f"/catalog/reviews/{draft.pk}/").content.decode()
    assert "four-eyes" in page
    response = client.post(
        f"/catalog/reviews/{draft.pk}/", {"decision": "approve", "comment": "", "content_hash": draft.content_hash}
    )
    assert response.status_code == 400 and "four-eyes" in response.content.decode()


def test_as_of_view_shows_version_in_force(world, clients):
    past = (timezone.now() - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    html = clients["am"].get(f"/catalog/rate-tables/list-usd/?as_of={past}").content.decode()
    assert "No approved version was in force then" in html
    html = clients["am"].get("/catalog/rate-tables/list-usd/").content.decode()
    assert f"v{world['active'].number}" in html


def test_meter_cost_form_rejects_bad_input(world, clients):
    url = f"/catalog/meters/{world['meter'].pk}/"
    response = clients["owner"].post(
        url, {"effective_from": "", "unit_cost": "-1", "per_units": "1", "currency": "USD"}
    )
    assert response.status_code == 400
    assert clients["am"].post(url, {}).status_code == 403


def test_product_create_with_reason_records_history(clients):
    ProductFactory(code="taken")
    dup = clients["owner"].post("/catalog/products/new/", {"code": "taken", "name": "X", "change_reason": "r"})
    assert dup.status_code == 400
    ok = clients["owner"].post(
        "/catalog/products/new/",
        {"code": "voice", "name": "Voice", "is_active": "on", "change_reason": "New product line"},
    )
    assert ok.status_code == 302
    from apps.catalog.models import Product

    assert Product.objects.get(code="voice").history.first().history_change_reason == "New product line"


def test_list_pages_have_bounded_queries(world, clients, django_assert_max_num_queries):
    for _i in range(5):
        MeterFactory()
        RateTableFactory()
    with django_assert_max_num_queries(15):
        clients["owner"].get("/catalog/rate-tables/")
    with django_assert_max_num_queries(15):
        clients["owner"].get("/catalog/meters/")
