from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.response import Response

from apps.catalog.selectors import meters_by_ids
from apps.core.errors import NotFound
from apps.core.params import text_param
from apps.core.permissions import HasCapability
from apps.core.roles import Cap

from .. import selectors
from .serializers import ContractSerializer, CustomerDetailSerializer, CustomerSerializer


def contract_payload(terms, *, at) -> dict | None:
    if terms is None:
        return None
    meter_codes = {
        meter_id: spec.code for meter_id, spec in meters_by_ids(set(terms.allowances) | set(terms.overrides)).items()
    }
    start, end = terms.period(at)
    data = {
        "id": terms.id,
        "rate_table": terms.rate_table_code,
        "pricing_unit": terms.pricing_unit,
        "starts_at": terms.starts_at,
        "ends_at": terms.ends_at,
        "billing_model": terms.billing_model,
        "enforcement": terms.enforcement,
        "overdraft_limit": terms.overdraft_limit,
        "currency": terms.currency,
        "base_fee": terms.base_fee,
        "included_credits": terms.included_credits,
        "credit_price": terms.credit_price,
        "alert_thresholds": list(terms.alert_thresholds),
        "billing_anchor_day": terms.billing_anchor_day,
        "current_period_start": start,
        "current_period_end": end,
        "allowances": [{"meter": meter_codes.get(m, str(m)), "quantity": q} for m, q in terms.allowances.items()],
        "overrides": [
            {
                "meter": meter_codes.get(m, str(m)),
                "kind": o.kind,
                "multiplier": o.multiplier,
                "unit_price": o.unit_price,
                "price_per_units": o.price_per_units,
            }
            for m, o in terms.overrides.items()
        ],
    }
    return ContractSerializer(data).data


@extend_schema(
    tags=["customers"],
    summary="List customers",
    parameters=[
        OpenApiParameter("search", str, description="Part of the name or external id."),
        OpenApiParameter("segment", str, enum=["startup", "smb", "mid_market", "enterprise"]),
        OpenApiParameter("status", str, enum=["active", "trial", "suspended", "churned"]),
    ],
)
class CustomerListView(generics.ListAPIView):
    """Customers, paginated (`count`, `next`, `previous`, `results`). `id` is the external id usage events use."""

    permission_classes = [HasCapability]
    required_capability = Cap.CUSTOMERS_VIEW
    serializer_class = CustomerSerializer

    def get_queryset(self):
        p = self.request.query_params
        filters = selectors.CustomerFilters(
            q=text_param(p, "search"), segment=text_param(p, "segment"), status=text_param(p, "status")
        )
        return selectors.customer_list(filters=filters, at=timezone.now())


@extend_schema(
    tags=["customers"], summary="One customer, with the contract in force", responses=CustomerDetailSerializer
)
class CustomerDetailView(generics.GenericAPIView):
    permission_classes = [HasCapability]
    required_capability = Cap.CUSTOMERS_VIEW
    serializer_class = CustomerDetailSerializer

    def get(self, request, external_id: str):
        customer = selectors.customer_get(external_id=external_id)
        if customer is None:
            raise NotFound(f"No customer with id {external_id!r}.")
        now = timezone.now()
        contract = contract_payload(selectors.contract_in_force(customer_id=customer.pk, at=now), at=now)
        return Response(CustomerDetailSerializer(customer, context={"contract": contract}).data)
