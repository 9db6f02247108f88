"""Rate limits on a study's public link (django-ratelimit over the default cache).

Opening the link is limited per client address and per crowd identity; registering (the
consent that creates a participant) per client address. Rates are settings
(``EVALSITE_*_RATE_*``: "N/s", "N/m", "N/h", or "off"). Each process counts in the default
cache, so a deployment with several workers shares the counts through a shared cache
(EVALSITE_CACHE_URL=redis://…); with the in-memory default each worker counts alone.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the first address of the header a trusted
    proxy sets (settings.EVALSITE_CLIENT_IP_HEADER, e.g. X-Forwarded-For)."""
    header = settings.EVALSITE_CLIENT_IP_HEADER
    if header:
        forwarded = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        first = forwarded.split(",")[0].strip()
        if first:
            return first
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _rate(name: str) -> str | None:
    rate = str(getattr(settings, name, "") or "").strip().lower()
    return None if rate in ("", "off", "0", "none") else rate


def limited(request: HttpRequest, study_name: str, setting: str, identity: str = "") -> bool:
    """Count this request against the limit `setting` names; True when it is over.

    Per client address unless `identity` is given (then per study and identity).
    """
    rate = _rate(setting)
    if rate is None:
        return False
    value = f"{study_name}:{identity}" if identity else client_ip(request)
    return is_ratelimited(
        request,
        group=f"evalsite.{setting.lower()}",
        key=lambda group, request: value,
        rate=rate,
        increment=True,
    )
