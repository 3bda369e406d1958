from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.contracts.selectors import customer_get
from apps.core.actors import Actor
from apps.core.errors import NotFound
from apps.core.permissions import HasCapability
from apps.core.roles import Cap

from .. import selectors, services
from .serializers import BalanceSerializer, CreditIssueInputSerializer, CreditIssueOutputSerializer

ERROR_SHAPE = {
    "type": "object",
    "properties": {"message": {"type": "string"}, "code": {"type": "string"}, "extra": {"type": "object"}},
}


def _customer(external_id: str):
    customer = customer_get(external_id=external_id)
    if customer is None:
        raise NotFound(f"No customer with id {external_id!r}.")
    return customer


class BalanceView(APIView):
    permission_classes = [HasCapability]
    required_capability = Cap.CUSTOMERS_VIEW

    @extend_schema(
        tags=["wallets"],
        summary="A customer's credit balance and open grants",
        responses={200: BalanceSerializer, 404: OpenApiResponse(ERROR_SHAPE)},
    )
    def get(self, request, external_id: str):
        customer = _customer(external_id)
        view = selectors.wallet_balance(customer_id=customer.pk)
        data = {
            "customer": customer.external_id,
            "balance": view.balance,
            "unit": view.unit,
            "grants": [
                {
                    "id": g.id,
                    "kind": g.kind,
                    "remaining": g.remaining,
                    "priority": g.priority,
                    "expires_at": g.expires_at,
                    "effective_at": g.effective_at,
                }
                for g in view.grants
            ],
        }
        return Response(BalanceSerializer(data).data)


class CreditIssueView(APIView):
    permission_classes = [HasCapability]
    required_capability = Cap.CREDITS_ISSUE

    @extend_schema(
        tags=["wallets"],
        summary="Issue a support or promotional credit (same caps as the UI)",
        description="Within the caps the credit is granted at once (201). Above the per-grant or per-customer "
        "monthly cap it becomes a credit request for a finance approver (202). Idempotent: a repeat "
        "with the same `idempotency_key` returns the first result and changes nothing; the same key "
        "with a different customer or amount is 409 `idempotency_conflict`.",
        request=CreditIssueInputSerializer,
        responses={
            201: CreditIssueOutputSerializer,
            202: CreditIssueOutputSerializer,
            400: OpenApiResponse(ERROR_SHAPE),
            404: OpenApiResponse(ERROR_SHAPE),
            409: OpenApiResponse(ERROR_SHAPE),
        },
        examples=[
            OpenApiExample(
                "Outage credit",
                request_only=True,
                value={
                    "amount": "250",
                    "kind": "support",
                    "reason": "outage",
                    "expires_at": "2027-03-01T00:00:00Z",
                    "idempotency_key": "ticket-4711-credit",
                    "reference": "SUP-4711",
                },
            )
        ],
    )
    def post(self, request, external_id: str):
        customer = _customer(external_id)
        payload = CreditIssueInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        d = payload.validated_data
        result = services.credit_issue(
            customer_id=customer.pk,
            amount=d["amount"],
            kind=d["kind"],
            reason_code=d["reason"],
            reference=d.get("reference", ""),
            expires_at=d.get("expires_at"),
            note=d.get("note", ""),
            idempotency_key=d["idempotency_key"],
            actor=Actor.from_request(request),
            now=timezone.now(),
        )
        balance = selectors.wallet_balance(customer_id=customer.pk).balance
        data = CreditIssueOutputSerializer(
            {
                "status": result.status,
                "customer": customer.external_id,
                "idempotency_key": d["idempotency_key"],
                "grant": result.grant,
                "request": result.request,
                "balance": balance,
            }
        ).data
        return Response(data, status=status.HTTP_201_CREATED if result.status == "issued" else status.HTTP_202_ACCEPTED)
