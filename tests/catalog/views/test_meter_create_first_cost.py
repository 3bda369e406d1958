"""Issue 13 item 6: the new-meter form takes the first cost, so one page creates a meter with its margin."""

from decimal import Decimal

import pytest

from apps.catalog.models import Meter
from tests.catalog.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _post(client, product, **cost):
    data = {
        "product": product.pk,
        "code": "gpu.seconds",
        "name": "GPU seconds",
        "unit": "second",
        "aggregation": "sum",
        "description": "",
        "is_active": "on",
        "change_reason": "new meter",
    }
    data.update({f"cost-{k}": v for k, v in cost.items()})
    return client.post("/catalog/meters/new/", data)


def test_new_meter_with_its_first_cost(clients):
    product = ProductFactory()
    response = _post(clients["owner"], product, unit_cost="0.36", per_units="3600", currency="USD")
    meter = Meter.objects.get(code="gpu.seconds")
    assert response.status_code == 302 and response["Location"] == f"/catalog/meters/{meter.pk}/"
    cost = meter.costs.get()
    assert (cost.unit_cost, cost.per_units, cost.cost_per_unit) == (Decimal("0.36"), Decimal(3600), Decimal("0.0001"))


def test_new_meter_without_a_cost_still_saves(clients):
    response = _post(clients["owner"], ProductFactory(), unit_cost="", per_units="1", currency="USD")
    assert response.status_code == 302 and not Meter.objects.get(code="gpu.seconds").costs.exists()


def test_a_bad_cost_keeps_everything_typed_and_creates_nothing(clients):
    response = _post(clients["owner"], ProductFactory(), unit_cost="-1", per_units="1", currency="USD")
    assert response.status_code == 400 and not Meter.objects.filter(code="gpu.seconds").exists()
    body = response.content.decode()
    assert 'value="gpu.seconds"' in body and "First cost" in body


def test_a_zero_block_size_is_refused_without_a_meter_left_behind(clients):
    response = _post(clients["owner"], ProductFactory(), unit_cost="1", per_units="0", currency="USD")
    assert response.status_code == 400 and not Meter.objects.filter(code="gpu.seconds").exists()
    assert "Per units must be above zero." in response.content.decode()
