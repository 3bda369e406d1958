"""seed_demo simulates the price change waiting for approval, so finance reviews a real simulation; seeding again
runs none twice."""

from __future__ import annotations

import importlib
from io import StringIO

import pytest

from apps.catalog.selectors import review_queue
from apps.usage.simulation.models import Simulation

pytestmark = pytest.mark.django_db
MODULES = (
    "apps.core.demo",
    "apps.catalog.demo",
    "apps.contracts.demo",
    "apps.wallets.demo",
    "apps.usage.demo",
    "apps.usage.simulation.demo",
)


def _seed() -> str:
    out = StringIO()
    for name in MODULES:
        importlib.import_module(name).seed(stdout=out, size="small")
    return out.getvalue()


def test_the_pending_price_change_has_a_done_simulation_by_its_maker():
    out = _seed()
    pending = review_queue()
    assert pending, "the demo has a price change waiting for approval"
    for version in pending:
        simulation = Simulation.objects.get(version_id=version.pk)
        assert simulation.state == Simulation.State.DONE
        assert simulation.requested_by_id == version.submitted_by_id
        assert simulation.lines.exists()
    assert "simulation:" in out
    _seed()
    assert Simulation.objects.count() == len(pending)
