"""The researcher's API tokens page: make a token (shown once), see when each was last
used, revoke one. A page of the console (its look, its login), kept in the api package
because the console, a lower layer, may not import the API's models."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from .models import ApiToken, create_token, revoke_token

NAME_CHARS = ApiToken._meta.get_field("name").max_length
# The new token waits in the session for the one page that shows it.
NEW_TOKEN_KEY = "api_new_token"


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    problem = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if not name:
            problem = "name: say what the token is for (e.g. the script or machine using it)"
        elif len(name) > NAME_CHARS:
            problem = f"name: at most {NAME_CHARS} characters"
        else:
            row, token = create_token(request.user, name)
            request.session[NEW_TOKEN_KEY] = {"name": row.name, "token": token}
            return redirect(reverse("api-tokens"))
    new = request.session.pop(NEW_TOKEN_KEY, None)
    return render(
        request,
        "api/tokens.html",
        {
            "tokens": ApiToken.objects.filter(user=request.user),
            "new": new,
            "problem": problem,
            "name_chars": NAME_CHARS,
        },
        status=400 if problem else 200,
    )


@login_required
@require_POST
def revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    if revoke_token(request.user, token_id):
        messages.success(request, "Revoked: the token no longer works.")
    else:
        messages.error(request, "No such token of yours, or it was revoked already.")
    return redirect(reverse("api-tokens"))
