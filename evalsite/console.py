"""Researcher console pages shared across apps: studies, live progress."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from annotation.models import Study
from annotation.selectors import study_progress


def home(request: HttpRequest) -> HttpResponse:
    return redirect(reverse("console"))


@staff_member_required
def study_list(request: HttpRequest) -> HttpResponse:
    studies = [
        {"study": s, "progress": study_progress(s), "link": request.build_absolute_uri(f"/a/{s.name}/")}
        for s in Study.objects.order_by("-created_at")
    ]
    return render(request, "console/study_list.html", {"studies": studies})


@staff_member_required
def study_detail(request: HttpRequest, study_name: str) -> HttpResponse:
    study = get_object_or_404(Study, name=study_name)
    return render(request, "console/study_detail.html", {
        "study": study,
        "progress": study_progress(study),
        "link": request.build_absolute_uri(f"/a/{study.name}/"),
    })


@staff_member_required
def study_progress_json(request: HttpRequest, study_name: str) -> JsonResponse:
    study = get_object_or_404(Study, name=study_name)
    return JsonResponse(study_progress(study))
