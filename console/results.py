"""The results page of a study: the full analysis (tables, figures, methods) for the options
chosen in its form, read from the cache that a task fills (``analysis.tasks``); the page
never computes. While the task runs the page says so and reloads itself when it is done.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from analysis import formatting as fmt
from analysis import results_cache
from analysis.models import StudyResults
from analysis.tasks import request_results
from annotation.models import Study

from .access import study_for

Status = StudyResults.Status
# a task still pending after this long suggests no worker listens on the default queue
NO_WORKER_AFTER = dt.timedelta(minutes=2)

# what a query parameter may say for yes / no
YES_WORDS = {"1", "on", "true", "yes"}
NO_WORDS = {"", "0", "off", "false", "no"}

FIGURE_CAPTIONS = {
    "rating_distributions": "Ratings per system and dimension: the individual ratings as box "
    "plots with the mean marked; a checkbox dimension as the share of Yes answers with its "
    "95% CI.",
    "winrates": "Wins, ties and losses per pair of systems and dimension (stacked shares).",
    "bradley_terry": "Bradley–Terry strengths per system with 95% bootstrap intervals (log scale).",
    "length_bias": "Item mean rating against response length, per dimension.",
}


class ResultsOptionsForm(forms.Form):
    """The choices of `manage.py analyze` that the page offers, read from GET parameters."""

    alternative = forms.ChoiceField(
        label="Alternative hypothesis (about system A − system B)",
        choices=[
            ("two-sided", "two-sided"),
            ("greater", "greater (A > B)"),
            ("less", "less (A < B)"),
        ],
        required=False,
    )
    family = forms.ChoiceField(
        label="Holm / Bonferroni family",
        choices=[
            ("per_dimension", "the comparisons of each dimension"),
            ("all", "all dimensions together"),
        ],
        required=False,
    )
    zscore = forms.ChoiceField(
        label="Per-annotator z-scores",
        choices=[
            ("population", "population SD; constant annotators get none"),
            ("wmt", "sample SD, z = 0 for a constant annotator (WMT / Appraise)"),
        ],
        required=False,
    )
    permutation_two_sided = forms.ChoiceField(
        label="Two-sided permutation p-value",
        choices=[
            ("absolute", "share of resamples with |T*| ≥ |T|"),
            ("doubled", "2 × the smaller one-sided p (as scipy)"),
        ],
        required=False,
    )
    exclude_flagged = forms.CharField(
        label="Leave out annotators flagged by the quality checks",
        required=False,
        widget=forms.CheckboxInput(check_test=lambda v: str(v).lower() in YES_WORDS),
    )

    mixed_models = forms.CharField(
        label="Add model-based comparisons (mixed-effects, ordinal and GEE models; slower)",
        required=False,
        widget=forms.CheckboxInput(check_test=lambda v: str(v).lower() in YES_WORDS),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, label_suffix="", **kwargs)

    def clean_alternative(self) -> str:
        return self.cleaned_data["alternative"] or "two-sided"

    def clean_family(self) -> str:
        return self.cleaned_data["family"] or "per_dimension"

    def clean_zscore(self) -> str:
        return self.cleaned_data["zscore"] or "population"

    def clean_permutation_two_sided(self) -> str:
        return self.cleaned_data["permutation_two_sided"] or "absolute"

    def clean_exclude_flagged(self) -> bool:
        return self._yes_no("exclude_flagged")

    def clean_mixed_models(self) -> bool:
        return self._yes_no("mixed_models")

    def _yes_no(self, name: str) -> bool:
        raw = str(self.data.get(name, "")).strip().lower()
        if raw in YES_WORDS:
            return True
        if raw in NO_WORDS:
            return False
        raise forms.ValidationError(
            f"{raw!r} is not yes or no (use one of: {', '.join(sorted(YES_WORDS | NO_WORDS - {''}))})"
        )

    def analysis_options(self) -> dict[str, Any]:
        """The options for ``analyze_study`` (the form must be valid)."""
        data = self.cleaned_data
        options = {
            "alternative": data["alternative"],
            "family": data["family"],
            "exclude_flagged": data["exclude_flagged"],
        }
        # only when not the default: the default options keep their key
        for name, default in (("zscore", "population"), ("permutation_two_sided", "absolute")):
            if data[name] != default:
                options[name] = data[name]
        if data["mixed_models"]:  # only when asked: the default options keep their key
            options["mixed_models"] = True
        return options

    def problems(self) -> list[str]:
        """Every error as `field: reason` (the GET parameter's name)."""
        return [
            f"{field}: {reason}" for field, reasons in self.errors.items() for reason in reasons
        ]


def page_options(request: HttpRequest) -> tuple[ResultsOptionsForm, dict[str, Any] | None]:
    """The form bound to the request's GET parameters and its options (None when invalid)."""
    form = ResultsOptionsForm(request.GET)
    return form, (form.analysis_options() if form.is_valid() else None)


def options_query(options: dict[str, Any]) -> str:
    """The GET parameters that ask for `options` again (empty for the defaults)."""
    params = {}
    if options["alternative"] != "two-sided":
        params["alternative"] = options["alternative"]
    if options["family"] != "per_dimension":
        params["family"] = options["family"]
    if options["exclude_flagged"]:
        params["exclude_flagged"] = "1"
    for name, default in (("zscore", "population"), ("permutation_two_sided", "absolute")):
        if options.get(name, default) != default:
            params[name] = options[name]
    if options.get("mixed_models"):
        params["mixed_models"] = "1"
    return urlencode(params)


def _bad_options(request: HttpRequest, study: Study, form: ResultsOptionsForm) -> HttpResponse:
    return render(
        request,
        "console/results.html",
        {"study": study, "form": form, "problems": form.problems()},
        status=400,
    )


@login_required
def study_results(request: HttpRequest, study_name: str) -> HttpResponse:
    study = study_for(request, study_name, "view")
    form, options = page_options(request)
    if options is None:
        return _bad_options(request, study, form)
    query = options_query(options)
    context: dict[str, Any] = {
        "study": study,
        "form": form,
        "query": query,
        "zip_url": _with_query(reverse("console-results", args=[study.name]), query),
        "status_url": _with_query(reverse("console-results-status", args=[study.name]), query),
    }
    if results_cache.judgment_count(study) == 0:
        context["no_judgments"] = True
        return render(request, "console/results.html", context)
    row = request_results(study, options)
    context["row"] = row
    if row.status == Status.READY:
        context["results"] = results_context(row)
    elif row.status in (Status.PENDING, Status.RUNNING):
        context["computing"] = True
        # no worker has taken it for a while: say what runs these tasks
        context["unstarted"] = row.status == Status.PENDING and (
            timezone.now() - row.requested_at > NO_WORKER_AFTER
        )
        previous = results_cache.previous_ready(row)
        if previous is not None:
            context["previous"] = previous
            context["results"] = results_context(previous)
    return render(request, "console/results.html", context)


@login_required
def study_results_status(request: HttpRequest, study_name: str) -> JsonResponse:
    """Whether the results for these options at the current judgment count are ready
    (what the page's script polls); "missing" when no request has asked for them yet."""
    study = study_for(request, study_name, "view")
    form, options = page_options(request)
    if options is None:
        return JsonResponse({"errors": form.problems()}, status=400)
    row = StudyResults.objects.filter(
        study=study,
        options_key=results_cache.options_key(options),
        judgment_count=results_cache.judgment_count(study),
    ).first()
    return JsonResponse({"status": row.status if row else "missing"})


def _figure_order(stem: str) -> tuple[int, str]:
    order = list(FIGURE_CAPTIONS)
    return (order.index(stem) if stem in order else len(order), stem)


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def results_context(row: StudyResults) -> dict[str, Any]:
    """What the template shows of a ready row: counts in words, the readable tables in the
    page's order, the figures as data URLs and the methods text."""
    data = row.data or {}
    analysis = data.get("analysis", {})
    info = analysis.get("info", {})
    readable = data.get("readable", {})
    protocol = analysis.get("protocol")
    systems = analysis.get("systems", [])
    return {
        "protocol": protocol,
        "systems": systems,
        "counts": (
            f"{fmt.plural(info.get('n_judgments_analysed', 0), 'judgment')} by "
            f"{fmt.plural(info.get('n_annotators', 0), 'annotator')} on "
            f"{fmt.plural(info.get('n_contexts', 0), 'context')}"
        ),
        "flagged": info.get("flagged_annotators", []),
        "excluded": info.get("excluded_annotators", []),
        "judgment_count": row.judgment_count,
        "finished_at": row.finished_at,
        "seconds": fmt.fixed(row.seconds, 1),
        "summary": readable.get("summary"),
        "comparisons": readable.get("comparisons") or [],
        "winrates": readable.get("winrates"),
        "bradley_terry": readable.get("bradley_terry"),
        "bradley_terry_missing": (
            protocol == "pairwise" and "bradley_terry" not in readable and len(systems) < 3
        ),
        "agreement": readable.get("agreement"),
        "mixed_models": readable.get("mixed_models"),
        "diagnostics": [
            (name.replace("_", "-"), readable[name])
            for name in results_cache.DIAGNOSTIC_TABLES
            if name in readable
        ],
        "figures": [
            {
                "id": f"figure-{stem.replace('_', '-')}",
                "caption": FIGURE_CAPTIONS.get(stem, stem),
                "src": "data:image/svg+xml;base64,"
                + base64.b64encode(svg.encode("utf-8")).decode("ascii"),
            }
            for stem, svg in sorted(
                data.get("plots", {}).items(), key=lambda kv: _figure_order(kv[0])
            )
        ],
        "methods": data.get("methods", []),
    }
