import pytest

from .builders import World


@pytest.fixture
def world(actors):
    return World(actors)
