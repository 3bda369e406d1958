from __future__ import annotations

import uuid
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.contracts.selectors import customer_or_404
from apps.core.actors import Actor
from apps.core.errors import DomainError, add_domain_error_to_form
from apps.core.htmx import is_partial, render_form
from apps.core.pagination import paginate
from apps.core.permissions import capability_required, user_can
from apps.core.roles import Cap

from . import selectors, services
from .forms import CreditIssueForm, DecisionForm, LedgerFilterForm, VoidForm
from .models import CreditGrant, CreditRequest


def _header(request, customer, tab: str) -> dict:
    return {
        "customer": customer,
        "tab": tab,
        "can_edit": user_can(request.user, Cap.CONTRACTS_EDIT),
        "can_issue": user_can(request.user, Cap.CREDITS_ISSUE),
        "can_approve": user_can(request.user, Cap.CREDITS_APPROVE),
    }


def _caps_context(customer) -> dict:
    per_grant, per_month = services.support_caps()
    wallet = selectors.wallet_of(customer_id=customer.pk)
    month = services.support_credited_this_month(wallet_id=wallet.pk, now=timezone.now()) if wallet else 0
    return {
        "cap_per_grant": per_grant,
        "cap_per_month": per_month,
        "credited_this_month": month,
        "month_left": max(per_month - month, 0),
    }


def _balance_context(request, customer) -> dict:
    now = timezone.now()
    return {
        "customer": customer,
        "balance": selectors.wallet_balance(customer_id=customer.pk, now=now),
        "runway": selectors.wallet_runway(customer_id=customer.pk, now=now),
        "included": selectors.included_credits(customer_id=customer.pk, start=now, end=now + timedelta(seconds=1)),
        "give_backs": selectors.recent_give_backs(customer_id=customer.pk, limit=3),
        "pending": list(selectors.support_activity(customer_id=customer.pk, status="pending", limit=10)),
        "can_issue": user_can(request.user, Cap.CREDITS_ISSUE),
        "can_approve": user_can(request.user, Cap.CREDITS_APPROVE),
    }


@capability_required(Cap.CUSTOMERS_VIEW)
def balance_panel(request, external_id: str):
    """Customer-page panel: balance, runway, open grants, pending credit requests."""
    customer = customer_or_404(external_id=external_id)
    return render(request, "wallets/_balance_panel.html", _balance_context(request, customer))


@capability_required(Cap.CUSTOMERS_VIEW)
def ledger_panel(request, external_id: str):
    customer = customer_or_404(external_id=external_id)
    entries = selectors.with_running_balance(selectors.ledger_entries(customer_id=customer.pk, limit=12))
    return render(request, "wallets/_ledger_panel.html", {"customer": customer, "entries": entries})


@capability_required(Cap.CUSTOMERS_VIEW)
def ledger(request, external_id: str):
    customer = customer_or_404(external_id=external_id)
    form = LedgerFilterForm(request.GET or None)
    entry_type = form.cleaned_data.get("type", "") if form.is_valid() else ""
    page, query = paginate(request, selectors.ledger_entries(customer_id=customer.pk, entry_type=entry_type), 50)
    page.object_list = selectors.with_running_balance(page.object_list)
    context = {
        **_header(request, customer, "ledger"),
        "form": form,
        "page": page,
        "query": query,
        "entry_type": entry_type,
        "conservation": selectors.wallet_conservation(customer_id=customer.pk),
    }
    return render(request, "wallets/ledger.html", context)


@capability_required(Cap.CUSTOMERS_VIEW)
def grants(request, external_id: str):
    customer = customer_or_404(external_id=external_id)
    context = {
        **_header(request, customer, "grants"),
        "grants": selectors.wallet_grants(customer_id=customer.pk),
        "balance": selectors.wallet_balance(customer_id=customer.pk),
    }
    return render(request, "wallets/grants.html", context)


@capability_required(Cap.CREDITS_ISSUE)
def credit_issue(request, external_id: str):
    customer = customer_or_404(external_id=external_id)
    form = CreditIssueForm(request.POST or None)
    partial = is_partial(request)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            result = services.credit_issue(
                customer_id=customer.pk,
                amount=d["amount"],
                kind=d["kind"],
                reason_code=d["reason_code"],
                reference=d.get("reference", ""),
                expires_at=form.expires_at,
                note=d.get("note", ""),
                idempotency_key=d["idempotency_key"],
                actor=Actor.from_request(request),
            )
        except DomainError as exc:
            if exc.field == "expires_at":
                exc.field = "expires_on"
            add_domain_error_to_form(form, exc)
        else:
            if result.status == "issued":
                message = f"Issued {result.grant.amount.normalize():,f} {result.grant.kind} credits to {customer.name}."
                level = "success"
            else:
                message = (
                    f"{result.request.amount.normalize():,f} credits is above your cap, so it is now a "
                    f"request waiting for a finance approver."
                )
                level = "warning"
            if partial:
                context = {**_balance_context(request, customer), "flash": {"level": level, "text": message}}
                response = render(request, "wallets/_balance_panel.html", context)
                response["HX-Trigger"] = "wallet-changed"
                response["HX-Retarget"] = "#panel-wallet"  # the customer page's wallet panel
                response["HX-Reswap"] = "innerHTML"
                return response
            getattr(messages, level)(request, message)
            return redirect("contracts:customer-detail", external_id=customer.external_id)
    context = {
        "customer": customer,
        "form": form,
        "partial": partial,
        **_caps_context(customer),
        **_header(request, customer, "overview"),
    }
    return render_form(
        request, "wallets/credit_issue.html", context, forms=[form], partial_template="wallets/_credit_form.html"
    )


@require_POST
@capability_required(Cap.CREDITS_APPROVE)
def grant_void(request, pk: int):
    form = VoidForm(request.POST)
    grant = CreditGrant.objects.select_related("wallet__customer").filter(pk=pk).first()
    if grant is None:
        raise Http404("No such grant.")
    customer = grant.wallet.customer
    if not form.is_valid():
        messages.error(request, "Say why the grant is voided.")
    else:
        try:
            services.grant_void(
                grant_id=pk,
                reason=form.cleaned_data["reason"],
                actor=Actor.from_request(request),
                idempotency_key=form.cleaned_data.get("idempotency_key") or f"ui-void-{uuid.uuid4()}",
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Grant #{pk} voided.")
    return redirect("wallets:grants", external_id=customer.external_id)


@capability_required(Cap.CREDITS_APPROVE)
def credit_requests(request):
    return render(
        request,
        "wallets/credit_requests.html",
        {
            "pending": selectors.credit_requests_pending(),
            "decided": selectors.credit_requests_decided(limit=20),
            "form": DecisionForm(),
            **_caps_from_settings(),
        },
    )


def _caps_from_settings() -> dict:
    per_grant, per_month = services.support_caps()
    return {"cap_per_grant": per_grant, "cap_per_month": per_month}


@require_POST
@capability_required(Cap.CREDITS_APPROVE)
def credit_request_decide(request, pk: int, decision: str):
    form = DecisionForm(request.POST)
    comment = form.cleaned_data.get("comment", "") if form.is_valid() else ""
    actor = Actor.from_request(request)
    error = None
    try:
        if decision == "approve":
            decided = services.credit_request_approve(request_id=pk, actor=actor, comment=comment)
        elif decision == "reject":
            decided = services.credit_request_reject(request_id=pk, actor=actor, comment=comment)
        else:
            raise Http404("Unknown decision.")
    except DomainError as exc:
        error = exc
    if is_partial(request):
        req = selectors.credit_request_get(request_id=pk)
        if req is None:
            raise Http404("No such credit request.")
        # htmx swaps 2xx only: the row comes back with the error shown in it.
        response = render(
            request,
            "wallets/_credit_request_row.html",
            {"r": req, "error": error.message if error else "", "form": form},
        )
        if error is None:
            response["HX-Trigger"] = "credit-requests-changed"
        return response
    if error is not None:
        if error.http_status == 404:
            raise Http404(error.message)
        if error.http_status == 403:
            raise PermissionDenied(error.message)
        messages.error(request, error.message)
    else:
        verb = "Approved" if decided.status == CreditRequest.Status.APPROVED else "Rejected"
        messages.success(request, f"{verb} {decided.amount.normalize():,f} credits for {decided.wallet.customer.name}.")
    return redirect("wallets:credit-requests")


@capability_required(Cap.CREDITS_ISSUE, Cap.CREDITS_APPROVE)
def support_activity(request):
    status = request.GET.get("status", "")
    if status not in ("", "issued", "voided", "pending", "approved", "rejected"):
        status = ""
    mine = request.GET.get("mine") == "1"
    rows = selectors.support_activity(status=status, requested_by_id=request.user.pk if mine else None, limit=300)
    page, query = paginate(request, rows, 50)
    return render(
        request,
        "wallets/support_activity.html",
        {"page": page, "query": query, "status": status, "mine": mine, **_caps_from_settings()},
    )


@capability_required(Cap.CREDITS_APPROVE)
def credit_requests_panel(request):
    return render(
        request,
        "wallets/_credit_requests_panel.html",
        {"pending": selectors.credit_requests_pending()[:6], "count": selectors.credit_requests_pending_count()},
    )


@capability_required(Cap.CREDITS_ISSUE)
def support_activity_panel(request):
    return render(request, "wallets/_support_activity_panel.html", {"rows": selectors.support_activity(limit=6)})


@capability_required(Cap.CUSTOMERS_VIEW)
def policy_panel(request, external_id: str):
    """Customer-page panel: what the contract's credit policies will do next (issue #11)."""
    from apps.contracts.selectors import contract_in_force

    customer = customer_or_404(external_id=external_id)
    now = timezone.now()
    status = selectors.credit_policy_status(customer_id=customer.pk, now=now)
    terms = contract_in_force(customer_id=customer.pk, at=now) if status is None else None
    contract_id = status.contract_id if status else (terms.id if terms else None)
    context = {
        "customer": customer,
        "status": status,
        "contract_id": contract_id,
        "can_edit": user_can(request.user, Cap.CONTRACTS_EDIT),
    }
    return render(request, "wallets/_policy_panel.html", context)
