"""Annotator links, built from the configured site address (settings.EVALSITE_SITE_URL),
never from a request's Host header: a forged Host must not end up in a link a researcher
copies into a crowd platform. A deployment always has the setting (evalsite/settings.py);
only the embedded demo, which answers to any host name, falls back to the request's."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

DEMO_SITE_URL = "http://127.0.0.1:8000"


def site_url(request: HttpRequest | None = None) -> str:
    if settings.EVALSITE_SITE_URL:
        return settings.EVALSITE_SITE_URL
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return DEMO_SITE_URL


def study_link(study_name: str, request: HttpRequest | None = None) -> str:
    return site_url(request) + reverse("annotation:entry", args=[study_name])
