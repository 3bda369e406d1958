from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

from . import nav, selectors, services
from .actors import Actor
from .errors import DomainError, add_domain_error_to_form
from .htmx import render_form
from .middleware import error_response, is_api
from .permissions import capability_required, user_can
from .roles import API_KEY_DEFAULT_SCOPES, SCOPE_LABELS, Cap, Role, Scope


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
    return error_response(request, message=f"Nothing at {request.path}; see /api/docs/.", code="not_found", status=404)


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"placeholder": "e.g. production ingest"}))
    scopes = forms.MultipleChoiceField(
        choices=[(s.value, SCOPE_LABELS[s]) for s in Scope],
        widget=forms.CheckboxSelectMultiple,
        initial=sorted(s.value for s in API_KEY_DEFAULT_SCOPES),
        error_messages={"required": "Choose at least one scope."},
    )


NEW_KEY_SESSION = "api_key_created"


@capability_required(Cap.APIKEYS_MANAGE)
def api_key_list(request):
    """Create keys (POST, then redirect: a reload never creates a second key) and list them. The new key is
    carried once through the session and shown on the next page load only."""
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.api_key_create(
                name=form.cleaned_data["name"],
                actor=Actor.from_request(request),
                scopes=frozenset(Scope(s) for s in form.cleaned_data["scopes"]),
            )
        except DomainError as exc:
            add_domain_error_to_form(form, exc)
        else:
            request.session[NEW_KEY_SESSION] = {"id": created.api_key.pk, "raw": created.raw_key}
            return redirect("api-keys")
    created = None
    shown = request.session.pop(NEW_KEY_SESSION, None) if request.method == "GET" else None
    if shown:
        key = selectors.api_key_get(api_key_id=shown["id"])
        created = {"api_key": key, "raw_key": shown["raw"]} if key is not None else None
    response = render_form(
        request,
        "core/api_keys.html",
        {"form": form, "created": created, "keys": selectors.api_key_list()},
        forms=[form],
    )
    if created:
        response["Cache-Control"] = "no-store"  # the key must not come back from a cache either
    return response


@capability_required(Cap.APIKEYS_MANAGE)
def api_key_revoke(request, pk: int):
    """GET: a confirmation that identifies the key (name, prefix, created, last used). POST: revoke it."""
    if request.method != "POST":
        key = selectors.api_key_get(api_key_id=pk)
        if key is None:
            raise Http404("No such API key.")
        return render(request, "core/api_key_revoke.html", {"key": key})
    try:
        key = services.api_key_revoke(api_key_id=pk, actor=Actor.from_request(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Revoked {key.name} ({key.prefix}…, created {key.created_at:%Y-%m-%d %H:%M} UTC). "
            "Requests with it now get 401.",
        )
    return redirect("api-keys")


class UserRolesForm(forms.Form):
    user_id = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    roles = forms.MultipleChoiceField(
        choices=[(r.value, r.value) for r in Role], widget=forms.CheckboxSelectMultiple, required=False
    )
    reason = forms.CharField(
        max_length=500,
        required=True,
        error_messages={"required": "Give a reason."},
        widget=forms.TextInput(attrs={"placeholder": "Why? (kept in the history)"}),
    )


@capability_required(Cap.USERS_MANAGE)
def user_list(request):
    form = None
    if request.method == "POST":
        form = UserRolesForm(request.POST)
        user = selectors.user_get(user_id=form.cleaned_data["user_id"]) if form.is_valid() else None
        if form.is_valid() and user is None:
            form.add_error(None, "No such user.")
        if user is not None:
            try:
                change = services.user_roles_set(
                    user=user,
                    roles=[Role(r) for r in form.cleaned_data["roles"]],
                    actor=Actor.from_request(request),
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                add_domain_error_to_form(form, exc)
            else:
                messages.success(
                    request,
                    f"Roles of {user.username} saved."
                    if change
                    else f"Roles of {user.username} were already those; nothing changed.",
                )
                return redirect("users")
    users = [
        {"user": u, "roles": {g.name for g in u.groups.all()}, "is_self": u.pk == request.user.pk}
        for u in selectors.user_list()
    ]
    return render_form(
        request,
        "core/users.html",
        {"users": users, "roles": [r.value for r in Role], "form": form, "changes": selectors.role_changes(limit=20)},
        forms=[form] if form is not None else [],
    )


@capability_required(Cap.USERS_MANAGE)
def user_history(request, pk: int):
    user = selectors.user_get(user_id=pk)
    if user is None:
        raise Http404("No such user.")
    return render(
        request,
        "core/user_history.html",
        {"subject": user, "roles": selectors.user_role_names(user), "changes": selectors.role_changes(user_id=user.pk)},
    )


@capability_required(Cap.APIKEYS_MANAGE, Cap.USERS_MANAGE)
def panel_admin(request):
    return render(request, "core/_panel_admin.html", selectors.admin_summary())
