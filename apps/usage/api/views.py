from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog.selectors import meters_by_code
from apps.core.api.schema import paginated
from apps.core.errors import NotFound, ValidationFailed
from apps.core.permissions import HasCapability, may_see_margin
from apps.core.roles import Cap

from .. import selectors, statements
from ..ingestion import MAX_EVENTS, events_from_body, payload_too_large, usage_events_ingest
from .serializers import (
    EntitlementSerializer,
    ErrorSerializer,
    EventsInSerializer,
    IngestResultSerializer,
    MeterSerializer,
    UsageSerializer,
)


class UsageApiView(APIView):
    permission_classes = [IsAuthenticated, HasCapability]
    required_capability = Cap.USAGE_VIEW


class EventIngestView(UsageApiView):
    required_capability = Cap.USAGE_INGEST
    parser_classes = [JSONParser]  # for the schema only: the body is parsed by events_from_body (Decimal, no float)

    @extend_schema(
        request=EventsInSerializer,
        responses={200: IngestResultSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 413: ErrorSerializer},
        summary=f"Ingest 1 to {MAX_EVENTS} usage events (idempotent per customer and id)",
        examples=[
            OpenApiExample(
                "One event",
                request_only=True,
                value={
                    "events": [
                        {
                            "id": "evt-1",
                            "customer": "acme",
                            "meter": "llm.input_tokens",
                            "quantity": "1500",
                            "timestamp": "2026-11-20T10:00:00Z",
                            "attributes": {"user": "u-7", "agent": "summarizer", "team": "legal"},
                        }
                    ]
                },
            )
        ],
    )
    def post(self, request):
        events = events_from_body(_capped_body(request, settings.RATEDESK["USAGE_MAX_BODY_BYTES"]))
        api_key = getattr(request, "auth", None)
        result = usage_events_ingest(events=events, api_key_id=getattr(api_key, "pk", None))
        return Response(result.as_dict())


def _capped_body(request, limit: int) -> bytes:
    """The raw body, at most `limit` bytes, else 413. A chunked request (Transfer-Encoding: chunked) has no
    Content-Length, so Django would read nothing from it: read the decoded stream the server hands over, up to
    one byte past the cap."""
    length = request.META.get("CONTENT_LENGTH")
    if length and length.isdigit():
        if int(length) > limit:
            raise payload_too_large(limit)
        return request.body
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        stream = request.META.get("wsgi.input")
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise payload_too_large(limit)
        return data
    return request.body


class MeterListView(UsageApiView):
    required_capability = Cap.CATALOG_VIEW

    @extend_schema(
        parameters=[OpenApiParameter("page", OpenApiTypes.INT, description="Page number (50 a page)")],
        responses=paginated(MeterSerializer),
        summary="Active meters (codes usage events use), paginated",
    )
    def get(self, request):
        meters = sorted(meters_by_code().values(), key=lambda m: m.code)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(meters, request, view=self)
        return paginator.get_paginated_response(MeterSerializer(page, many=True).data)


_RANGE = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day (UTC); default: current period"),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, inclusive; default: current period"),
]


class CustomerUsageView(UsageApiView):
    @extend_schema(
        parameters=[*_RANGE, OpenApiParameter("meter", OpenApiTypes.STR, description="Meter code")],
        responses={200: UsageSerializer, 404: ErrorSerializer},
        summary="A customer's rated usage per meter over days (from the daily rollups)",
    )
    def get(self, request, external_id: str):
        customer = selectors.customer_or_404(external_id)
        start, end = selectors.resolve_range(
            customer_id=customer.pk, start=request.query_params.get("start"), end=request.query_params.get("end")
        )
        meter_id = None
        code = request.query_params.get("meter")
        if code:
            meter = selectors.meter_by_code(code)
            if meter is None:
                raise ValidationFailed(f"No meter with code {code!r}.", code="unknown_meter", field="meter")
            meter_id = meter.id
        return Response(
            selectors.usage_api_payload(
                customer=customer, start=start, end=end, meter_id=meter_id, include_cost=may_see_margin(request)
            )
        )


class EntitlementView(UsageApiView):
    @extend_schema(
        responses={200: EntitlementSerializer, 404: ErrorSerializer},
        summary="May the customer use this meter now? (contract, included usage, balance, policy)",
    )
    def get(self, request, external_id: str, meter: str):
        customer = selectors.customer_or_404(external_id)
        spec = selectors.meter_by_code(meter)
        if spec is None:
            raise NotFound(f"No meter with code {meter!r}.", code="unknown_meter")
        return Response(selectors.entitlement(customer_id=customer.pk, meter_id=spec.id).as_api())


class StatementView(UsageApiView):
    @extend_schema(
        parameters=_RANGE,
        responses={(200, "text/csv"): OpenApiTypes.STR, 404: ErrorSerializer},
        summary="Statement as CSV: one line per meter (quantity, included, from credits, overage, "
        "unit price, amount, cost)",
    )
    def get(self, request, external_id: str):
        customer = selectors.customer_or_404(external_id)
        start, end = selectors.resolve_range(
            customer_id=customer.pk, start=request.query_params.get("start"), end=request.query_params.get("end")
        )
        return statement_response(
            statements.statement(customer=customer, start=start, end=end), include_cost=may_see_margin(request)
        )


def statement_response(statement, *, include_cost: bool) -> HttpResponse:
    response = HttpResponse(
        statements.statement_csv(statement, include_cost=include_cost), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{statement.filename}"'
    return response
