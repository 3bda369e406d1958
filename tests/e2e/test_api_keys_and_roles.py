"""Issue 13 item 12 and issue 9 item 3 in the browser: a reload after creating an API key creates no second
key and no longer shows it; the revoke confirmation names the key (prefix, created); role changes need a reason
and are listed; an admin's own roles cannot be edited."""

from apps.core.models import ApiKey, RoleChange
from apps.core.roles import Role
from tests.conftest import PASSWORD


def test_create_key_reload_and_revoke(new_page, users):
    page = new_page("admin", PASSWORD)
    page.goto("/admin/api-keys/")
    page.fill("#id_name", "billing sync")
    page.check("input[name=scopes][value=credits]")
    page.click("button:has-text('Create key')")
    page.wait_for_url("**/admin/api-keys/")
    raw = page.locator("#new-api-key").inner_text().strip()
    key = ApiKey.objects.get(name="billing sync")
    assert raw.startswith(key.prefix) and key.scopes == ["credits", "ingest", "read"]

    page.reload()
    assert ApiKey.objects.filter(name="billing sync").count() == 1
    assert page.locator("#new-api-key").count() == 0 and raw not in page.content()
    assert page.locator("td", has_text="credits, ingest, read").count() == 1

    page.click(f"a[aria-label='Revoke billing sync ({key.prefix}…)']")
    confirm = page.locator("#revoke-key")
    assert key.prefix in confirm.inner_text()
    assert key.created_at.strftime("%Y-%m-%d %H:%M") in confirm.inner_text()
    page.click(f"button:has-text('Revoke {key.prefix}')")
    page.wait_for_url("**/admin/api-keys/")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key.prefix in page.locator("ul.messages").inner_text()


def test_role_change_with_reason_is_listed_and_own_row_is_locked(new_page, users):
    page = new_page("admin", PASSWORD)
    page.goto("/admin/users/")
    admin_row = page.locator("#user-roles tr", has=page.locator("code", has_text="admin"))
    assert admin_row.locator("input[type=checkbox]").first.is_disabled()
    am = users["am"]
    page.check(f"input[form=roles-{am.pk}][value='{Role.SUPPORT_AGENT.value}']")
    page.fill(f"input[form=roles-{am.pk}][name=reason]", "covers support this week")
    page.click(f"#roles-{am.pk} button")
    page.wait_for_url("**/admin/users/")
    assert page.locator("#role-changes", has_text="covers support this week").count() == 1
    assert RoleChange.objects.get(user=am).after == [Role.ACCOUNT_MANAGER.value, Role.SUPPORT_AGENT.value]
