"""Schemathesis over every operation of the OpenAPI schema, against the live test server, with a valid key that
holds every scope: no 5xx, and every documented response matches the schema (body and content type).
Examples are bounded so the whole run stays within a few tens of seconds."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from apps.core.actors import SYSTEM
from apps.core.roles import Scope
from apps.core.services import api_key_create
from tests.usage.builders import World, ago

pytestmark = pytest.mark.django_db(transaction=True)

MAX_EXAMPLES = 8


def _openapi_document() -> dict:
    """The schema /api/schema/ serves (generated in-process at collection, before the live server exists; the
    requests themselves go to the live server)."""
    import json

    from drf_spectacular.generators import SchemaGenerator

    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))


@pytest.fixture
def all_scopes_key(actors):
    world = World(actors)
    tokens = world.meter("llm.input_tokens")
    table = world.table("list-usd")
    world.version(table, {tokens: "0.001"}, effective_from=ago(days=60))
    world.customer("acme", table, credits="1000")
    # Through the service the create_api_key command uses, with every scope.
    return api_key_create(name="schemathesis", actor=SYSTEM, scopes=frozenset(Scope)).raw_key


schema = schemathesis.openapi.from_dict(_openapi_document())


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_within_its_schema(case, live_server, all_scopes_key):
    case.call_and_validate(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {all_scopes_key}"},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
