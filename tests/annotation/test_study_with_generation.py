"""A study spec with a generated system (hf_causal over a tiny GPT-2) builds with generated
candidates: generation runs first (in-process: no broker), then the study's transaction."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import Item, Study
from annotation.spec import load_spec
from annotation.study_builder import StudyBuildError, build_study, generate_missing_candidates
from generation.models import Candidate, Context, GenerationJob, System
from generation.services import register_system

pytest_plugins = ["tests.generation.tiny_models"]
pytestmark = [pytest.mark.django_db, pytest.mark.models]
EXAMPLES = Path(settings.BASE_DIR) / "examples"


def spec_copy(
    tmp_path: Path, config: dict | None, *, name: str = "gen-study", registered: bool = False
) -> Path:
    """demo_rating.yaml with its 'baseline' system replaced by a generated hf_causal one."""
    if not (tmp_path / "data").exists():
        shutil.copytree(EXAMPLES / "data", tmp_path / "data")
    spec = yaml.safe_load((EXAMPLES / "demo_rating.yaml").read_text())
    spec["name"] = name
    system = {"name": "baseline", "kind": "hf_causal", "label": "Tiny GPT-2"}
    if config is not None:
        system["config"] = config
    spec["systems"][0] = system
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def gpt2_config(tiny_gpt2: Path, tmp_path: Path) -> dict:
    # A path relative to the spec's folder, flat decoding parameters as in reference.yaml.
    shutil.copytree(tiny_gpt2, tmp_path / "models" / "gpt2", dirs_exist_ok=True)
    return {
        "model": "models/gpt2",
        "device": "cpu",
        "max_new_tokens": 8,
        "min_new_tokens": 2,
        "do_sample": True,
        "top_p": 0.9,
        "seed": 1,
        "samples_per_context": 2,
        "sample_index": 1,
        "chunk_size": 5,
    }


def test_a_spec_with_an_hf_causal_system_builds_with_generated_candidates(
    tiny_gpt2, tmp_path, capsys
):
    path = spec_copy(tmp_path, gpt2_config(tiny_gpt2, tmp_path))
    built = build_study(path)
    study = built.study
    job = GenerationJob.objects.get()
    assert job.status == "completed" and job.samples_per_context == 2 and job.chunk_size == 5
    assert job.decoding["max_new_tokens"] == 8 and job.decoding["seed"] == 1
    assert job.contexts.count() == 12 and Candidate.objects.filter(generation_job=job).count() == 24
    system = System.objects.get(name="baseline")
    assert system.kind == "hf_causal" and system.config["path"] == str(
        (tmp_path / "models" / "gpt2").resolve()
    )

    items = Item.objects.filter(study=study, candidate__system=system).select_related(
        "candidate", "context"
    )
    assert items.count() == 12
    for item in items:
        cand = item.candidate
        assert (
            cand.generation_job_id == job.pk and cand.sample_index == 1
        )  # the spec's sample_index
        assert cand.context_id == item.context_id
        assert cand.source_key == f"job:{job.pk}:{item.context_id}:1"
        assert cand.provenance["rendered_prompt"].endswith("Listener:")
        assert cand.provenance["backend_version"].startswith("hf_causal/")
    # The other systems are untouched: imported and reference candidates as before.
    assert Item.objects.filter(study=study, candidate__system__name="sft").count() == 12
    assert Item.objects.filter(study=study, candidate__system__name="human").count() == 12
    assert study.design_report["report"]["balanced"]["outputs"] is True
    assert (
        f"generating 24 of 24 candidates (job {job.pk}, in this process)" in capsys.readouterr().err
    )

    # The generation step again (same system, parameters and contexts) reuses the job.
    rows = {c.external_id: c for c in job.contexts.all()}
    again = generate_missing_candidates(load_spec(path), rows)
    assert (
        GenerationJob.objects.count() == 1
        and Candidate.objects.filter(generation_job=job).count() == 24
    )
    assert {cid: c.pk for cid, c in again["baseline"].items()} == {
        i.context.external_id: i.candidate_id for i in items
    }
    assert f"reusing the 24 candidates of generation job {job.pk}" in capsys.readouterr().err


def test_create_study_uses_a_registered_system_and_overrides_decoding(tiny_gpt2, tmp_path):
    register_system(
        "baseline",
        "hf_causal",
        {"path": str(tiny_gpt2), "device": "cpu", "max_new_tokens": 5, "min_new_tokens": 1},
    )
    path = spec_copy(
        tmp_path, {"seed": 11}, registered=True
    )  # no model options: the registered ones
    out = io.StringIO()
    call_command("create_study", str(path), stdout=out)
    assert "created study 'gen-study'" in out.getvalue()
    job = GenerationJob.objects.get()
    assert job.decoding["seed"] == 11 and job.decoding["max_new_tokens"] == 5
    assert job.backend_spec["path"] == str(tiny_gpt2.resolve())


def test_a_bad_generated_system_config_names_the_field_and_creates_nothing(tmp_path):
    path = spec_copy(tmp_path, {"model": "models/missing", "top_p": 7})
    with pytest.raises(StudyBuildError) as error:
        build_study(path)
    message = str(error.value)
    assert (
        f"systems[0].config.path: model folder '{tmp_path / 'models' / 'missing'}' does not exist"
        in message
    )
    assert "systems[0].config.decoding.top_p: top_p must be in (0, 1], not 7" in message
    assert Study.objects.count() == Context.objects.count() == System.objects.count() == 0
    with pytest.raises(CommandError, match=r"systems\[0\]\.config\.path"):
        call_command("create_study", str(path), stdout=io.StringIO())


def test_a_registered_name_with_other_model_options_is_refused(
    tiny_gpt2, tiny_gpt2_expert, tmp_path
):
    register_system("baseline", "hf_causal", {"path": str(tiny_gpt2)})
    path = spec_copy(tmp_path, {"path": str(tiny_gpt2_expert)})
    with pytest.raises(StudyBuildError, match="already registered with other model options"):
        build_study(path)
    assert GenerationJob.objects.count() == 0 and Study.objects.count() == 0


def test_a_failed_generation_fails_the_build_and_a_rerun_resumes(tiny_gpt2, tmp_path, monkeypatch):
    from generation import worker

    path = spec_copy(tmp_path, gpt2_config(tiny_gpt2, tmp_path))
    real = worker._generate
    calls = []

    def dies_on_second_chunk(job, todo, *args):
        calls.append(len(todo))
        if len(calls) == 2:
            raise RuntimeError("GPU fell off the bus")
        return real(job, todo, *args)

    monkeypatch.setattr(worker, "_generate", dies_on_second_chunk)
    with pytest.raises(
        StudyBuildError,
        match=r"systems\[0\]: generating the candidates of 'baseline' failed "
        r"\(job \d+, 10/24 stored\): RuntimeError: GPU fell off the bus",
    ):
        build_study(path)
    assert Study.objects.count() == 0
    monkeypatch.setattr(worker, "_generate", real)
    build_study(path)
    job = GenerationJob.objects.get()
    assert job.status == "completed" and Candidate.objects.filter(generation_job=job).count() == 24
    assert Study.objects.count() == 1
