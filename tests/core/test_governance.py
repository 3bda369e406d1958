"""Issue 9 items 3 and 5 (and issue 13 item 12): governed role changes, API-key scopes, keys shown once."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.core import services
from apps.core.actors import SYSTEM, Actor
from apps.core.demo import DEMO_USERS
from apps.core.errors import Forbidden, FourEyesViolation, ValidationFailed
from apps.core.models import ApiKey, RoleChange
from apps.core.roles import Role

pytestmark = pytest.mark.django_db


def roles_of(user):
    return set(user.groups.values_list("name", flat=True))


# ---- item 3: role changes ------------------------------------------------------------------------------------


def test_no_one_changes_their_own_roles(users):
    admin = users["admin"]
    with pytest.raises(FourEyesViolation):
        services.user_roles_set(
            user=admin,
            roles=[Role.ADMIN, Role.FINANCE_APPROVER],
            actor=Actor(user=admin),
            reason="I need to approve credits",
        )
    assert roles_of(admin) == {Role.ADMIN.value}
    assert not RoleChange.objects.filter(user=admin).exists()


def test_admin_cannot_give_itself_finance_through_the_users_page(users, clients):
    admin = users["admin"]
    response = clients["admin"].post(
        "/admin/users/",
        {"user_id": admin.pk, "roles": [Role.ADMIN.value, Role.FINANCE_APPROVER.value], "reason": "self-service"},
    )
    assert response.status_code == 400
    assert "No one changes their own roles" in response.content.decode()
    assert roles_of(admin) == {Role.ADMIN.value}


def test_every_role_change_is_recorded_and_shown(users, clients):
    am = users["am"]
    response = clients["admin"].post(
        "/admin/users/",
        {
            "user_id": am.pk,
            "roles": [Role.ACCOUNT_MANAGER.value, Role.SUPPORT_AGENT.value],
            "reason": "covers support during holidays",
        },
    )
    assert response.status_code == 302
    change = RoleChange.objects.get(user=am)
    assert change.actor == users["admin"]
    assert change.before == [Role.ACCOUNT_MANAGER.value]
    assert change.after == [Role.ACCOUNT_MANAGER.value, Role.SUPPORT_AGENT.value]
    assert change.reason == "covers support during holidays" and change.created_at is not None
    for url in ("/admin/users/", f"/admin/users/{am.pk}/history/"):
        html = clients["admin"].get(url).content.decode()
        assert "covers support during holidays" in html and Role.SUPPORT_AGENT.value in html


def test_role_change_needs_a_reason_and_the_capability(users, clients):
    am = users["am"]
    response = clients["admin"].post("/admin/users/", {"user_id": am.pk, "roles": [Role.SUPPORT_AGENT.value]})
    assert response.status_code == 400 and roles_of(am) == {Role.ACCOUNT_MANAGER.value}
    with pytest.raises(ValidationFailed):
        services.user_roles_set(user=am, roles=[], actor=Actor(user=users["admin"]), reason="  ")
    with pytest.raises(Forbidden):
        services.user_roles_set(user=am, roles=[], actor=Actor(user=users["owner"]), reason="why not")
    assert not RoleChange.objects.filter(user=am).exists()


@pytest.mark.parametrize("user_id", ["abc", "", "999999"])
def test_bad_user_id_is_a_form_error(clients, user_id):
    response = clients["admin"].post("/admin/users/", {"user_id": user_id, "reason": "x"})
    assert response.status_code == 400


def test_own_row_is_not_editable_on_the_users_page(users, clients):
    html = clients["admin"].get("/admin/users/").content.decode()
    assert f'id="roles-{users["admin"].pk}"' not in html and f'id="roles-{users["am"].pk}"' in html
    assert "another admin must change them" in html


def test_demo_has_a_user_holding_two_roles_for_trying_four_eyes():
    from apps.core.demo import seed

    both = [u for u, *_rest, roles in DEMO_USERS if {Role.MONETIZATION_OWNER, Role.FINANCE_APPROVER} <= set(roles)]
    assert both == ["ownerfin"]
    seed(stdout=io.StringIO())
    from apps.core.models import User

    user = User.objects.get(username="ownerfin")
    assert roles_of(user) == {Role.MONETIZATION_OWNER.value, Role.FINANCE_APPROVER.value}
    assert RoleChange.objects.filter(user=user, actor=None).exists()
    seed(stdout=io.StringIO())  # idempotent: no second record when nothing changed
    assert RoleChange.objects.filter(user=user).count() == 1


def test_django_admin_cannot_edit_groups():
    from django.contrib import admin

    from apps.core.models import User

    assert "groups" in admin.site._registry[User].readonly_fields


# ---- item 5: API-key scopes -----------------------------------------------------------------------------------


def test_default_scopes_are_ingest_and_read():
    key = services.api_key_create(name="product", actor=SYSTEM).api_key
    assert key.scopes == ["ingest", "read"]


def test_create_api_key_command_takes_scopes():
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "helpdesk", "--scopes", "read,credits", stdout=out, stderr=err)
    raw = out.getvalue().strip().splitlines()[-1]
    key = ApiKey.objects.get(prefix="_".join(raw.split("_")[:2]))
    assert key.scopes == ["credits", "read"] and "credits, read" in err.getvalue()
    call_command("create_api_key", "plain", stdout=io.StringIO(), stderr=io.StringIO())
    assert ApiKey.objects.get(name="plain").scopes == ["ingest", "read"]
    with pytest.raises(CommandError, match="Unknown scope"):
        call_command("create_api_key", "bad", "--scopes", "read,admin", stdout=io.StringIO(), stderr=io.StringIO())


def _bearer(scopes):
    raw = services.api_key_create(name="k", actor=SYSTEM, scopes=frozenset(scopes)).raw_key
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_endpoint_outside_a_keys_scopes_is_403_json():
    from tests.contracts import factories as f

    f.customer("acme", "Acme")
    body = {"amount": "10", "kind": "support", "reason": "outage", "idempotency_key": "k-1"}
    default = _bearer({"ingest", "read"})
    response = default.post("/api/v1/customers/acme/credits", body, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "scope_required" and "'credits' scope" in response.json()["message"]
    ingest_only = _bearer({"ingest"})
    for url in ("/api/v1/customers", "/api/v1/customers/acme/balance", "/api/v1/meters", "/api/v1/rate-tables"):
        refused = ingest_only.get(url)
        assert refused.status_code == 403 and set(refused.json()) >= {"message", "code"}
    read_only = _bearer({"read"})
    refused = read_only.post("/api/v1/events", {"events": []}, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == "scope_required"
    assert read_only.get("/api/v1/customers/acme/balance").status_code == 200
    credits = _bearer({"credits"})
    assert credits.post("/api/v1/customers/acme/credits", body, content_type="application/json").status_code == 201


def test_key_scopes_are_chosen_in_the_ui_and_listed(clients):
    response = clients["admin"].post("/admin/api-keys/", {"name": "helpdesk", "scopes": ["read", "credits"]})
    assert response.status_code == 302
    assert ApiKey.objects.get(name="helpdesk").scopes == ["credits", "read"]
    html = clients["admin"].get("/admin/api-keys/").content.decode()
    assert "credits, read" in html and 'name="scopes"' in html
    none = clients["admin"].post("/admin/api-keys/", {"name": "nothing"})
    assert none.status_code == 400 and not ApiKey.objects.filter(name="nothing").exists()


# ---- issue 13 item 12: keys shown once, revoke names the key --------------------------------------------------


def test_reload_after_creating_a_key_creates_no_second_key_and_shows_it_once(clients):
    response = clients["admin"].post("/admin/api-keys/", {"name": "ingest", "scopes": ["ingest"]}, follow=True)
    assert response.redirect_chain and ApiKey.objects.count() == 1
    raw = response.context["created"]["raw_key"]
    assert raw.encode() in response.content
    again = clients["admin"].get("/admin/api-keys/")  # a reload is a GET now
    assert raw.encode() not in again.content and ApiKey.objects.count() == 1


def test_revoke_confirmation_identifies_the_key(clients):
    first = services.api_key_create(name="prod", actor=SYSTEM).api_key
    second = services.api_key_create(name="prod", actor=SYSTEM).api_key
    html = clients["admin"].get(f"/admin/api-keys/{second.pk}/revoke/").content.decode()
    assert second.prefix in html and first.prefix not in html
    assert second.created_at.strftime("%Y-%m-%d %H:%M") in html
    assert clients["admin"].post(f"/admin/api-keys/{second.pk}/revoke/").status_code == 302
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.revoked_at is not None and first.revoked_at is None


def test_openapi_schema_names_each_endpoints_scope(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    scopes = {
        (path, method): op.get("x-api-key-scope") for path, ops in schema["paths"].items() for method, op in ops.items()
    }
    assert scopes[("/api/v1/events", "post")] == "ingest"
    assert scopes[("/api/v1/customers/{external_id}/credits", "post")] == "credits"
    assert scopes[("/api/v1/customers/{external_id}/usage", "get")] == "read"
    assert all(scopes.values()), [k for k, v in scopes.items() if not v]
