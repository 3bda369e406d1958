"""Production settings are the default for serving processes, and with the documented production environment
`manage.py check --deploy --fail-level WARNING` passes (HSTS, SSL redirect, secure cookies, a real email backend,
a Content-Security-Policy)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The production environment documented in README ("Production settings").
PRODUCTION_ENV = {
    "SECRET_KEY": "k" * 10 + "Zq8#vL2@pX9!mR4$tY7&wB1*eN6^hJ3%cF5(gD0)sA",
    "DATABASE_URL": "postgres://ratedesk@db.internal:5432/ratedesk",
    "ALLOWED_HOSTS": "ratedesk.example.com",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "EMAIL_HOST": "smtp.example.com",
}


def _run(args, env_overrides=None, drop=()):
    # Only what a production host has: not the test run's own switches (e.g. DJANGO_ALLOW_ASYNC_UNSAFE, which the
    # browser tests set and `check --deploy` rightly refuses).
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", *PRODUCTION_ENV)
    }
    env.update(env_overrides or {})
    for key in drop:
        env.pop(key, None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_passes_with_the_documented_production_environment():
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        {**PRODUCTION_ENV, "DJANGO_SETTINGS_MODULE": "config.settings.prod"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi", "config.celery"])
def test_serving_processes_default_to_production_settings(module):
    code = f"import {module}; from django.conf import settings; print(settings.SETTINGS_MODULE, settings.DEBUG)"
    result = _run(["-c", code], PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["config.settings.prod", "False"]


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_BACKEND"])
def test_production_refuses_to_start_without_its_environment(missing):
    result = _run(["-c", "import config.wsgi"], PRODUCTION_ENV, drop=[missing])
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr


def test_production_refuses_an_email_backend_that_does_not_deliver():
    result = _run(
        ["-c", "import config.wsgi"],
        {**PRODUCTION_ENV, "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"},
    )
    assert result.returncode != 0 and "does not deliver mail" in result.stderr


def test_tls_at_a_proxy_is_a_documented_switch():
    code = "import config.wsgi; from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"
    assert _run(["-c", code], PRODUCTION_ENV).stdout.strip() == "None"
    behind = _run(["-c", code], {**PRODUCTION_ENV, "TLS_TERMINATED_BY_PROXY": "true"})
    assert behind.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_make_run_uses_the_development_settings_explicitly():
    makefile = (ROOT / "Makefile").read_text()
    run_target = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert run_target.count("$(DEV)") == 2 and "DEV := DJANGO_SETTINGS_MODULE=config.settings.dev" in makefile


def test_pages_carry_the_content_security_policy(client):
    policy = client.get("/login/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'" and directives["style-src-elem"].startswith("'self'")
    assert "unsafe-inline" not in directives["style-src-elem"]
    assert "unsafe-inline" not in directives["script-src"] and "unsafe-eval" not in policy
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
