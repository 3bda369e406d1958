from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.schema import paginated
from apps.core.errors import NotFound, ValidationFailed
from apps.core.params import datetime_param
from apps.core.permissions import HasCapability
from apps.core.roles import Cap

from .. import selectors
from ..models import RateTableVersion
from .serializers import RateTableSerializer, VersionSerializer


class CatalogApiView(APIView):
    permission_classes = [IsAuthenticated, HasCapability]
    required_capability = Cap.CATALOG_VIEW


def _version_response(version_id: int | None, code: str, when: str) -> Response:
    if version_id is None:
        raise NotFound(f"Rate table {code} had no approved version in force {when}.", code="no_version_in_force")
    version = (
        RateTableVersion.objects.select_related("rate_table", "decided_by")
        .prefetch_related("rates__meter", "rates__tiers")
        .get(pk=version_id)
    )
    return Response(VersionSerializer(version).data)


def _table_or_404(code: str):
    table = selectors.rate_table_get(code=code)
    if table is None:
        raise NotFound(f"No rate table {code}.", code="unknown_rate_table")
    return table


class RateTableListView(CatalogApiView):
    @extend_schema(
        parameters=[OpenApiParameter("page", OpenApiTypes.INT, description="Page number (50 a page)")],
        responses=paginated(RateTableSerializer),
        summary="Rate tables with their active and next version (paginated)",
    )
    def get(self, request):
        summaries = selectors.rate_table_list()
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(summaries, request, view=self)
        return paginator.get_paginated_response(RateTableSerializer(page, many=True).data)


class RateTableActiveView(CatalogApiView):
    @extend_schema(responses=VersionSerializer, summary="The version in force now, with its rates")
    def get(self, request, code: str):
        table = _table_or_404(code)
        return _version_response(
            selectors.rate_table_version_in_force_id(rate_table_id=table.id, at=timezone.now()), code, "now"
        )


class RateTableAsOfView(CatalogApiView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "at",
                OpenApiTypes.STR,
                required=True,
                description="ISO 8601 instant (UTC if no offset) or a date (start of day UTC)",
            )
        ],
        responses=VersionSerializer,
        summary="The version in force at an instant",
    )
    def get(self, request, code: str):
        table = _table_or_404(code)
        at = datetime_param(request.query_params, "at", code="invalid_at")
        if at is None:
            raise ValidationFailed(
                "Give ?at= as an ISO 8601 date or instant, e.g. 2026-11-20T10:00:00Z.", code="invalid_at"
            )
        return _version_response(
            selectors.rate_table_version_in_force_id(rate_table_id=table.id, at=at), code, f"at {at.isoformat()}"
        )
