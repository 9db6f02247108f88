"""The study editor: a draft from each template or an uploaded spec, live and full
validation (nothing changes on a problem), versions, the spec frozen once opened, drafts
closed to annotators, the design as tables and the item preview that writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotation.models import Assignment, Batch, Judgment, Participant, Study, StudySpecVersion
from annotation.study_builder import StudyBuildError, rebuild_draft
from console import access, editor
from console.spec_editing import check_source, field_lines, with_name
from generation.models import Candidate

from .conftest import researcher

pytestmark = pytest.mark.django_db

EXAMPLES = Path(settings.BASE_DIR) / "examples"
TEMPLATES = Path(settings.BASE_DIR) / "console" / "study_templates"


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    """Uploads go to a folder of the test's own."""
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


@pytest.fixture
def client():
    """A logged-in researcher (not staff): the studies she creates are hers."""
    c = Client()
    c.force_login(researcher("rita"))
    return c


def create(client, template: str, name: str):
    return client.post(reverse("console-new-study"), {"template": template, "name": name})


def editor_url(name: str) -> str:
    return reverse("console-editor", args=[name])


def validate(client, name: str, source: str) -> dict:
    response = client.post(
        reverse("console-editor-validate", args=[name]),
        json.dumps({"source": source}),
        content_type="application/json",
    )
    assert response.status_code == 200
    return response.json()


def save(client, name: str, source: str, files=()):
    return client.post(editor_url(name), {"source": source, "files": list(files)})


def state_of(study: Study) -> tuple:
    study.refresh_from_db()
    return (
        study.spec_hash,
        study.spec_source,
        study.status,
        sorted(Batch.objects.filter(study=study).values_list("id", flat=True)),
        study.spec_versions.count(),
    )


@pytest.mark.parametrize(
    "template, protocol, n_dimensions",
    [
        ("empo-rating", "rating", 5),
        ("prosocial-pairwise", "pairwise", 5),
        ("dexperts-ab", "pairwise", 3),
    ],
)
def test_a_draft_is_created_from_each_template(client, var_dir, template, protocol, n_dimensions):
    response = create(client, template, f"my-{template}")
    assert response.status_code == 302 and response["Location"] == editor_url(f"my-{template}")
    study = Study.objects.get(name=f"my-{template}")
    assert study.status == Study.Status.DRAFT
    assert study.protocol == protocol and len(study.dimensions) == n_dimensions
    assert study.batches.exists() and study.items.exists()
    # the data files are the study's own, in its folder
    folder = var_dir / "uploads" / study.name
    assert (folder / "contexts.jsonl").is_file() and not (folder / "spec.yaml").exists()
    version = StudySpecVersion.objects.get(study=study)
    assert version.number == 1 and version.spec_hash == study.spec_hash
    assert version.created_by.username == "rita" and "name: my-" in version.spec_source
    page = client.get(editor_url(study.name))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="design-per-system"' in html and "<pre>" not in html
    assert 'id="spec-source"' in html and "readonly" not in html.split('id="spec-source"')[1][:200]


def test_the_design_is_shown_as_tables(client):
    create(client, "empo-rating", "tables")
    page = client.get(editor_url("tables"))
    design = page.context["design"]
    by_id = {t["id"]: t for t in design["tables"]}
    assert by_id["design-per-system"]["rows"] == [
        ["baseline", "24"],
        ["sft", "24"],
        ["human", "24"],
    ]
    assert by_id["design-block-position"]["columns"] == ["", "b1", "b2", "b3"]
    assert ("Judgments", "72") in design["summary"]
    assert ("Block orders", "yes") in design["balance"]
    assert "design-attention" in by_id


def test_a_name_taken_or_no_slug_creates_nothing(client):
    create(client, "empo-rating", "taken")
    again = create(client, "prosocial-pairwise", "taken")
    assert again.status_code == 400
    assert any(
        p["field"] == "name" and "already exists" in p["reason"] for p in again.context["problems"]
    )
    bad = create(client, "empo-rating", "Not a slug\nprotocol: pairwise")
    assert bad.status_code == 400
    assert [p["field"] for p in bad.context["problems"]] == ["name"]
    assert list(Study.objects.values_list("name", flat=True)) == ["taken"]


def test_a_validation_error_is_shown_where_it_is_and_saving_it_changes_nothing(client):
    create(client, "empo-rating", "typo")
    study = Study.objects.get(name="typo")
    good = study.spec_source
    before = state_of(study)
    bad = good.replace("type: slider", "type: sliderr", 1)

    live = validate(client, "typo", bad)
    assert not live["valid"]
    [problem] = live["problems"]
    assert problem["text"].startswith("dimensions[0].type: 'sliderr' is not one of slider")
    assert bad.splitlines()[problem["line"] - 1].strip() == "type: sliderr"

    refused = save(client, "typo", bad)
    assert refused.status_code == 400
    assert "dimensions[0].type" in refused.content.decode()
    assert refused.context["source"] == bad  # the text typed is kept in the page
    assert state_of(study) == before

    # fixed: saved, the design made again, a second version kept
    fixed = good.replace("overlap: 2", "overlap: 4")
    assert validate(client, "typo", fixed) == {"valid": True, "problems": []}
    assert save(client, "typo", fixed).status_code == 302
    study.refresh_from_db()
    assert (
        study.spec["design"]["overlap"] == 4 and study.design_report["report"]["n_judgments"] == 144
    )
    assert list(study.spec_versions.values_list("number", flat=True)) == [1, 2]
    assert study.spec_versions.get(number=2).spec_source == fixed
    # the same text again keeps no new version
    assert save(client, "typo", fixed).status_code == 302
    assert study.spec_versions.count() == 2


def test_yaml_and_schema_problems_name_their_line_and_field():
    source = (TEMPLATES / "empo-rating" / "spec.yaml").read_text()
    folder = TEMPLATES / "empo-rating"
    [broken] = check_source(source.replace("protocol: rating", "protocol: [rating"), folder)
    assert broken.check == "yaml" and broken.line is not None and "invalid YAML" in broken.reason
    found = {p.field: p for p in check_source(source.replace("title:", "titel:"), folder)}
    title_line = next(
        i for i, line in enumerate(source.splitlines(), 1) if line.startswith("title:")
    )
    assert found["titel"].reason.startswith("unknown field") and found["titel"].line == title_line
    assert found["title"].reason == "is required"
    lines = field_lines(source)
    assert source.splitlines()[lines["design.overlap"] - 1].strip() == "overlap: 2"
    # the schema's own problems are listed for a field the spec does not word itself
    schema_only = check_source(source.replace("batch_size: 6", "batch_size: 6.5"), folder)
    assert [p.field for p in schema_only] == ["design.batch_size"]


@pytest.mark.parametrize("path", ["/etc/passwd", "../other/contexts.jsonl", "a\\b.jsonl"])
def test_data_paths_must_stay_in_the_study_folder(client, path):
    create(client, "empo-rating", "confined")
    study = Study.objects.get(name="confined")
    bad = study.spec_source.replace("file: contexts.jsonl", f"file: {json.dumps(path)}")
    [problem] = validate(client, "confined", bad)["problems"]
    assert problem["field"] == "contexts.file" and "uploaded with the spec" in problem["reason"]


def test_an_uploaded_data_file_is_checked_with_the_readers_and_replaces_the_old_one(
    client, var_dir
):
    create(client, "prosocial-pairwise", "uploads")
    study = Study.objects.get(name="uploads")
    folder = var_dir / "uploads" / "uploads"
    old = (folder / "guided.jsonl").read_bytes()
    before = state_of(study)
    broken = SimpleUploadedFile("guided.jsonl", old + b'{"context_id": "pd-001"}\n')
    refused = save(client, "uploads", study.spec_source + "\n", [broken])
    assert refused.status_code == 400
    problems = refused.context["problems"]
    assert problems and all(p["field"] == "systems[0].responses" for p in problems)
    assert all(p["reason"].startswith("guided.jsonl:9: ") for p in problems)
    assert (folder / "guided.jsonl").read_bytes() == old and state_of(study) == before

    rows = [json.loads(line) for line in old.decode().splitlines()]
    rows[0]["response"] = "A new reply, uploaded in the editor."
    changed = "".join(json.dumps(r) + "\n" for r in rows).encode()
    upload = SimpleUploadedFile("guided.jsonl", changed)
    assert save(client, "uploads", study.spec_source, [upload]).status_code == 302
    assert (folder / "guided.jsonl").read_bytes() == changed
    texts = Candidate.objects.filter(
        id__in=study.items.values("candidate_id")
    ) | Candidate.objects.filter(id__in=study.items.values("candidate_b_id"))
    assert "A new reply, uploaded in the editor." in set(texts.values_list("text", flat=True))
    study.refresh_from_db()
    assert study.spec_versions.count() == 2  # same text, new data: a version
    assert (
        study.spec_versions.get(number=2).data_digests
        != study.spec_versions.get(number=1).data_digests
    )


def test_a_spec_uploaded_with_its_files_becomes_a_draft(client, var_dir):
    spec = (EXAMPLES / "demo_rating.yaml").read_text().replace("demo-empathy-rating", "uploaded")
    files = [
        SimpleUploadedFile(p.name, p.read_bytes())
        for p in sorted((EXAMPLES / "data").glob("empathy_*.jsonl"))
    ]
    missing = client.post(
        reverse("console-new-study"), {"spec": SimpleUploadedFile("s.yaml", spec.encode())}
    )
    assert missing.status_code == 400
    fields = [p["field"] for p in missing.context["problems"]]
    assert fields == ["contexts.file", "systems[0].responses", "systems[1].responses"]
    assert "file not found" in missing.context["problems"][0]["reason"]
    assert not Study.objects.exists()
    response = client.post(
        reverse("console-new-study"),
        {"spec": SimpleUploadedFile("s.yaml", spec.encode()), "files": files},
    )
    assert response.status_code == 302
    study = Study.objects.get(name="uploaded")
    assert study.status == Study.Status.DRAFT and study.spec_source == spec
    # placed where the spec names them (data/...)
    assert (var_dir / "uploads" / "uploaded" / "data" / "empathy_contexts.jsonl").is_file()


def test_the_spec_is_frozen_once_the_study_is_opened(client):
    create(client, "dexperts-ab", "opened-once")
    study = Study.objects.get(name="opened-once")
    status_url = reverse("console-study-status", args=["opened-once"])
    assert client.post(status_url, {"action": "open"}).status_code == 302
    before = state_of(study)
    assert before[2] == Study.Status.OPEN

    changed = study.spec_source.replace("overlap: 2", "overlap: 1")
    refused = save(client, "opened-once", changed)
    assert refused.status_code == 409
    assert "spec is frozen once it is opened" in refused.content.decode()
    assert state_of(study) == before
    first = validate(client, "opened-once", changed)["problems"][0]
    assert first["field"] == "status" and "frozen once it is opened" in first["reason"]
    page = client.get(editor_url("opened-once")).content.decode()
    assert 'id="frozen-note"' in page and "readonly" in page.split('id="spec-source"')[1][:300]
    with pytest.raises(StudyBuildError, match="frozen once it is opened"):
        rebuild_draft(
            study, editor.load_source(changed, editor.study_folder("opened-once")), changed
        )
    assert state_of(study) == before


def test_open_pause_close_from_the_study_page(client):
    create(client, "empo-rating", "lifecycle")
    url = reverse("console-study-status", args=["lifecycle"])
    page = client.get(reverse("console-study", args=["lifecycle"])).content.decode()
    assert 'id="status-open"' in page and 'id="status-pause"' not in page
    assert 'id="editor-link"' in page

    def after(action):
        client.post(url, {"action": action})
        return Study.objects.get(name="lifecycle").status

    assert after("pause") == "draft"  # a draft cannot be paused
    assert after("close") == "draft"
    assert after("open") == "open"
    assert after("pause") == "paused"
    assert after("open") == "open"
    assert after("close") == "closed"
    assert after("bogus") == "closed"
    assert client.get(url).status_code == 405


def test_a_viewer_may_look_but_not_change(client):
    from console.models import Role, StudyMembership

    create(client, "empo-rating", "watched")
    study = Study.objects.get(name="watched")
    viewer = researcher("vera")
    StudyMembership.objects.create(study=study, user=viewer, role=Role.VIEWER)
    other = Client()
    other.force_login(viewer)
    page = other.get(editor_url("watched"))
    assert page.status_code == 200 and page.context["editable"] is False
    assert other.get(reverse("console-preview-item", args=["watched", 1])).status_code == 200
    before = state_of(study)
    assert save(other, "watched", study.spec_source + "\n").status_code == 404
    assert (
        other.post(
            reverse("console-study-status", args=["watched"]), {"action": "open"}
        ).status_code
        == 404
    )
    assert state_of(study) == before


def test_the_creator_owns_the_study():
    creator = researcher("nora")
    c = Client()
    c.force_login(creator)
    assert create(c, "empo-rating", "nora-study").status_code == 302
    study = Study.objects.get(name="nora-study")
    assert access.can(creator, study, "manage")
    assert c.get(editor_url("nora-study")).status_code == 200


def test_a_draft_is_closed_to_annotators(client):
    create(client, "prosocial-pairwise", "not-yet")
    annotator = Client()
    page = annotator.get("/a/not-yet/?PROLIFIC_PID=early-bird", follow=True)
    assert page.status_code == 200
    assert "This study is not open yet" in page.content.decode()
    for step in ("warning", "consent", "instructions", "item"):
        annotator.post(f"/a/not-yet/{step}/", {"consent": "yes", "continue": "yes"})
    assert not Participant.objects.exists()


def test_the_item_preview_is_the_annotators_page_and_writes_nothing(client):
    create(client, "empo-rating", "preview")
    study = Study.objects.get(name="preview")
    counts = (Participant.objects.count(), Assignment.objects.count(), Judgment.objects.count())
    url = reverse("console-preview-item", args=["preview", 1])
    page = client.get(url)
    assert page.status_code == 200
    assert "annotation/item.html" in [t.name for t in page.templates]
    html = page.content.decode()
    assert 'id="preview-banner"' in html and "Nothing you answer here is saved" in html
    first = study.batches.order_by("index").first().entries.order_by("position").first()
    assert first.item.candidate.text.split("'")[0][:20] in html
    assert html.count('class="dimension"') == len(study.dimensions)
    assert 'id="judgment-form"' in html and 'form.setAttribute("action", "#")' in html
    # every item of the first batch, then none
    n = study.batches.order_by("index").first().entries.count()
    assert client.get(reverse("console-preview-item", args=["preview", n])).status_code == 200
    assert client.get(reverse("console-preview-item", args=["preview", n + 1])).status_code == 404
    # its form posts nowhere that stores anything
    assert client.post(url, {"entry_id": first.id, "idempotency_key": "x"}).status_code == 405
    assert (
        counts
        == (
            Participant.objects.count(),
            Assignment.objects.count(),
            Judgment.objects.count(),
        )
        == (0, 0, 0)
    )


def test_with_name_sets_only_the_top_level_name():
    text = "# x\nname: old\ntitle: t\ndimensions:\n  - name: keep\n"
    assert with_name(text, "new") == "# x\nname: new\ntitle: t\ndimensions:\n  - name: keep\n"


def test_the_spec_source_and_its_versions_are_readable(client):
    create(client, "empo-rating", "sources")
    study = Study.objects.get(name="sources")
    now = client.get(reverse("console-spec-source", args=["sources"]))
    assert now.status_code == 200 and now.content.decode() == study.spec_source
    v1 = client.get(reverse("console-spec-source", args=["sources"]) + "?version=1")
    assert v1.content.decode() == study.spec_source
    assert (
        client.get(reverse("console-spec-source", args=["sources"]) + "?version=9").status_code
        == 404
    )


def _keys_reversed(value):
    """The same data with every mapping's keys in reverse order (as jsonb may give them)."""
    if isinstance(value, dict):
        return {k: _keys_reversed(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_keys_reversed(v) for v in value]
    return value


@pytest.mark.parametrize("template", ["empo-rating", "prosocial-pairwise"])
def test_design_tables_keep_the_spec_order_whatever_the_stored_key_order(template):
    from annotation.spec import load_contexts, load_spec
    from console.design_tables import design_view

    spec = load_spec(TEMPLATES / template / "spec.yaml")
    report = spec.make_design(spec.sample(load_contexts(spec.contexts_path))).report
    view = design_view(report)
    assert design_view(_keys_reversed(report)) == view
    first_column = {t["id"]: [row[0] for row in t["rows"]] for t in view["tables"]}
    if spec.protocol == "rating":
        assert first_column["design-per-system"] == [s.name for s in spec.systems]
    else:
        [sides] = [t for t in view["tables"] if t["id"] == "design-sides"]
        assert sides["rows"] == [["guided vs vanilla", "8", "8"]]
