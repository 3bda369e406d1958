"""Issue 9 item 4 for alerts: a margin alert's value is a margin, so only roles that may see margin see it."""

import pytest

from apps.alerts.models import Alert, Kind
from tests.alerts.builders import Shop, ago, ingest_and_rate

pytestmark = pytest.mark.django_db


@pytest.fixture
def margin_alert(actors, users, django_capture_on_commit_callbacks):
    shop = Shop(actors, usd_token_price="0.000005")  # sold below cost
    cheap = shop.customer("cheap", billing_model="postpaid", enforcement="unlimited")
    cheap.account_manager = users["am"]
    cheap.save()
    ingest_and_rate([shop.event(cheap, shop.tokens, 100_000, ago(hours=2))], django_capture_on_commit_callbacks)
    return Alert.objects.get(kind=Kind.NEGATIVE_MARGIN, customer=cheap)


@pytest.mark.parametrize("name,sees", [("owner", True), ("finance", True), ("am", False), ("support", False)])
def test_margin_alerts_only_for_margin_roles(clients, margin_alert, name, sees):
    client = clients[name]
    listing = client.get("/alerts/?state=all").content.decode()
    assert (f"/alerts/{margin_alert.pk}/" in listing) == sees
    assert client.get(f"/alerts/{margin_alert.pk}/").status_code == (200 if sees else 404)
    panel = client.get("/alerts/customers/cheap/panel/")
    assert panel.status_code == 200
    assert (f"/alerts/{margin_alert.pk}/" in panel.content.decode()) == sees
    opened = client.get("/alerts/panels/open/")
    assert opened.status_code == 200
    assert (f"/alerts/{margin_alert.pk}/" in opened.content.decode()) == sees
    page = client.get("/dashboards/customers/cheap/")
    assert page.status_code == 200
    assert any(m.carries_margin for m in page.context["markers"]) == sees
