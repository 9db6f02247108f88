"""The study editor: a study from a template or an uploaded spec, its spec edited in the
browser while it is a draft, the design and an item previewed, then opened.

A study made here is a *draft* (annotators are told it is not open yet) until it is
opened from its page; from then on its spec is frozen. Every saved change of a draft's
spec is kept as a ``StudySpecVersion`` (spec, text, hash, data digests, who, when). The
files a spec names are uploaded with it into the study's folder under
``settings.VAR_DIR / "uploads"``; an upload is checked in a staging copy of that folder and
replaces it only when the whole spec is valid, so a refused save changes nothing.

Checking is ``console.spec_editing`` (pure); building is ``annotation.study_builder``;
permissions are ``console.access`` (the one place).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from annotation.models import Study, StudySpecVersion
from annotation.spec import SpecError
from annotation.study_builder import StudyBuildError, build_study_from_spec, rebuild_draft
from annotation.views.preview import render_item_preview
from generation.models import Dataset

from . import access, design_tables
from .dataset_contexts import contexts_upload, without_systems
from .spec_editing import (
    SAFE_PART,
    EditorProblem,
    check_source,
    data_paths,
    load_source,
    parse_source,
    with_name,
)

TEMPLATES_DIR = Path(__file__).with_name("study_templates")
# The templates a study can start from: folder -> (title, what it is).
STUDY_TEMPLATES = {
    "empo-rating": (
        "EmPO-style rating",
        "Four 0–100 sliders (emotion understanding, situational appropriateness, contextual "
        "naturalness, conversational engagingness) and a checkbox (understandable and "
        "consistent); three response sources in block-randomised batches.",
    ),
    "prosocial-pairwise": (
        "ProsocialDialog-style pairwise",
        "Two replies to a problematic message compared on five dimensions (prosocial, "
        "engaged, respectful, coherent, overall) with A / B / tie.",
    ),
    "dexperts-ab": (
        "DExperts-style A/B",
        "Two continuations of a prompt compared on toxicity, fluency and topicality.",
    ),
}
SPEC_FILE = "spec.yaml"
# The largest data file taken in one upload (a request is not the way to move gigabytes).
UPLOAD_FILE_BYTES = 200 << 20
UPLOAD_SUFFIXES = (".jsonl", ".json", ".csv")


def uploads_root() -> Path:
    return Path(settings.VAR_DIR) / "uploads"


def study_folder(name: str) -> Path:
    """The folder of a console-made study's data files (its spec's paths are relative to it)."""
    return uploads_root() / name


def _study_created(user, study: Study) -> None:
    """The one call site that makes the creator the study's owner (console.access)."""
    access.study_created(user, study)


# --------------------------------------------------------------------------- folders


def _placed(name: str, spec_paths: Sequence[str]) -> str:
    """Where an uploaded file goes: the path the spec names for a file of that name, else
    the folder's top level."""
    for path in spec_paths:
        if isinstance(path, str) and PurePosixPath(path).name == name:
            return path
    return name


def _write_uploads(
    folder: Path, files: Sequence[UploadedFile], spec_paths: Sequence[str]
) -> list[EditorProblem]:
    problems = []
    for upload in files:
        name = Path(upload.name or "").name
        if not SAFE_PART.match(name) or not name.lower().endswith(UPLOAD_SUFFIXES):
            problems.append(
                EditorProblem(
                    "files",
                    f"{name!r}: a data file's name holds letters, digits, '.', '_' and '-' "
                    f"and ends in {', '.join(UPLOAD_SUFFIXES)}",
                    None,
                    "files",
                )
            )
            continue
        if (upload.size or 0) > UPLOAD_FILE_BYTES:
            problems.append(
                EditorProblem(
                    "files",
                    f"{name}: larger than {UPLOAD_FILE_BYTES >> 20} MB, the most one upload takes",
                    None,
                    "files",
                )
            )
            continue
        target = folder / _placed(name, spec_paths)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
    return problems


@contextmanager
def _staging(
    base: Path | None, files: Sequence[UploadedFile], source: str
) -> Iterator[tuple[Path, list[EditorProblem]]]:
    """A scratch copy of ``base`` with the uploaded files written in; removed afterwards
    unless it was moved into place."""
    root = uploads_root()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        if base is not None and base.is_dir():
            shutil.copytree(base, staging, dirs_exist_ok=True)
        data, _ = parse_source(source)
        paths = [p for p in data_paths(data).values() if isinstance(p, str)]
        yield staging, _write_uploads(staging, files, paths)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _template_folder(template: str) -> Path:
    return TEMPLATES_DIR / template


def _copy_template_data(template: str, staging: Path) -> None:
    for path in _template_folder(template).iterdir():
        if path.is_file() and path.name != SPEC_FILE:
            shutil.copy2(path, staging / path.name)


def _as_problems(error: Exception) -> list[EditorProblem]:
    if isinstance(error, SpecError):
        return [EditorProblem(p.field, p.reason) for p in error.problems]
    found = []
    for line in str(error).splitlines():
        field, _, reason = line.partition(": ")
        found.append(EditorProblem(field if reason else "(spec)", reason or line))
    return found


# --------------------------------------------------------------------------- versions


def record_version(study: Study, user) -> StudySpecVersion | None:
    """Keep the study's spec as a new version unless it equals the last one kept."""
    digests = (study.design_report or {}).get("data_digests", {})
    last = study.spec_versions.order_by("-number").first()
    if last is not None and (last.spec_source, last.data_digests) == (study.spec_source, digests):
        return None
    return StudySpecVersion.objects.create(
        study=study,
        number=last.number + 1 if last is not None else 1,
        spec=study.spec,
        spec_hash=study.spec_hash,
        spec_source=study.spec_source,
        data_digests=digests,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


# --------------------------------------------------------------------------- creating


def create_draft(
    user, source: str, files: Sequence[UploadedFile], template: str | None = None
) -> tuple[Study | None, list[EditorProblem]]:
    """A draft study from a spec text and its files (or a template's), or its problems
    with nothing created."""
    with _staging(None, files, source) as (staging, problems):
        if template is not None:
            _copy_template_data(template, staging)
        if problems:
            return None, problems
        problems = check_source(source, staging)
        if problems:
            return None, problems
        name = load_source(source, staging).name
        if Study.objects.filter(name=name).exists():
            taken = f"a study named {name!r} already exists; choose another name"
            return None, [EditorProblem("name", taken, None)]
        final = study_folder(name)
        if final.exists():  # left by a deleted study of that name: its files are not ours
            shutil.rmtree(final)
        staging.rename(final)
    try:
        built = build_study_from_spec(load_source(source, final), source, status=Study.Status.DRAFT)
    except (StudyBuildError, SpecError) as error:
        shutil.rmtree(final, ignore_errors=True)
        return None, _as_problems(error)
    record_version(built.study, user)
    _study_created(user, built.study)
    return built.study, []


def _template_source(template: str) -> str:
    return (_template_folder(template) / SPEC_FILE).read_text(encoding="utf-8")


def imported_responses(source: str) -> dict[str, str]:
    """{system name: the file name of its responses} for the spec's imported systems."""
    data, _ = parse_source(source)
    systems = data.get("systems") if isinstance(data, dict) else None
    return {
        s["name"]: PurePosixPath(s["responses"]).name
        for s in systems or []
        if isinstance(s, dict)
        and s.get("kind") == "imported"
        and isinstance(s.get("responses"), str)
    }


def from_dataset(
    source: str, dataset: str, files: Sequence[UploadedFile]
) -> tuple[str, list[UploadedFile], str, list[EditorProblem]]:
    """A template's spec with its contexts from an imported dataset: (the spec text, the
    files to upload, a note for the researcher, problems).

    The template's example responses answer its example conversations, not the dataset's,
    so an imported system is kept only when its responses file (keyed by the dataset's
    context ids) is uploaded with it; the others are left out of the spec, and the note
    says so. A reference system is met by the dataset's reference responses."""
    uploaded = {Path(f.name or "").name for f in files}
    imported = imported_responses(source)
    left_out = [n for n, file in imported.items() if file not in uploaded]
    data, _ = parse_source(source)
    if isinstance(data, dict) and len(left_out) == len(data.get("systems") or []):
        needed = ", ".join(sorted(imported.values()))
        reason = (
            f"the template's systems are all imported: upload their responses files "
            f"({needed}, keyed by {dataset}'s context ids) with the dataset"
        )
        return source, list(files), "", [EditorProblem("files", reason, None, "files")]
    source = without_systems(source, left_out)
    contexts, problems = contexts_upload(dataset, source)
    note = ""
    if left_out:
        note = (
            f"Left out the template's system{'s' if len(left_out) > 1 else ''} "
            f"{', '.join(left_out)}: {'their' if len(left_out) > 1 else 'its'} example "
            f"responses answer the template's example conversations, not {dataset}'s. "
            "Add a system with its responses file (keyed by the dataset's context ids) here."
        )
    return source, [*files, *contexts], note, problems


def _new_page(request, problems=(), chosen: str | None = None, status=200) -> HttpResponse:
    templates = [
        {
            "id": key,
            "title": title,
            "about": about,
            "name": key,
            "responses": sorted(imported_responses(_template_source(key)).values()),
        }
        for key, (title, about) in STUDY_TEMPLATES.items()
    ]
    datasets = Dataset.objects.annotate(n_contexts=Count("contexts")).order_by("name")
    return render(
        request,
        "console/editor_new.html",
        {
            "templates": templates,
            "datasets": datasets,
            "problems": [p.to_dict() for p in problems],
            "chosen": chosen,
            "posted_name": request.POST.get("name", ""),
            "posted_dataset": request.POST.get("dataset", ""),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def new_study(request: HttpRequest) -> HttpResponse:
    """Start a study: from a template (with a name) or from an uploaded spec and its files."""
    if request.method == "GET":
        return _new_page(request)
    template = request.POST.get("template", "")
    files = request.FILES.getlist("files")
    note = ""
    if template:
        if template not in STUDY_TEMPLATES:
            return _new_page(request, [EditorProblem("template", "no such template")], status=400)
        text = _template_source(template)
        name = request.POST.get("name", "").strip() or template
        # A name that is no plain word is quoted: the spec's check then says what is wrong.
        source = with_name(text, name if SAFE_PART.match(name) else json.dumps(name))
        if dataset := request.POST.get("dataset", ""):
            source, files, note, problems = from_dataset(source, dataset, files)
            if problems:
                return _new_page(request, problems, chosen=template, status=400)
            template = ""  # the template's example files are not the dataset's
    else:
        spec_file = request.FILES.get("spec")
        if spec_file is None:
            missing = EditorProblem("spec", "choose a spec file (YAML) to upload", None, "files")
            return _new_page(request, [missing], status=400)
        try:
            source = spec_file.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            bad = EditorProblem(spec_file.name or "spec", "is not UTF-8 text", None, "yaml")
            return _new_page(request, [bad], status=400)
    study, problems = create_draft(request.user, source, files, template or None)
    if study is None:
        chosen = request.POST.get("template", "") or "upload"
        return _new_page(request, problems, chosen=chosen, status=400)
    messages.success(request, f"Created the draft study {study.name}: edit, preview, then open it.")
    if note:
        messages.info(request, note)
    return redirect(reverse("console-editor", args=[study.name]))


# --------------------------------------------------------------------------- editing


def save_draft(
    study: Study, user, source: str, files: Sequence[UploadedFile]
) -> tuple[StudySpecVersion | None, list[EditorProblem]]:
    """Check a draft's new spec text and files; when valid, put the files in place, design
    the study again and keep the version. Nothing changes when there is a problem."""
    folder = study_folder(study.name)
    with _staging(folder, files, source) as (staging, problems):
        if problems:
            return None, problems
        problems = check_source(source, staging, name=study.name)
        if problems:
            return None, problems
        with transaction.atomic():
            locked = Study.objects.select_for_update().get(pk=study.pk)
            if locked.status != Study.Status.DRAFT:
                return None, [EditorProblem("status", frozen_reason(locked))]
            backup = folder.with_name(f".old-{folder.name}-{uuid.uuid4().hex}")
            had_folder = folder.exists()
            if had_folder:
                folder.rename(backup)
            staging.rename(folder)
            try:
                built = rebuild_draft(locked, load_source(source, folder), source)
                version = record_version(built.study, user)
            except Exception as error:
                shutil.rmtree(folder, ignore_errors=True)  # the files as they were
                if had_folder:
                    backup.rename(folder)
                if isinstance(error, StudyBuildError | SpecError):
                    return None, _as_problems(error)
                raise
        shutil.rmtree(backup, ignore_errors=True)
    return version, []


def frozen_reason(study: Study) -> str:
    return (
        f"the study is {study.status}, and a study's spec is frozen once it is opened "
        "(create a new study to change it)"
    )


def _editor_page(request, study: Study, source: str | None = None, problems=(), status=200):
    report = (study.design_report or {}).get("report")
    versions = study.spec_versions.select_related("created_by").order_by("-number")
    return render(
        request,
        "console/editor.html",
        {
            "study": study,
            "source": study.spec_source if source is None else source,
            "problems": [p.to_dict() for p in problems],
            "editable": study.status == Study.Status.DRAFT
            and access.can(request.user, study, "edit"),
            "frozen": study.status != Study.Status.DRAFT,
            "frozen_reason": frozen_reason(study),
            "design": design_tables.design_view(report),
            "preview_items": range(1, _first_batch_length(study) + 1),
            "versions": versions,
            "spec_paths": sorted(set(data_paths(study.spec).values())),
        },
        status=status,
    )


def _first_batch_length(study: Study) -> int:
    first = study.batches.order_by("index").first()
    return first.entries.count() if first is not None else 0


@login_required
def editor(request: HttpRequest, study_name: str) -> HttpResponse:
    """The spec of a study in a text area: edited and saved while it is a draft, shown
    frozen after; the design as tables, links to the item preview, the versions."""
    if request.method not in ("GET", "POST"):
        access.study_for(request, study_name, "view")
        return HttpResponseNotAllowed(["GET", "POST"])
    if request.method == "GET":
        return _editor_page(request, access.study_for(request, study_name, "view"))
    study = access.study_for(request, study_name, "edit")
    source = request.POST.get("source", "")
    if study.status != Study.Status.DRAFT:
        refused = EditorProblem("status", frozen_reason(study))
        return _editor_page(request, study, source, [refused], status=409)
    files = request.FILES.getlist("files")
    if source == study.spec_source and not files:
        messages.info(request, "Nothing changed: no new version was kept.")
        return redirect(reverse("console-editor", args=[study.name]))
    version, problems = save_draft(study, request.user, source, files)
    if problems:
        return _editor_page(request, study, source, problems, status=400)
    study.refresh_from_db()
    saved = f"version {version.number}" if version else "no new version (the same spec)"
    messages.success(request, f"Saved: {saved}; the design is made again from it.")
    return redirect(reverse("console-editor", args=[study.name]))


@login_required
def validate(request: HttpRequest, study_name: str) -> HttpResponse:
    """The live check of the editor: the spec text (JSON ``{"source": ...}``) against the
    published schema and the full validation with the study's data files."""
    study = access.study_for(request, study_name, "edit")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        source = json.loads(request.body or b"{}").get("source", "")
    except (ValueError, AttributeError):
        source = None
    if not isinstance(source, str):
        problem = EditorProblem("(request)", 'send {"source": "<the spec as YAML>"}')
        return JsonResponse({"valid": False, "problems": [problem.to_dict()]}, status=400)
    problems = check_source(source, study_folder(study.name), name=study.name)
    if study.status != Study.Status.DRAFT:
        problems = [EditorProblem("status", frozen_reason(study)), *problems]
    return JsonResponse({"valid": not problems, "problems": [p.to_dict() for p in problems]})


@login_required
def preview_item(request: HttpRequest, study_name: str, position: int) -> HttpResponse:
    """Item ``position`` of the first batch exactly as an annotator will see it; nothing
    is written and its form posts nowhere."""
    study = access.study_for(request, study_name, "view")
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    return render_item_preview(request, study, position, "console/editor_item_preview.html")


@login_required
def spec_source(request: HttpRequest, study_name: str) -> HttpResponse:
    """The spec as written: the study's now, or a kept version's (``?version=N``)."""
    study = access.study_for(request, study_name, "view")
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    text, label = study.spec_source, "spec"
    if "version" in request.GET:
        number = request.GET["version"]
        version = study.spec_versions.filter(number=int(number) if number.isdigit() else -1)
        if not version.exists():
            return HttpResponse(
                f"{study.name} has no spec version {number}", status=404, content_type="text/plain"
            )
        text, label = version.get().spec_source, f"v{number}"
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{study.name}-{label}.yaml"'
    return response


# --------------------------------------------------------------------------- status

# action -> (the statuses it may start from, the status it sets, what the message says)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "open": (
        (Study.Status.DRAFT, Study.Status.PAUSED, Study.Status.CLOSED),
        Study.Status.OPEN,
        "opened: annotators get work",
    ),
    "pause": (
        (Study.Status.OPEN,),
        Study.Status.PAUSED,
        "paused: annotators holding a batch may finish it, others are asked to come back",
    ),
    "close": (
        (Study.Status.OPEN, Study.Status.PAUSED),
        Study.Status.CLOSED,
        "closed: no more work is handed out",
    ),
}


def next_status(current: str, action: str) -> tuple[str | None, str]:
    """(the status ``action`` sets from ``current``, or None; what to tell the user)."""
    if action not in TRANSITIONS:
        return None, f"unknown action {action!r}; one of {', '.join(TRANSITIONS)}"
    sources, target, said = TRANSITIONS[action]
    if current == target:
        return None, f"the study is {current} already"
    if current not in sources:
        return None, f"a {current} study cannot be {target}"
    return target, said


@login_required
def change_status(request: HttpRequest, study_name: str) -> HttpResponse:
    """Open, pause or close a study (POST ``action``); opening a draft freezes its spec."""
    study = access.study_for(request, study_name, "edit")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        target, said = next_status(locked.status, request.POST.get("action", ""))
        if target is not None:
            locked.status = target
            locked.save(update_fields=["status"])
    if target is None:
        messages.error(request, f"Not changed: {said}.")
    else:
        messages.success(request, f"{locked.name} {said}.")
    return redirect(reverse("console-study", args=[study.name]))
