"""Catalog pages: products and meters."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from apps.core.actors import Actor
from apps.core.errors import DomainError, add_domain_error_to_form
from apps.core.htmx import render_form, render_page_or_partial
from apps.core.params import text_param
from apps.core.permissions import capability_required, user_can

from .. import selectors, services
from ..forms import (
    FirstCostForm,
    MeterCostForm,
    MeterForm,
    ProductForm,
)
from ..models import Meter, Product
from .base import EDIT, VIEW

# ---- products & meters --------------------------------------------------------------------------


@capability_required(VIEW)
def product_list(request):
    search = text_param(request.GET, "q")
    return render_page_or_partial(
        request,
        "catalog/product_list.html",
        "catalog/_product_rows.html",
        {"products": selectors.product_list(search=search), "q": search},
    )


def _model_form_view(request, *, form_class, instance, save, template, title, success_url, extra=None):
    form = form_class(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        try:
            obj = save(form)
        except DomainError as exc:
            add_domain_error_to_form(form, exc)
        else:
            messages.success(request, f"Saved {obj}.")
            return redirect(success_url(obj))
    context = {"form": form, "title": title, "object": instance, **(extra or {})}
    return render_form(request, template, context, forms=[form])


@capability_required(EDIT)
def product_edit(request, pk: int | None = None):
    product = get_object_or_404(Product, pk=pk) if pk else None
    actor = Actor.from_request(request)

    def save(form):
        d = form.cleaned_data
        return services.product_save(
            actor=actor,
            product=product,
            code=d["code"],
            name=d["name"],
            description=d["description"],
            is_active=d["is_active"],
            reason=d["change_reason"],
        )

    return _model_form_view(
        request,
        form_class=ProductForm,
        instance=product,
        save=save,
        template="catalog/form.html",
        title=f"Edit {product}" if product else "New product",
        success_url=lambda o: reverse("catalog:product-list"),
        extra={"cancel_url": reverse("catalog:product-list")},
    )


@capability_required(VIEW)
def meter_list(request):
    search, product = text_param(request.GET, "q"), text_param(request.GET, "product")
    context = {
        "meters": selectors.meter_list(search=search, product=product),
        "q": search,
        "product": product,
        "products": selectors.product_list(),
    }
    return render_page_or_partial(request, "catalog/meter_list.html", "catalog/_meter_rows.html", context)


@capability_required(EDIT)
def meter_edit(request, pk: int | None = None):
    meter = get_object_or_404(Meter, pk=pk) if pk else None
    actor = Actor.from_request(request)
    if meter is None:
        return _meter_create(request, actor)

    def save(form):
        d = form.cleaned_data
        return services.meter_save(
            actor=actor,
            meter=meter,
            product=d["product"],
            code=d["code"],
            name=d["name"],
            unit=d["unit"],
            aggregation=d["aggregation"],
            description=d["description"],
            is_active=d["is_active"],
            reason=d["change_reason"],
        )

    return _model_form_view(
        request,
        form_class=MeterForm,
        instance=meter,
        save=save,
        template="catalog/form.html",
        title=f"Edit meter {meter.code}" if meter else "New meter",
        success_url=lambda o: reverse("catalog:meter-detail", args=[o.pk]),
        extra={"cancel_url": reverse("catalog:meter-list")},
    )


def _meter_create(request, actor: Actor):
    """One page: the meter and its first cost (optional), saved together."""
    form = MeterForm(request.POST or None)
    cost_form = FirstCostForm(request.POST or None, prefix="cost")
    if request.method == "POST" and form.is_valid() and cost_form.is_valid():
        d = form.cleaned_data
        try:
            meter = services.meter_create(
                actor=actor,
                product=d["product"],
                code=d["code"],
                name=d["name"],
                unit=d["unit"],
                aggregation=d["aggregation"],
                description=d["description"],
                is_active=d["is_active"],
                reason=d["change_reason"],
                first_cost=cost_form.cost(),
            )
        except DomainError as exc:
            target = cost_form if exc.field in cost_form.fields and exc.field not in form.fields else form
            add_domain_error_to_form(target, exc)
        else:
            messages.success(request, f"Saved {meter}." + ("" if cost_form.cost() else " Add its cost below."))
            return redirect("catalog:meter-detail", pk=meter.pk)
    context = {
        "form": form,
        "cost_form": cost_form,
        "title": "New meter",
        "object": None,
        "cancel_url": reverse("catalog:meter-list"),
    }
    return render_form(request, "catalog/form.html", context, forms=[form, cost_form])


@capability_required(VIEW)
def meter_detail(request, pk: int):
    meter = get_object_or_404(Meter.objects.select_related("product"), pk=pk)
    form = MeterCostForm(request.POST or None)
    if request.method == "POST":
        if not user_can(request.user, EDIT):
            raise PermissionDenied("Your role does not allow adding costs.")
        if form.is_valid():
            try:
                services.meter_cost_create(actor=Actor.from_request(request), meter=meter, **form.cleaned_data)
            except DomainError as exc:
                add_domain_error_to_form(form, exc)
            else:
                messages.success(request, "Cost added.")
                return redirect("catalog:meter-detail", pk=meter.pk)
    costs = list(meter.costs.order_by("-effective_from"))
    return render_form(
        request,
        "catalog/meter_detail.html",
        {"meter": meter, "costs": costs, "form": form, "history": _history(meter)},
        forms=[form],
    )


def _history(obj, limit: int = 50) -> list:
    return list(obj.history.select_related("history_user").order_by("-history_date")[:limit])


@capability_required(VIEW)
def product_history(request, pk: int):
    product = get_object_or_404(Product, pk=pk)
    return render(
        request,
        "catalog/history.html",
        {"object": product, "history": _history(product), "back_url": reverse("catalog:product-list")},
    )
