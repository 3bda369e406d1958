"""GET /api/v1/periods/YYYY-MM/export?format=csv|json (read scope): a closed period's export, identical across
requests; errors in the API's shape; the schema documents the endpoint."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.actors import SYSTEM
from apps.core.services import api_key_create
from apps.usage.closing import services
from apps.usage.closing.statements import month_label

pytestmark = pytest.mark.django_db


def _client(*scopes):
    key = api_key_create(name="-".join(scopes), actor=SYSTEM, scopes=frozenset(scopes))
    return Client(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")


def test_export_api(month_world, actors):
    label = month_label(month_world.month)
    reader = _client("read")
    not_closed = reader.get(f"/api/v1/periods/{label}/export?format=json")
    assert not_closed.status_code == 409 and not_closed.json()["code"] == "period_not_closed"
    period = services.period_close(month=month_world.month, actor=actors["finance"])
    as_csv = reader.get(f"/api/v1/periods/{label}/export?format=csv")
    assert as_csv.status_code == 200 and as_csv["Content-Type"].startswith("text/csv")
    assert as_csv.content == reader.get(f"/api/v1/periods/{label}/export").content  # csv by default, stable
    as_json = reader.get(f"/api/v1/periods/{label}/export?format=json")
    assert as_json.status_code == 200 and as_json.json()["content_hash"] == period.content_hash
    assert as_json.content == reader.get(f"/api/v1/periods/{label}/export?format=json").content
    bad = reader.get(f"/api/v1/periods/{label}/export?format=xml")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_format"
    bad_month = reader.get("/api/v1/periods/2026-1/export")
    assert bad_month.status_code == 400 and bad_month.json()["code"] == "invalid_period"
    ingest_only = _client("ingest").get(f"/api/v1/periods/{label}/export")
    assert ingest_only.status_code == 403 and ingest_only.json()["code"] == "scope_required"
    assert Client().get(f"/api/v1/periods/{label}/export").status_code == 401


def test_schema_documents_the_export(clients):
    schema = clients["owner"].get("/api/schema/")
    assert schema.status_code == 200
    assert "/api/v1/periods/{month}/export" in schema.content.decode()
