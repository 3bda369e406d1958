import pytest

from .builders import Shop


@pytest.fixture
def shop(actors):
    return Shop(actors)


@pytest.fixture
def evaluate():
    """Evaluate alerts now for some customers (what the task does after a rating batch)."""
    from apps.alerts.services import alerts_evaluate

    def run(*customers, **kwargs):
        return alerts_evaluate(customer_ids=[c.pk for c in customers], **kwargs)

    return run
