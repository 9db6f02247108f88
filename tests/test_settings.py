"""Settings fail closed: a deployment must name its secret key and hosts, and passes
`manage.py check --deploy`; the embedded demo (EVALSITE_DEMO=1, which the test session uses)
keeps its development key and plain HTTP. Celery's limits are derived from one setting.

The settings module is executed afresh (runpy) under a chosen environment, or in a
`manage.py` subprocess where start-up itself is what is tested.
"""

from __future__ import annotations

import os
import re
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "evalsite" / "settings.py"

# Warnings `check --deploy` may give with production settings, each with the reason it stays.
ACCEPTED_DEPLOY_WARNINGS = {
    # HSTS preloading is a commitment browsers keep for months, for the domain and all its
    # subdomains: its owner opts in with DJANGO_SECURE_HSTS_PRELOAD=1, it is not a default.
    "security.W021",
}


def _clean_environ() -> dict[str, str]:
    """This process's environment without the settings' own variables (a deployment's shell)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "EVALSITE_", "CELERY_", "CHANNEL_", "PYTEST_"))
        and k != "DATABASE_URL"
    }


def _production_env(tmp_path: Path, **extra: str | None) -> dict[str, str]:
    env: dict[str, str | None] = {**_clean_environ()}
    env.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="eval.example.org",
        EVALSITE_PSEUDONYM_SECRET=secrets.token_hex(32),
        DATABASE_URL=f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        EVALSITE_VAR_DIR=str(tmp_path / "var"),
    )
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def _settings_under(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **variables: str | None
) -> dict:
    """The settings module's names, executed with exactly these variables of its own set."""
    for name in list(os.environ):
        if (
            name.startswith(("DJANGO_", "EVALSITE_", "CELERY_", "CHANNEL_"))
            or name == "DATABASE_URL"
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EVALSITE_VAR_DIR", str(tmp_path / "var"))
    for name, value in variables.items():
        if value is not None:
            monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- a deployment fails closed ----------------------------------------------------------------


def test_a_deployment_without_a_secret_key_is_refused(monkeypatch, tmp_path):
    with pytest.raises(
        ImproperlyConfigured, match=r"^DJANGO_SECRET_KEY is not set\..*EVALSITE_DEMO=1"
    ):
        _settings_under(monkeypatch, tmp_path, DJANGO_ALLOWED_HOSTS="eval.example.org")


def test_a_deployment_without_allowed_hosts_is_refused(monkeypatch, tmp_path):
    with pytest.raises(ImproperlyConfigured, match=r"^DJANGO_ALLOWED_HOSTS is not set\."):
        _settings_under(monkeypatch, tmp_path, DJANGO_SECRET_KEY="k" * 50)


@pytest.mark.parametrize("empty", ["", "  ", ","])
def test_an_empty_value_is_a_missing_value(monkeypatch, tmp_path, empty):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_ALLOWED_HOSTS is not set"):
        _settings_under(
            monkeypatch, tmp_path, DJANGO_SECRET_KEY="k" * 50, DJANGO_ALLOWED_HOSTS=empty
        )
    if empty.strip():
        return  # "," is a (bad) key; only blank keys are missing
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY is not set"):
        _settings_under(
            monkeypatch, tmp_path, DJANGO_SECRET_KEY=empty, DJANGO_ALLOWED_HOSTS="eval.example.org"
        )


def test_manage_py_stops_at_start_up_and_names_the_variable(tmp_path):
    done = _manage(_production_env(tmp_path, DJANGO_SECRET_KEY=None), "check")
    assert done.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in done.stderr


def test_a_deployment_is_served_securely_by_default(monkeypatch, tmp_path):
    names = _settings_under(
        monkeypatch,
        tmp_path,
        DJANGO_SECRET_KEY="k" * 50,
        DJANGO_ALLOWED_HOSTS="eval.example.org, www.eval.example.org",
        EVALSITE_PSEUDONYM_SECRET="p" * 64,
    )
    assert names["DEPLOYMENT"] is True and names["DEBUG"] is False
    assert names["ALLOWED_HOSTS"] == ["eval.example.org", "www.eval.example.org"]
    assert names["SECRET_KEY"] == "k" * 50 != names["DEVELOPMENT_SECRET_KEY"]
    assert (
        names["SECURE_SSL_REDIRECT"]
        and names["SESSION_COOKIE_SECURE"]
        and names["CSRF_COOKIE_SECURE"]
    )
    assert (
        names["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600 and names["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    )
    assert "SECURE_PROXY_SSL_HEADER" not in names  # trusted only when the deployment says so
    assert len(names["AUTH_PASSWORD_VALIDATORS"]) == 4
    # the participant cookie too; links from the configured site, not from a Host header
    assert names["PARTICIPANT_COOKIE_SECURE"] is True
    assert names["EVALSITE_SITE_URL"] == "https://eval.example.org"
    assert names["EXPORT_PSEUDONYM_SALT"] == "p" * 64


def test_a_deployment_needs_its_own_pseudonym_secret(monkeypatch, tmp_path):
    """With the key shipped in the code, a pseudonym could be recomputed from a Prolific id."""
    with pytest.raises(ImproperlyConfigured, match=r"^EVALSITE_PSEUDONYM_SECRET is not set\."):
        _settings_under(monkeypatch, tmp_path, DJANGO_SECRET_KEY="k" * 50, DJANGO_ALLOWED_HOSTS="h")


def test_a_wildcard_host_needs_an_explicit_site_url(monkeypatch, tmp_path):
    variables = dict(
        DJANGO_SECRET_KEY="k" * 50, DJANGO_ALLOWED_HOSTS="*", EVALSITE_PSEUDONYM_SECRET="p" * 64
    )
    with pytest.raises(ImproperlyConfigured, match=r"^EVALSITE_SITE_URL is not set\."):
        _settings_under(monkeypatch, tmp_path, **variables)
    names = _settings_under(
        monkeypatch, tmp_path, **variables, EVALSITE_SITE_URL="https://eval.example.org/"
    )
    assert names["EVALSITE_SITE_URL"] == "https://eval.example.org"


def test_the_tls_proxy_header_is_named_as_the_proxy_sends_it(monkeypatch, tmp_path):
    names = _settings_under(
        monkeypatch,
        tmp_path,
        DJANGO_SECRET_KEY="k" * 50,
        DJANGO_ALLOWED_HOSTS="h",
        EVALSITE_PSEUDONYM_SECRET="p" * 64,
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
    )
    assert names["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    done = _manage(_production_env(tmp_path), "check", "--deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    warnings = set(re.findall(r"\((\w+\.[WE]\d+)\)", done.stdout + done.stderr))
    assert warnings <= ACCEPTED_DEPLOY_WARNINGS, done.stdout + done.stderr


# --- the demo and development ---------------------------------------------------------------


@pytest.mark.parametrize("flag", ["EVALSITE_DEMO", "DJANGO_DEBUG"])
def test_the_demo_and_debug_run_with_the_development_key_on_plain_http(monkeypatch, tmp_path, flag):
    names = _settings_under(monkeypatch, tmp_path, **{flag: "1"})
    assert names["DEPLOYMENT"] is False
    assert names["SECRET_KEY"] == names["DEVELOPMENT_SECRET_KEY"] == names["EXPORT_PSEUDONYM_SALT"]
    assert names["ALLOWED_HOSTS"] == ["*"]
    assert not (
        names["SECURE_SSL_REDIRECT"]
        or names["SESSION_COOKIE_SECURE"]
        or names["SECURE_HSTS_SECONDS"]
    )


def test_the_test_session_runs_as_the_embedded_demo():
    from django.conf import settings

    assert os.environ.get("EVALSITE_DEMO") == "1"  # and the processes the tests start inherit it
    assert settings.DEMO and not settings.DEPLOYMENT


def test_the_demo_passwords_pass_the_validators(tmp_path, db, settings):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.core.management import call_command

    with pytest.raises(ValidationError):
        validate_password("password")  # the validators are on
    settings.VAR_DIR = tmp_path
    call_command("setup_demo", stdout=open(os.devnull, "w"))
    password = (tmp_path / "researcher-password.txt").read_text().strip()
    validate_password(password, get_user_model().objects.get(username="researcher"))


# --- Celery ---------------------------------------------------------------------------------


def test_the_visibility_timeout_outlasts_the_longest_task(monkeypatch, tmp_path):
    for limit in (None, "600", str(12 * 3600)):
        names = _settings_under(
            monkeypatch, tmp_path, EVALSITE_DEMO="1", EVALSITE_TASK_TIME_LIMIT=limit
        )
        hard, soft = names["CELERY_TASK_TIME_LIMIT"], names["CELERY_TASK_SOFT_TIME_LIMIT"]
        assert 0 < soft < hard
        if limit is not None:
            assert hard == int(limit)
        assert names["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] > hard
        assert names["CELERY_TASK_ACKS_LATE"]


def test_results_are_stored_only_for_the_task_whose_result_is_read():
    from evalsite.celery import app

    app.loader.import_default_modules()
    assert app.conf.task_ignore_result is True
    chunk = app.tasks["generation.tasks.generate_chunk"]
    assert chunk.ignore_result is False
