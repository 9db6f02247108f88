"""Systems in the console: the list, registering one (validated by
generation.services.register_system, each problem shown next to its field, nothing
registered on error) and a system's page, with its jobs and a form to launch one.

Systems are the lab's shared resources (console.access): any logged-in researcher may
register one and see them all, since studies name them. A model path is a folder on the
server (as `manage.py register_system --path` takes it); registering reads its configs and
tokenizers, never its weights.
"""

from __future__ import annotations

import json

import yaml
from django import forms
from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from core import limits, strict_yaml
from core.limits import SYSTEM_NAME
from core.problems import Problem
from generation.models import Dataset, GenerationJob, System
from generation.services import register_system
from generation.validation import ALL_KINDS, BACKEND_KINDS, SystemConfigError

from .datasets import researcher_required

KIND_LABELS = {
    "hf_causal": "hf_causal: a Hugging Face causal LM (optionally with a LoRA adapter)",
    "hf_seq2seq": "hf_seq2seq: a Hugging Face T5-style model",
    "dexperts": "dexperts: base + alpha x (expert - anti-expert)",
    "reference": "reference: the dataset's own reference response",
    "imported": "imported: responses read from a file",
}
# The form's folder fields and the config keys they fill (dexperts: the base is `path`).
FOLDER_FIELDS = {
    "path": "path",
    "adapter": "adapter_path",
    "expert": "expert_path",
    "antiexpert": "antiexpert_path",
}
# A problem's config field -> the form field it is shown next to (the others: options).
PROBLEM_FIELDS = {
    "name": "name",
    "kind": "kind",
    "path": "path",
    "base_path": "path",
    "adapter_path": "adapter",
    "expert_path": "expert",
    "antiexpert_path": "antiexpert",
}


class RegisterForm(forms.Form):
    name = forms.SlugField(
        max_length=SYSTEM_NAME.max_length,
        help_text="A slug (letters, digits, '-', '_'): studies name the system by it.",
    )
    kind = forms.ChoiceField(choices=[(str(k), KIND_LABELS.get(str(k), str(k))) for k in ALL_KINDS])
    path = forms.CharField(
        required=False,
        label="Model folder",
        help_text="An absolute path on the server: the model (hf_causal, hf_seq2seq) or the base model (dexperts).",
    )
    adapter = forms.CharField(
        required=False,
        label="Adapter folder",
        help_text="hf_causal: a PEFT/LoRA adapter (optional).",
    )
    expert = forms.CharField(required=False, label="Expert folder", help_text="dexperts only.")
    antiexpert = forms.CharField(
        required=False, label="Anti-expert folder", help_text="dexperts only."
    )
    options = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 7, "spellcheck": "false"}),
        help_text="YAML or JSON: dtype, device, chat_template, system_prompt, alpha, "
        "decoding parameters (max_new_tokens, do_sample, top_p, temperature, seed, ...; flat or "
        "under decoding:), samples_per_context, batch_size, chunk_size. E.g. "
        "“max_new_tokens: 64” and “top_p: 0.9” on two lines.",
    )

    def config(self) -> dict | None:
        """The config of the options text and the folder fields, or None with the problem
        added (the YAML's line and column)."""
        text = self.cleaned_data["options"]
        if len(text.encode()) > limits.SPEC_FILE_BYTES:
            self.add_error(
                "options",
                f"longer than {limits.SPEC_FILE_BYTES:,} bytes; a config is a few options",
            )
            return None
        try:
            data = strict_yaml.load(text) if text.strip() else {}  # JSON is YAML too
        except yaml.YAMLError as error:
            self.add_error("options", strict_yaml.where(error, text))
            return None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.add_error("options", f"must be a mapping of options, not {type(data).__name__}")
            return None
        kind = self.cleaned_data["kind"]
        for field, key in FOLDER_FIELDS.items():
            value = self.cleaned_data[field].strip()
            if value:
                data["base_path" if kind == "dexperts" and field == "path" else key] = value
        return data

    def show(self, problems: list[Problem]) -> None:
        for problem in problems:
            field = PROBLEM_FIELDS.get(problem.field, "options")
            self.add_error(field, str(problem) if field == "options" else problem.reason)


@researcher_required
def system_list(request: HttpRequest) -> HttpResponse:
    systems = System.objects.annotate(
        n_candidates=Count("candidates", distinct=True),
        n_jobs=Count("generation_jobs", distinct=True),
    ).order_by("name")
    return render(request, "console/system_list.html", {"systems": systems})


@researcher_required
def system_register(request: HttpRequest) -> HttpResponse:
    """The register form; a POST validates and registers, or shows every problem."""
    posted = request.method == "POST"
    form = RegisterForm(request.POST if posted else None)
    if posted and form.is_valid() and (config := form.config()) is not None:
        data = form.cleaned_data
        try:
            system = register_system(data["name"], data["kind"], config)
        except SystemConfigError as error:
            form.show(error.problems)
        else:
            messages.success(request, f"Registered system {system.name} ({system.kind}).")
            return redirect(reverse("console-system", args=[system.pk]))
    return render(
        request, "console/system_register.html", {"form": form}, status=400 if posted else 200
    )


@researcher_required
def system_detail(request: HttpRequest, system_id: int) -> HttpResponse:
    system = get_object_or_404(System, pk=system_id)
    shown = {k: v for k, v in system.config.items() if k != "checkpoint"}
    return render(
        request,
        "console/system_detail.html",
        {
            "system": system,
            "config": json.dumps(shown, indent=2, sort_keys=True) if shown else "",
            "checkpoint": json.dumps(system.config.get("checkpoint"), indent=2, sort_keys=True)
            if system.config.get("checkpoint")
            else "",
            "generated": system.kind in BACKEND_KINDS,
            "candidates": system.candidates.count(),
            "jobs": GenerationJob.objects.filter(system=system).select_related("dataset")[:20],
            "datasets": Dataset.objects.order_by("name"),
        },
    )
