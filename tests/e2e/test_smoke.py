from tests.conftest import PASSWORD


def test_each_role_logs_in_and_sees_its_navigation(new_page, users):
    page = new_page("admin", PASSWORD)
    assert page.locator("header.topbar").is_visible()
    assert page.locator("nav >> text=API keys").is_visible()
    page = new_page("support", PASSWORD)
    assert page.locator("nav >> text=API keys").count() == 0
