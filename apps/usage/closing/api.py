"""GET /api/v1/periods/YYYY-MM/export?format=csv|json: a closed period's export (read scope)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from apps.core.errors import ValidationFailed
from apps.core.permissions import HasCapability
from apps.core.roles import Cap

from ..api.serializers import ErrorSerializer
from . import exports
from .statements import parse_month
from .views import export_response

FORMATS = ("csv", "json")


class JsonOnlyNegotiation(BaseContentNegotiation):
    """`?format=` chooses the export's format here (csv or json), not DRF's renderer: errors are always JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None


class PeriodExportView(APIView):
    permission_classes = [IsAuthenticated, HasCapability]
    required_capability = Cap.USAGE_VIEW
    content_negotiation_class = JsonOnlyNegotiation

    @extend_schema(
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(FORMATS), description="csv (default) or json"),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.OBJECT,
            400: ErrorSerializer,
            409: ErrorSerializer,
        },
        summary="A closed period's statements (one line per customer x line item, stable ids), as CSV or JSON",
    )
    def get(self, request, month: str):
        m = parse_month(month)
        fmt = request.query_params.get("format") or "csv"
        if fmt not in FORMATS:
            raise ValidationFailed("format is csv or json.", code="invalid_format", field="format")
        return export_response(exports.closed_period_or_conflict(m), fmt)
