"""Issue 13, item 15: static files are served by WhiteNoise, compressed; plotly loads only on pages with charts."""

import pytest
from django.core.management import call_command
from django.test import RequestFactory, override_settings
from whitenoise.middleware import WhiteNoiseMiddleware

PLOTLY = "/static/vendor/plotly-4.1.2.min.js"


def test_whitenoise_is_in_front_of_runserver_and_every_request():
    from django.conf import settings

    apps = settings.INSTALLED_APPS
    assert apps.index("whitenoise.runserver_nostatic") < apps.index("django.contrib.staticfiles")
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE


def test_plotly_is_served_compressed_after_collectstatic(tmp_path):
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }
    with override_settings(
        STATIC_ROOT=tmp_path, STORAGES=storages, WHITENOISE_AUTOREFRESH=False, WHITENOISE_USE_FINDERS=False
    ):
        call_command("collectstatic", "--noinput", verbosity=0)
        assert (tmp_path / "vendor" / "plotly-4.1.2.min.js.gz").exists()
        middleware = WhiteNoiseMiddleware(lambda request: pytest.fail("not served by WhiteNoise"))
        response = middleware(RequestFactory().get(PLOTLY, HTTP_ACCEPT_ENCODING="gzip, deflate"))
    assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
    size = int(response["Content-Length"])
    assert size < (tmp_path / "vendor" / "plotly-4.1.2.min.js").stat().st_size / 2


@pytest.mark.django_db
def test_plotly_only_on_pages_with_charts(clients):
    page = clients["owner"].get("/catalog/rate-tables/").content.decode()
    assert "charts.js" not in page and "plotly" not in page
    assert "charts.js" in clients["owner"].get("/dashboards/").content.decode()
