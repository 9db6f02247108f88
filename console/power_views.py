"""A study's power page: how many contexts the planned study needs, by simulation
(analysis.power) from the study's judgments as a pilot or from variance components the
researcher enters. Viewers may use it, like the other study pages. It computes in the
request, so the form bounds the work (simulations, sizes) to a few seconds."""

from __future__ import annotations

import base64
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from analysis import power as pw
from analysis.power_inputs import design_defaults, pilot_components, planned, slider_dimensions
from annotation.design import DesignError

from .access import study_for

MAX_SIMS = 2000
MAX_SIZES = 12
MAX_CONTEXTS = 3000


class PowerForm(forms.Form):
    source = forms.ChoiceField(
        label="Variance components from",
        choices=[("pilot", "this study's judgments (a pilot)"), ("entered", "the SDs below")],
    )
    dimension = forms.ChoiceField(label="Pilot dimension (slider)", required=False, choices=[])
    sd_annotator = forms.FloatField(label="SD annotator", min_value=0, required=False)
    sd_context = forms.FloatField(label="SD context", min_value=0, required=False)
    sd_item = forms.FloatField(label="SD item", min_value=0, required=False)
    sd_residual = forms.FloatField(label="SD residual", min_value=0, required=False)
    effect_kind = forms.ChoiceField(
        label="Difference given as",
        choices=[("dz", "d_z"), ("pooled", "pooled d"), ("points", "scale points")],
    )
    effect = forms.FloatField(label="Difference to detect")
    systems = forms.IntegerField(label="Systems", min_value=2, max_value=20)
    batch_size = forms.IntegerField(label="Batch size", min_value=1, max_value=200)
    block_size = forms.IntegerField(label="Block size", min_value=1, max_value=200)
    overlap = forms.IntegerField(label="Ratings per item (k)", min_value=1, max_value=20)
    ordering = forms.ChoiceField(
        label="Block ordering",
        choices=[(o, o) for o in ("latin_square", "all_permutations", "random")],
    )
    contexts = forms.CharField(label="Contexts to try (comma-separated)", required=False)
    alternative = forms.ChoiceField(label="Alternative", choices=[(a, a) for a in pw.ALTERNATIVES])
    alpha = forms.FloatField(label="alpha", min_value=0.0001, max_value=0.5)
    target = forms.FloatField(label="Power wanted", min_value=0.05, max_value=0.999)
    sims = forms.IntegerField(label="Simulated studies per size", min_value=50, max_value=MAX_SIMS)

    def __init__(self, *args: Any, dimensions: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, label_suffix="", **kwargs)
        self.fields["dimension"].choices = dimensions  # (key, the label annotators read)

    def clean_contexts(self) -> list[int] | None:
        text = self.cleaned_data["contexts"].strip()
        if not text:
            return None
        try:
            sizes = sorted({int(v) for v in text.split(",") if v.strip()})
        except ValueError:
            raise forms.ValidationError("whole numbers separated by commas") from None
        if len(sizes) > MAX_SIZES or (sizes and (sizes[0] < 1 or sizes[-1] > MAX_CONTEXTS)):
            raise forms.ValidationError(
                f"at most {MAX_SIZES} sizes, each from 1 to {MAX_CONTEXTS} contexts"
            )
        return sizes

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("source") == "entered":
            for name in ("sd_annotator", "sd_context", "sd_item", "sd_residual"):
                if data.get(name) is None:
                    self.add_error(name, "needed when the components are entered")
        elif data.get("source") == "pilot" and not data.get("dimension"):
            self.add_error("dimension", "the study has no slider dimension to use as a pilot")
        return data


def _initial(study: Any) -> dict[str, Any]:
    d = design_defaults(study)
    return {
        "source": "pilot",
        "effect_kind": "dz",
        "effect": 0.2,
        "systems": d["n_systems"],
        "batch_size": d["batch_size"],
        "block_size": d["block_size"],
        "overlap": d["overlap"],
        "ordering": d["ordering"],
        "alternative": "two-sided",
        "alpha": 0.05,
        "target": 0.8,
        "sims": 500,
    }


def _plan(study: Any, data: dict[str, Any]) -> dict[str, Any]:
    if data["source"] == "pilot":
        components = pilot_components(study, data["dimension"])
    else:
        components = pw.VarianceComponents(
            data["sd_annotator"], data["sd_context"], data["sd_item"], data["sd_residual"]
        )
    design = planned(
        design_defaults(study),
        data["batch_size"],
        n_systems=data["systems"],
        batch_size=data["batch_size"],
        block_size=data["block_size"],
        overlap=data["overlap"],
        ordering=data["ordering"],
    )
    kind = data["effect_kind"]
    points, table = pw.plan_power(
        design,
        components,
        d=None if kind == "points" else data["effect"],
        effect=data["effect"] if kind == "points" else None,
        d_kind="dz" if kind == "points" else kind,
        contexts=data["contexts"],
        n_sims=data["sims"],
        n_permutations=500,
        alpha=data["alpha"],
        alternative=data["alternative"],
    )
    headers, rows = pw.printed_rows(table)
    target = data["target"]
    svg = pw.power_curve_svg(table, target, f"power to detect {points:.2f} points")
    return {
        "components": components,
        "design": design,
        "points": points,
        "d_z": float(table["d_z"].iloc[0]),
        "headers": headers,
        "rows": rows,
        "needed": [
            (label, pw.smallest_contexts(table, target, col))
            for col, label in (
                ("power_paired_t", "paired t-test"),
                ("power_permutation", "permutation test"),
                ("power_mixed_analytic", "mixed model (analytic)"),
            )
        ],
        "largest": int(table["n_contexts"].max()),
        "target_percent": f"{target:.0%}",
        "svg_src": "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii"),
    }


@login_required
@require_GET
def power_page(request: HttpRequest, study_name: str) -> HttpResponse:
    study = study_for(request, study_name, "view")
    dimensions = [(d["key"], d.get("label") or d["key"]) for d in slider_dimensions(study)]
    context: dict[str, Any] = {"study": study, "d_kinds": pw.D_KINDS}
    if "effect" not in request.GET:
        initial = _initial(study) | {"dimension": dimensions[0][0] if dimensions else ""}
        context["form"] = PowerForm(initial=initial, dimensions=dimensions)
        return render(request, "console/power.html", context)
    form = PowerForm(request.GET, dimensions=dimensions)
    context["form"] = form
    if not form.is_valid():
        context["problems"] = [f"{f}: {e}" for f, errs in form.errors.items() for e in errs]
        return render(request, "console/power.html", context, status=400)
    try:
        context["plan"] = _plan(study, form.cleaned_data)
    except (ValueError, DesignError) as exc:
        context["problems"] = [str(exc)]
        return render(request, "console/power.html", context, status=400)
    return render(request, "console/power.html", context)
