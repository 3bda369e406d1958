from __future__ import annotations

from contextlib import suppress

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.catalog.selectors import meter_catalog
from apps.contracts.selectors import customer_choices, customer_get
from apps.core.actors import Actor
from apps.core.errors import DomainError, add_domain_error_to_form
from apps.core.htmx import is_partial, render_page_or_partial
from apps.core.permissions import capability_required, may_see_margin, user_can
from apps.core.roles import Cap

from . import selectors, services
from .forms import AcknowledgeForm, AlertFilterForm, RuleForm, WebhookForm
from .models import THRESHOLD_HELP, THRESHOLD_UNITS, AlertRule, Kind

PAGE_SIZE = 50


def _customers():
    return customer_choices()


def _manages_accounts(user) -> bool:
    return user.accounts.exists()


# --- alerts ---------------------------------------------------------------------------------------------------


@capability_required(Cap.ALERTS_VIEW)
def alert_list(request):
    form = AlertFilterForm(request.GET or None, customers=_customers())
    data = form.cleaned_data if form.is_valid() else {}
    mine = _manages_accounts(request.user)
    scope = request.GET.get("scope") or ("mine" if mine else "all")
    filters = selectors.AlertFilters(
        kind=data.get("kind") or "",
        customer=data.get("customer") or "",
        state=data.get("state") or selectors.DEFAULT_STATE_FILTER,
        manager_id=request.user.pk if scope == "mine" and mine else None,
        include_margin=may_see_margin(request),
    )
    page = Paginator(selectors.alert_list(filters=filters), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "alerts": list(page.object_list),
        "query": query.urlencode(),
        "scope": scope,
        "show_mine": mine,
        "ack_form": AcknowledgeForm(),
    }
    return render_page_or_partial(request, "alerts/alert_list.html", "alerts/_alert_table.html", context)


@capability_required(Cap.ALERTS_VIEW)
def alert_detail(request, pk: int):
    alert = selectors.alert_get(alert_id=pk)
    if alert is None or (selectors.carries_margin(alert) and not may_see_margin(request)):
        raise Http404("No such alert.")
    return render(
        request,
        "alerts/alert_detail.html",
        {"alert": alert, "ack_form": AcknowledgeForm(), "deliveries": list(alert.deliveries.all())},
    )


@require_POST
@capability_required(Cap.ALERTS_VIEW)
def alert_acknowledge(request, pk: int):
    found = selectors.alert_get(alert_id=pk)
    if found is not None and selectors.carries_margin(found) and not may_see_margin(request):
        raise Http404("No such alert.")
    form = AcknowledgeForm(request.POST)
    alert = None
    if form.is_valid():
        try:
            alert = services.alert_acknowledge(
                alert_id=pk, note=form.cleaned_data["note"], actor=Actor.from_request(request)
            )
        except DomainError as exc:
            if exc.code == "not_found":
                raise Http404(exc.message) from None
            add_domain_error_to_form(form, exc)
        else:
            for other in request.POST.getlist("also"):  # the lower thresholds shown with it
                if other.isdigit():
                    with suppress(DomainError):  # already acknowledged or resolved meanwhile
                        services.alert_acknowledge(
                            alert_id=int(other), note=form.cleaned_data["note"], actor=Actor.from_request(request)
                        )
    if is_partial(request):
        alert = selectors.alert_get(alert_id=pk)
        if alert is None:
            raise Http404("No such alert.")
        template = "alerts/_customer_alert.html" if request.POST.get("compact") else "alerts/_alert_row.html"
        # always 200: htmx swaps only successful answers, so the form's errors must come back as one
        return render(request, template, {"alert": alert, "ack_form": form, "acked": not form.errors})
    if form.errors:
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
    else:
        messages.success(request, "Alert acknowledged.")
    return redirect("alerts:alert-detail", pk=pk)


# --- panels ---------------------------------------------------------------------------------------------------


@capability_required(Cap.ALERTS_VIEW)
def panel_open(request):
    mine = _manages_accounts(request.user)
    alerts, total = selectors.open_alerts_overview(
        manager_id=request.user.pk if mine else None, include_margin=may_see_margin(request)
    )
    return render(request, "alerts/_panel_open.html", {"alerts": alerts, "total": total, "mine": mine})


@capability_required(Cap.ALERTS_VIEW)
def customer_panel(request, external_id: str):
    customer = customer_get(external_id=external_id)
    if customer is None:
        raise Http404("No such customer.")
    margin = may_see_margin(request)
    live = selectors.live_alerts_for_customer(customer_id=customer.pk, include_margin=margin)
    return render(
        request,
        "alerts/_customer_panel.html",
        {
            "customer": customer,
            "alerts": _group_thresholds(live),
            "live_count": len(live),
            "open_count": sum(1 for a in live if a.state == "open"),
            "recent": selectors.recent_alerts_for_customer(customer_id=customer.pk, include_margin=margin),
            "ack_form": AcknowledgeForm(),
            "can_manage": user_can(request.user, Cap.ALERTS_MANAGE),
        },
    )


def _group_thresholds(alerts: list) -> list:
    """Included usage crossing 70, 90 and 100 % of one meter in one period is one thing to act on: show the highest
    and carry the open lower ones along (`also`), acknowledged with it."""
    groups: dict[tuple, list] = {}
    for alert in alerts:
        key = (alert.kind, alert.subject, alert.window) if alert.kind == Kind.INCLUDED_USAGE else ("", alert.pk, "")
        groups.setdefault(key, []).append(alert)
    shown = []
    for items in groups.values():
        items.sort(key=lambda a: a.threshold, reverse=True)
        top = items[0]
        top.also = [a for a in items[1:] if a.state == top.state]
        shown.append(top)
        shown.extend(a for a in items[1:] if a.state != top.state)
    return sorted(shown, key=lambda a: (a.state != "open", -a.fired_at.timestamp(), -a.threshold))


# --- rules ----------------------------------------------------------------------------------------------------


@capability_required(Cap.ALERTS_VIEW)
def rule_list(request):
    filters = selectors.RuleFilters(
        customer=request.GET.get("customer", ""), kind=request.GET.get("kind", ""), source=request.GET.get("source", "")
    )
    page = Paginator(selectors.rule_list(filters=filters), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "rules": list(page.object_list),
        "filters": filters,
        "customers": _customers(),
        "kinds": Kind.choices,
        "query": query.urlencode(),
        "units": THRESHOLD_UNITS,
        "can_manage": user_can(request.user, Cap.ALERTS_MANAGE),
    }
    return render_page_or_partial(request, "alerts/rule_list.html", "alerts/_rule_table.html", context)


def _meters():
    return sorted(meter_catalog(), key=lambda m: m.code)


def _rule_form_page(request, form, rule=None, status=200):
    return render(
        request,
        "alerts/rule_form.html",
        {"form": form, "rule": rule, "help": THRESHOLD_HELP, "units": THRESHOLD_UNITS, "kinds": dict(Kind.choices)},
        status=status,
    )


@capability_required(Cap.ALERTS_MANAGE)
def rule_create(request):
    initial = {"enabled": True}
    if request.GET.get("customer"):
        customer = customer_get(external_id=request.GET["customer"])
        if customer is not None:
            initial["customer"] = str(customer.pk)
    if request.GET.get("kind") in Kind.values:
        initial["kind"] = request.GET["kind"]
    form = RuleForm(request.POST or None, initial=initial, customers=_customers(), meters=_meters())
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            rule = services.alert_rule_create(
                kind=d["kind"],
                threshold=d["threshold"],
                customer_id=d["customer"],
                meter_id=d["meter"],
                note=d.get("note") or "",
                enabled=d["enabled"],
                actor=Actor.from_request(request),
            )
        except DomainError as exc:
            add_domain_error_to_form(form, exc)
        else:
            messages.success(
                request,
                f"Rule added: {rule.get_kind_display().lower()} {rule.threshold.normalize():f}"
                f" {rule.unit}. It is evaluated after the next rating batch.",
            )
            return redirect(_rules_url(rule))
    return _rule_form_page(request, form, status=400 if form.errors else 200)


def _rules_url(rule: AlertRule) -> str:
    url = reverse("alerts:rule-list")
    return f"{url}?customer={rule.customer.external_id}" if rule.customer_id else f"{url}?customer=-"


@capability_required(Cap.ALERTS_MANAGE)
def rule_edit(request, pk: int):
    rule = selectors.rule_get(rule_id=pk)
    if rule is None:
        raise Http404("No such rule.")
    initial = {
        "kind": rule.kind,
        "customer": str(rule.customer_id or ""),
        "meter": str(rule.meter_id or ""),
        "threshold": rule.threshold.normalize(),
        "enabled": rule.enabled,
        "note": rule.note,
    }
    form = RuleForm(request.POST or None, initial=initial, customers=_customers(), meters=_meters(), editing=rule)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            kwargs = {} if rule.source == AlertRule.Source.DEFAULT else {"meter_id": d["meter"]}
            services.alert_rule_update(
                rule_id=rule.pk,
                threshold=d["threshold"],
                enabled=d["enabled"],
                note=d.get("note") or "",
                actor=Actor.from_request(request),
                **kwargs,
            )
        except DomainError as exc:
            add_domain_error_to_form(form, exc)
        else:
            messages.success(request, "Rule saved.")
            return redirect(_rules_url(rule))
    return _rule_form_page(request, form, rule, status=400 if form.errors else 200)


# --- webhooks -------------------------------------------------------------------------------------------------


@capability_required(Cap.ALERTS_MANAGE)
def webhook_list(request):
    status = request.GET.get("status", "")
    return render(
        request,
        "alerts/webhook_list.html",
        {
            "endpoints": selectors.endpoint_list(),
            "deliveries": selectors.recent_deliveries(status=status),
            "status": status,
            "created_secret": request.session.pop("alerts_new_secret", None),
        },
    )


def _webhook_form_page(request, form, endpoint=None, status=200):
    return render(request, "alerts/webhook_form.html", {"form": form, "endpoint": endpoint}, status=status)


@capability_required(Cap.ALERTS_MANAGE)
def webhook_create(request):
    form = WebhookForm(request.POST or None, initial={"is_active": True})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            endpoint = services.webhook_endpoint_create(
                name=d["name"], url=d["url"], kinds=d["kinds"], actor=Actor.from_request(request)
            )
        except DomainError as exc:
            add_domain_error_to_form(form, exc)
        else:
            request.session["alerts_new_secret"] = {"name": endpoint.name, "secret": endpoint.secret}
            return redirect("alerts:webhook-list")
    return _webhook_form_page(request, form, status=400 if form.errors else 200)


@capability_required(Cap.ALERTS_MANAGE)
def webhook_edit(request, pk: int):
    endpoint = selectors.endpoint_get(endpoint_id=pk)
    if endpoint is None:
        raise Http404("No such endpoint.")
    initial = {"name": endpoint.name, "url": endpoint.url, "kinds": endpoint.kinds, "is_active": endpoint.is_active}
    form = WebhookForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            endpoint = services.webhook_endpoint_update(
                endpoint_id=pk,
                name=d["name"],
                url=d["url"],
                kinds=d["kinds"],
                is_active=d["is_active"],
                rotate_secret=d["rotate_secret"],
                actor=Actor.from_request(request),
            )
        except DomainError as exc:
            add_domain_error_to_form(form, exc)
        else:
            if d["rotate_secret"]:
                request.session["alerts_new_secret"] = {"name": endpoint.name, "secret": endpoint.secret}
            else:
                messages.success(request, "Endpoint saved.")
            return redirect("alerts:webhook-list")
    return _webhook_form_page(request, form, endpoint, status=400 if form.errors else 200)
