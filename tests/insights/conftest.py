import pytest

from tests.alerts.builders import Shop


@pytest.fixture
def shop(actors):
    return Shop(actors)
