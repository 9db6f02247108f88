"""Who a request to the API is: a personal token (``Authorization: Bearer <token>``) or,
from a browser, the console's session (CSRF then applies). Either way the request then
*is* that researcher: ``request.user`` is set, and every study is asked about through
console.access, as the pages ask."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer, django_auth

from console.access import is_researcher

from .models import user_of_token


class PersonalToken(HttpBearer):
    """A token made on the console's tokens page (api.models.ApiToken)."""

    openapi_description = "A personal API token from the console (Account → API tokens)."

    def authenticate(self, request: HttpRequest, token: str):
        user = user_of_token(token)
        if not is_researcher(user):
            return None
        request.user = user
        return user


# Tried in order: a token when one is sent, else the browser's session.
API_AUTH = [PersonalToken(), django_auth]
