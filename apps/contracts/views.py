from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.catalog import services as catalog_services
from apps.catalog.selectors import (
    approved_version_choices,
    approved_versions,
    meters_active,
    rate_table_choices,
    version_get,
)
from apps.core.actors import Actor
from apps.core.errors import DomainError, add_domain_error_to_form
from apps.core.htmx import is_partial, render_form, render_page_or_partial
from apps.core.money import decimal_str
from apps.core.pagination import paginate
from apps.core.permissions import capability_required, user_can
from apps.core.roles import Cap

from . import selectors, services
from .forms import (
    AllowanceFormSet,
    CohortForm,
    ContractForm,
    CreditPolicyForm,
    CustomerFilterForm,
    CustomerForm,
    OverrideFormSet,
    date_to_instant,
)
from .panels import customer_panels
from .selectors import OverrideTerms

PAGE_SIZE = 25


def _manages_accounts(user) -> bool:
    return user.accounts.exists()


@capability_required(Cap.CUSTOMERS_VIEW)
def customer_list(request):
    managers = selectors.account_managers()
    form = CustomerFilterForm(request.GET or None, managers=managers)
    data = form.cleaned_data if form.is_valid() else {}
    scope = request.GET.get("scope") or ("mine" if _manages_accounts(request.user) else "all")
    manager = data.get("account_manager") or ""
    filters = selectors.CustomerFilters(
        q=(data.get("q") or "").strip(),
        segment=data.get("segment") or "",
        status=data.get("status") or "",
        billing_model=data.get("billing_model") or "",
        unassigned=manager == "none",
        account_manager_id=request.user.pk if scope == "mine" else (int(manager) if manager.isdigit() else None),
    )
    now = timezone.now()
    page, query = paginate(request, selectors.customer_list(filters=filters, at=now), PAGE_SIZE)
    context = {
        "form": form,
        "page": page,
        "rows": selectors.attach_current_contracts(list(page.object_list), at=now),
        "scope": scope,
        "query": query,
        "show_mine": _manages_accounts(request.user),
        "my_count": request.user.accounts.count(),
    }
    return render_page_or_partial(request, "contracts/customer_list.html", "contracts/_customer_table.html", context)


def _header_context(request, customer, tab: str) -> dict:
    return {
        "customer": customer,
        "tab": tab,
        "can_edit": user_can(request.user, Cap.CONTRACTS_EDIT),
        "can_issue": user_can(request.user, Cap.CREDITS_ISSUE),
    }


@capability_required(Cap.CUSTOMERS_VIEW)
def customer_detail(request, external_id: str):
    customer = selectors.customer_or_404(external_id=external_id)
    now = timezone.now()
    terms = selectors.contract_in_force(customer_id=customer.pk, at=now)
    contract = selectors.contract_get(customer_id=customer.pk, contract_id=terms.id) if terms else None
    upcoming = [c for c in selectors.customer_contracts(customer_id=customer.pk) if c.starts_at > now]
    panels = []
    for panel in customer_panels():
        if any(user_can(request.user, c) for c in panel.caps):
            try:
                panels.append(
                    {
                        "key": panel.key,
                        "title": panel.title,
                        "wide": panel.wide,
                        "url": reverse(panel.url_name, kwargs={"external_id": customer.external_id}),
                    }
                )
            except NoReverseMatch:
                continue
    context = {
        **_header_context(request, customer, "overview"),
        "contract": contract,
        "terms": terms,
        "period": terms.period(now) if terms else None,
        "pricing": selectors.contract_version_choice(terms=terms, at=now) if terms else None,
        "upcoming": upcoming[-1:] if upcoming else [],
        "panels": panels,
    }
    return render(request, "contracts/customer_detail.html", context)


@capability_required(Cap.CUSTOMERS_VIEW)
def customer_contracts(request, external_id: str):
    customer = selectors.customer_or_404(external_id=external_id)
    now = timezone.now()
    contracts = [
        {"contract": c, "status": selectors.contract_status(c, now)}
        for c in selectors.customer_contracts(customer_id=customer.pk)
    ]
    context = {
        **_header_context(request, customer, "contracts"),
        "contracts": contracts,
        "customer_history": selectors.customer_history(customer_id=customer.pk),
    }
    return render(request, "contracts/customer_contracts.html", context)


@capability_required(Cap.CONTRACTS_EDIT)
def customer_create(request):
    managers = selectors.account_managers()
    form = CustomerForm(request.POST or None, managers=managers)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            customer = services.customer_create(
                external_id=d["external_id"],
                name=d["name"],
                segment=d["segment"],
                status=d["status"],
                account_manager_id=d["account_manager"],
                actor=Actor.from_request(request),
                change_reason=d.get("change_reason") or "",
            )
        except DomainError as exc:
            add_domain_error_to_form(form, exc)
        else:
            messages.success(request, f"Customer {customer.name} created. Add a contract next.")
            return redirect("contracts:customer-detail", external_id=customer.external_id)
    return render_form(request, "contracts/customer_form.html", {"form": form, "customer": None}, forms=[form])


@capability_required(Cap.CONTRACTS_EDIT)
def customer_edit(request, external_id: str):
    customer = selectors.customer_or_404(external_id=external_id)
    managers = selectors.account_managers()
    initial = {
        "name": customer.name,
        "segment": customer.segment,
        "status": customer.status,
        "account_manager": str(customer.account_manager_id or ""),
    }
    form = CustomerForm(request.POST or None, initial=initial, managers=managers, editing=True)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            services.customer_update(
                customer_id=customer.pk,
                name=d["name"],
                segment=d["segment"],
                status=d["status"],
                account_manager_id=d["account_manager"],
                actor=Actor.from_request(request),
                change_reason=d.get("change_reason") or "",
            )
        except DomainError as exc:
            add_domain_error_to_form(form, exc)
        else:
            messages.success(request, "Customer saved.")
            return redirect("contracts:customer-detail", external_id=customer.external_id)
    return render_form(request, "contracts/customer_form.html", {"form": form, "customer": customer}, forms=[form])


def _catalog_choices():
    return rate_table_choices(), meters_active()


def _rows_from_formsets(allowance_fs, override_fs):
    allowances = {}
    for form in allowance_fs.forms:
        d = getattr(form, "cleaned_data", {})
        if d.get("meter") and d.get("quantity") is not None:
            allowances[int(d["meter"])] = d["quantity"]
    overrides = {}
    for form in override_fs.forms:
        d = getattr(form, "cleaned_data", {})
        if d.get("meter") and d.get("kind"):
            overrides[int(d["meter"])] = OverrideTerms(
                kind=d["kind"],
                multiplier=d.get("multiplier"),
                unit_price=d.get("unit_price"),
                price_per_units=d.get("price_per_units"),
            )
    return allowances, overrides


def _contract_form_view(request, customer, contract=None):
    rate_tables, meters = _catalog_choices()
    if contract is None:
        initial = {"starts_on": timezone.now().date(), "alert_thresholds": "70, 90, 100", "currency": "USD"}
        allowance_initial, override_initial = [], []
    else:
        initial = {
            "rate_table": str(contract.rate_table_id),
            "starts_on": contract.starts_at.date(),
            "ends_on": contract.ends_at.date() if contract.ends_at else None,
            "billing_model": contract.billing_model,
            "enforcement": contract.enforcement,
            "overdraft_limit": decimal_str(contract.overdraft_limit),
            "currency": contract.currency,
            "base_fee": decimal_str(contract.base_fee),
            "included_credits": decimal_str(contract.included_credits),
            "credit_price": decimal_str(contract.credit_price),
            "billing_anchor_day": contract.billing_anchor_day,
            "alert_thresholds": ", ".join(str(t) for t in contract.alert_thresholds or []),
            "notes": contract.notes,
            "protected_version": str(contract.protected_version_id or ""),
            "protected_until": contract.protected_until.date() if contract.protected_until else None,
        }
        allowance_initial = [
            {"meter": str(a.meter_id), "quantity": decimal_str(a.quantity)} for a in contract.allowances.all()
        ]
        override_initial = [
            {
                "meter": str(o.meter_id),
                "kind": o.kind,
                "multiplier": decimal_str(o.multiplier),
                "unit_price": decimal_str(o.unit_price),
                "price_per_units": decimal_str(o.price_per_units),
            }
            for o in contract.overrides.all()
        ]
    data = request.POST if request.method == "POST" else None
    versions = approved_version_choices(rate_table_ids=[t.pk for t in rate_tables])
    form = ContractForm(
        data, initial=initial, rate_tables=rate_tables, versions=versions, require_reason=contract is not None
    )
    allowance_fs = AllowanceFormSet(data, initial=allowance_initial, prefix="allowance", meters=meters)
    override_fs = OverrideFormSet(data, initial=override_initial, prefix="override", meters=meters)
    if request.method == "POST" and form.is_valid() and allowance_fs.is_valid() and override_fs.is_valid():
        allowances, overrides = _rows_from_formsets(allowance_fs, override_fs)
        actor = Actor.from_request(request)
        reason = form.cleaned_data.get("change_reason") or ""
        try:
            if contract is None:
                saved = services.contract_create(
                    customer_id=customer.pk,
                    allowances=allowances,
                    overrides=overrides,
                    actor=actor,
                    change_reason=reason,
                    **form.terms(),
                )
            else:
                saved = services.contract_update(
                    contract_id=contract.pk,
                    allowances=allowances,
                    overrides=overrides,
                    actor=actor,
                    change_reason=reason,
                    **form.terms(),
                )
        except DomainError as exc:
            if exc.field in ("starts_at", "ends_at"):
                exc.field = exc.field.replace("_at", "_on")
            elif exc.field == "rate_table_id":
                exc.field = "rate_table"
            add_domain_error_to_form(form, exc)
        else:
            messages.success(request, f"Contract #{saved.pk} saved.")
            return redirect("contracts:customer-detail", external_id=customer.external_id)
    return render_form(
        request,
        "contracts/contract_form.html",
        {
            "customer": customer,
            "contract": contract,
            "form": form,
            "allowance_fs": allowance_fs,
            "override_fs": override_fs,
            "no_rate_tables": not rate_tables,
        },
        invalid=request.method == "POST",
    )


@capability_required(Cap.CONTRACTS_EDIT)
def contract_create(request, external_id: str):
    return _contract_form_view(request, selectors.customer_or_404(external_id=external_id))


@capability_required(Cap.CONTRACTS_EDIT)
def contract_edit(request, external_id: str, pk: int):
    customer = selectors.customer_or_404(external_id=external_id)
    contract = selectors.contract_get(customer_id=customer.pk, contract_id=pk)
    if contract is None:
        raise Http404("No such contract.")
    return _contract_form_view(request, customer, contract)


@capability_required(Cap.CUSTOMERS_VIEW)
def contract_history(request, external_id: str, pk: int):
    customer = selectors.customer_or_404(external_id=external_id)
    contract = selectors.contract_get(customer_id=customer.pk, contract_id=pk)
    if contract is None:
        raise Http404("No such contract.")
    context = {
        **_header_context(request, customer, "contracts"),
        "contract": contract,
        "history": selectors.contract_history(contract_id=contract.pk),
    }
    return render(request, "contracts/contract_history.html", context)


@capability_required(Cap.CUSTOMERS_VIEW)
def my_accounts_panel(request):
    """Landing-page panel: the signed-in account manager's accounts (or the newest customers)."""
    now = timezone.now()
    mine = _manages_accounts(request.user)
    qs = selectors.customer_list(
        filters=selectors.CustomerFilters(account_manager_id=request.user.pk if mine else None), at=now
    )
    rows = selectors.attach_current_contracts(list(qs[:8]), at=now)
    return render(
        request,
        "contracts/_my_accounts_panel.html",
        {"rows": rows, "mine": mine, "total": qs.count(), "partial": is_partial(request)},
    )


@capability_required(Cap.CONTRACTS_EDIT)
def contract_policy(request, external_id: str, pk: int):
    """Edit a contract's credit policies (rollover, recurring grants, auto top-up, spend limit), with a reason."""
    customer = selectors.customer_or_404(external_id=external_id)
    contract = selectors.contract_get(customer_id=customer.pk, contract_id=pk)
    if contract is None:
        raise Http404("No such contract.")
    current = selectors.credit_policy_values(contract_id=contract.pk)
    form = CreditPolicyForm(request.POST if request.method == "POST" else None, initial=current)
    if request.method == "POST" and form.is_valid():
        try:
            services.credit_policy_set(
                contract_id=contract.pk,
                actor=Actor.from_request(request),
                change_reason=form.cleaned_data["change_reason"],
                **form.terms(),
            )
        except DomainError as exc:
            add_domain_error_to_form(form, exc)
        else:
            messages.success(request, f"Credit policies of contract #{contract.pk} saved.")
            return redirect("contracts:customer-detail", external_id=customer.external_id)
    return render_form(
        request,
        "contracts/credit_policy_form.html",
        {"customer": customer, "contract": contract, "form": form},
        forms=[form],
    )


# --- panels on catalog pages (catalog cannot read contracts: it lazy-loads these) --------------------------


def _cohort_panel(request, version, form=None, saved=False, status=200):
    can_edit = version.is_editable and user_can(request.user, Cap.CATALOG_EDIT)
    if form is None and can_edit:
        form = CohortForm(
            initial={
                "cohort": version.cohort,
                "customers": ", ".join(version.cohort_customers or []),
                "segments": list(version.cohort_segments or []),
                "grandfather_until": version.grandfather_until.date() if version.grandfather_until else None,
            }
        )
    context = {"version": version, "form": form, "can_edit": can_edit, "saved": saved}
    return render(request, "contracts/_cohort_panel.html", context, status=status)


@capability_required(Cap.CATALOG_VIEW)
def version_cohort_panel(request, version_id: int):
    """The draft editor's "who gets the new prices" panel: a version's cohort, editable while it is a draft."""
    version = version_get(version_id=version_id)
    if version is None:
        raise Http404("No such version.")
    if request.method != "POST":
        return _cohort_panel(request, version)
    if not user_can(request.user, Cap.CATALOG_EDIT):
        raise PermissionDenied
    form = CohortForm(request.POST)
    if not form.is_valid():
        return _cohort_panel(request, version, form)
    d = form.cleaned_data
    try:
        version = catalog_services.rate_table_version_set_cohort(
            version_id=version.pk,
            cohort=d["cohort"],
            customers=d["customers"],
            segments=d["segments"],
            grandfather_until=date_to_instant(d.get("grandfather_until")),
            actor=Actor.from_request(request),
        )
    except DomainError as exc:
        if exc.field == "cohort_customers":
            exc.field = "customers"
        add_domain_error_to_form(form, exc)
        return _cohort_panel(request, version, form)
    response = _cohort_panel(request, version_get(version_id=version.pk), saved=True)
    response["HX-Trigger"] = "rates-changed"  # the diff and the simulation panel refresh themselves
    return response


@capability_required(Cap.CATALOG_VIEW)
def rate_table_version_counts_panel(request, rate_table_id: int):
    """The rate table page's "contracts priced now" panel: per approved version, the contracts in force it prices
    now (the rating engine's choice: cohorts, grandfathering, price protection)."""
    now = timezone.now()
    counts = selectors.contracts_priced_by_version(rate_table_id=rate_table_id, at=now)
    versions = approved_versions(rate_table_id=rate_table_id)
    rows = [{"version": v, "contracts": counts.get(v.pk, 0)} for v in reversed(versions)]
    return render(request, "contracts/_version_counts_panel.html", {"rows": rows, "at": now})
