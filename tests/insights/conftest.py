import pytest

from apps.usage import lookups
from tests.alerts.builders import Shop
from tests.usage.builders import World


@pytest.fixture(autouse=True)
def fresh_lookups():
    """Ingestion memoizes customer and meter lookups per process; every test starts from the database."""
    lookups.clear()
    yield
    lookups.clear()


@pytest.fixture
def world(actors):
    return World(actors)


@pytest.fixture
def shop(actors):
    return Shop(actors)
