from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from . import nav, selectors, services
from .actors import Actor
from .errors import DomainError, add_domain_error_to_form
from .middleware import error_response, is_api
from .params import int_param
from .permissions import capability_required, user_can
from .roles import Cap, Role


@login_required
def home(request):
    panels = []
    for panel in nav.panels():
        if any(user_can(request.user, c) for c in panel.caps):
            try:
                panels.append({"title": panel.title, "url": reverse(panel.url_name), "wide": panel.wide})
            except NoReverseMatch:
                continue
    return render(request, "core/home.html", {"panels": panels})


def error_403(request, exception=None):
    if is_api(request):
        return error_response(request, message=str(exception) or "Forbidden.", code="forbidden", status=403)
    return render(request, "403.html", {"message": str(exception) if exception else ""}, status=403)


def error_404(request, exception=None):
    if is_api(request):
        return api_not_found(request)
    return render(request, "404.html", status=404)


def error_500(request):
    if is_api(request):
        return error_response(request, message="Server error.", code="server_error", status=500)
    return render(request, "500.html", status=500)


def api_not_found(request, *args, **kwargs):
    return error_response(request, message=f"Nothing at {request.path}; see /api/docs/.", code="not_found",
                          status=404)


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"placeholder": "e.g. production ingest"}))


@capability_required(Cap.APIKEYS_MANAGE)
def api_key_list(request):
    form = ApiKeyForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created = services.api_key_create(name=form.cleaned_data["name"], actor=Actor.from_request(request))
        except DomainError as exc:
            add_domain_error_to_form(form, exc)
        else:
            form = ApiKeyForm()
    return render(request, "core/api_keys.html",
                  {"form": form, "created": created, "keys": selectors.api_key_list()},
                  status=400 if form.errors else 200)


@require_POST
@capability_required(Cap.APIKEYS_MANAGE)
def api_key_revoke(request, pk: int):
    try:
        key = services.api_key_revoke(api_key_id=pk, actor=Actor.from_request(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Revoked {key}. Requests with it now get 401.")
    return redirect("api-keys")


class UserRolesForm(forms.Form):
    roles = forms.MultipleChoiceField(choices=[(r.value, r.value) for r in Role],
                                      widget=forms.CheckboxSelectMultiple, required=False)


@capability_required(Cap.USERS_MANAGE)
def user_list(request):
    if request.method == "POST":
        from .models import User

        user = User.objects.filter(pk=int_param(request.POST, "user_id")).first()
        form = UserRolesForm(request.POST)
        if user is not None and form.is_valid():
            services.user_roles_set(user=user, roles=[Role(r) for r in form.cleaned_data["roles"]],
                                    actor=Actor.from_request(request))
            messages.success(request, f"Roles of {user.username} saved.")
        return redirect("users")
    users = [{"user": u, "roles": {g.name for g in u.groups.all()}} for u in selectors.user_list()]
    return render(request, "core/users.html", {"users": users, "roles": [r.value for r in Role]})


@capability_required(Cap.APIKEYS_MANAGE, Cap.USERS_MANAGE)
def panel_admin(request):
    return render(request, "core/_panel_admin.html", selectors.admin_summary())
