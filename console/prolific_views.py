"""The study's Prolific page in the console: store the token, create the draft, sync now.

Viewers see what is linked and what the last sync did; editors act. The token is shown
only by its last characters and never echoed in a message."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .access import can, study_for
from .platforms import prolific_sync
from .platforms.models import ProlificLink
from .platforms.prolific import ProlificError
from .platforms.prolific_core import DraftProblem
from .platforms.token_store import TokenUnreadable

ACTIONS = ("token", "create_draft", "sync")


@login_required
@require_http_methods(["GET", "POST"])
def prolific_page(request: HttpRequest, study_name: str) -> HttpResponse:
    study = study_for(request, study_name, "edit" if request.method == "POST" else "view")
    link = ProlificLink.objects.filter(study=study).first()
    if request.method == "POST":
        _act(request, study, link, request.POST.get("action", ""))
        return redirect("console-prolific", study.name)
    pilot = prolific_sync.pilot_batch_seconds(study)
    return render(
        request,
        "console/prolific.html",
        {
            "study": study,
            "link": link,
            "can_edit": can(request.user, study, "edit"),
            "pilot_batches": len(pilot),
            "pilot_minutes": _median_minutes(pilot),
        },
    )


def _median_minutes(seconds: list[float]) -> int | None:
    from .platforms.prolific_core import estimated_minutes

    return estimated_minutes(seconds) if seconds else None


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def _act(request: HttpRequest, study, link: ProlificLink | None, action: str) -> None:
    if action not in ACTIONS:
        messages.error(request, "Unknown action.")
        return
    try:
        if action == "token":
            token = request.POST.get("token", "").strip()
            if not token:
                messages.error(
                    request, "Give the Prolific API token (Prolific: Settings, API tokens)."
                )
                return
            link = link or ProlificLink(study=study, created_by=request.user)
            link.set_token(token)
            link.save()
            messages.success(request, f"Stored the Prolific token {link.token_hint}.")
            return
        if link is None or not link.token_encrypted:
            messages.error(request, "Store the study's Prolific API token first.")
            return
        if action == "create_draft":
            if link.prolific_study_id:
                messages.error(
                    request, f"Already linked to Prolific study {link.prolific_study_id}."
                )
                return
            reward = _int(request.POST.get("reward_cents"))
            if reward is None:
                messages.error(request, "Give the reward per participant (in cents or pence).")
                return
            inputs = prolific_sync.draft_inputs(
                study,
                reward_cents=reward,
                minutes=_int(request.POST.get("minutes")),
                description=request.POST.get("description", "").strip(),
            )
            created = prolific_sync.create_draft(link, inputs)
            messages.success(
                request,
                f"Created the Prolific draft {created['id']}: {inputs.places} places, "
                f"{inputs.estimated_minutes} minutes. Check and publish it on Prolific.",
            )
            return
        report = prolific_sync.sync(link)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) or "nothing to do"
        messages.success(request, f"Synced with Prolific: {counts}.")
        for error in report.errors:
            messages.error(request, error)
    except (DraftProblem, ProlificError, TokenUnreadable) as problem:
        messages.error(request, str(problem))
