from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from apps.core.errors import ValidationFailed
from apps.core.money import margin_percent, normalize, percent_change, round_money, to_decimal
from apps.core.roles import ROLE_CAPABILITIES, Cap, Role


def test_role_groups_created_by_migration(db):
    names = set(Group.objects.values_list("name", flat=True))
    assert {r.value for r in Role} <= names
    for role, caps in ROLE_CAPABILITIES.items():
        perms = set(Group.objects.get(name=role.value).permissions.values_list("codename", flat=True))
        assert perms == {c.value for c in caps}


def test_four_eyes_roles_are_separated():
    assert Cap.RATES_APPROVE not in ROLE_CAPABILITIES[Role.MONETIZATION_OWNER]
    assert Cap.CATALOG_EDIT not in ROLE_CAPABILITIES[Role.FINANCE_APPROVER]


@pytest.mark.parametrize("raw", [1.5, "nan", "inf", "abc", "", None, True])
def test_to_decimal_refuses_floats_and_garbage(raw):
    with pytest.raises(ValidationFailed):
        to_decimal(raw)


def test_decimal_helpers():
    assert to_decimal("0.00000015") == Decimal("0.00000015")
    assert round_money(Decimal("2.345")) == Decimal("2.35")
    assert str(normalize(Decimal("1.500"))) == "1.5"
    assert str(normalize(Decimal("100.000"))) == "100"
    assert percent_change(Decimal("2"), Decimal("3")) == Decimal("50")
    assert percent_change(Decimal("0"), Decimal("3")) is None
    assert margin_percent(Decimal("4"), Decimal("1")) == Decimal("75")


def test_login_required_and_login_page(clients):
    response = clients["anonymous"].get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert clients["anonymous"].get("/login/").status_code == 200


def test_home_for_each_role(clients):
    for name in ["owner", "finance", "am", "support", "admin"]:
        response = clients[name].get("/")
        assert response.status_code == 200


def test_styled_404(clients):
    response = clients["owner"].get("/no-such-page/")
    assert response.status_code == 404
    assert b"Not found" in response.content


@pytest.mark.parametrize(
    "name,status", [("admin", 200), ("owner", 403), ("finance", 403), ("am", 403), ("support", 403)]
)
def test_api_keys_page_only_for_admin(clients, name, status):
    assert clients[name].get("/admin/api-keys/").status_code == status
    assert clients[name].get("/admin/users/").status_code == status


def test_api_key_create_shows_once_and_revoke(clients):
    from apps.core.models import ApiKey

    response = clients["admin"].post("/admin/api-keys/", {"name": "ingest", "scopes": ["ingest"]})
    assert response.status_code == 302  # redirect after POST: a reload cannot create a second key
    shown = clients["admin"].get("/admin/api-keys/")
    key = ApiKey.objects.get()
    raw = shown.context["created"]["raw_key"]
    assert raw.startswith(key.prefix) and key.key_hash != raw and raw not in key.key_hash
    assert clients["admin"].get("/admin/api-keys/").content.count(raw.encode()) == 0
    clients["admin"].post(f"/admin/api-keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_api_key_blank_name_is_a_form_error(clients):
    response = clients["admin"].post("/admin/api-keys/", {"name": ""})
    assert response.status_code == 400
    assert b"This field is required" in response.content


def test_create_api_key_command_prints_key_last(db, capsys):
    from django.core.management import call_command

    from apps.core.models import ApiKey

    call_command("create_api_key", "cli key")
    out = capsys.readouterr().out.strip().splitlines()
    key = ApiKey.objects.get(name="cli key")
    assert out[-1].startswith(key.prefix) and key.matches(out[-1])


@pytest.mark.parametrize(
    "name,status", [("admin", 200), ("owner", 403), ("finance", 403), ("am", 403), ("support", 403)]
)
def test_admin_panel(clients, name, status):
    response = clients[name].get("/panels/admin/")
    assert response.status_code == status
    if status == 200:
        assert "Monetization owner" in response.content.decode()
