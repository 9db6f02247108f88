"""register_system renders sample contexts (built-in dialogue shapes, and a dataset's contexts
with --dataset) with the system's prompt style: a strict chat template (no system role, must
start with the user and alternate, as Mistral-instruct's and Llama-2-chat's) either renders
every context of the demo datasets or is refused at registration with the rule it breaks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings

from generation.backends import load_causal_system
from generation.datasets import import_dataset
from generation.models import System
from generation.services import register_system
from generation.validation import SystemConfigError
from generation.worker import render_turns

pytest_plugins = ["tests.generation.tiny_models"]
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.models,
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning"),
]

EXAMPLES = Path(settings.BASE_DIR) / "examples"
JSONL = {"id": "id", "turns": "turns", "reference": "reference"}
#: The demo studies' contexts and the example files of each importer.
DEMO_DATASETS = [
    ("jsonl", "data/empathy_contexts.jsonl", JSONL, "Listener"),
    ("jsonl", "data/prosocial_contexts.jsonl", JSONL, "Speaker 2"),
    ("empathetic_dialogues", "datasets/empathetic_dialogues.csv", {"all_prefixes": "true"}, None),
    ("prosocial_dialog", "datasets/prosocial_dialog.json", {}, None),
    ("real_toxicity_prompts", "datasets/real_toxicity_prompts.jsonl", {}, None),
]
USER_ONLY = (
    "{% for m in messages %}{% if m['role'] != 'user' %}"
    "{{ raise_exception('Only user messages are supported') }}{% endif %}"
    "{{ m['content'] }}{% endfor %}"
)


def with_template(source: Path, target: Path, template: str) -> Path:
    from transformers import AutoTokenizer

    shutil.copytree(source, target)
    tok = AutoTokenizer.from_pretrained(str(target))
    tok.chat_template = template
    tok.save_pretrained(str(target))
    return target


@pytest.fixture(scope="module")
def strict_model(tiny_gpt2, tmp_path_factory):
    from .tiny_models import STRICT_TEMPLATE

    return with_template(tiny_gpt2, tmp_path_factory.mktemp("strict") / "m", STRICT_TEMPLATE)


@pytest.mark.parametrize(("fmt", "file", "options", "speaker"), DEMO_DATASETS)
def test_a_strict_template_renders_every_context_of_the_demo_datasets(
    strict_model, fmt, file, options, speaker
):
    dataset, _ = import_dataset(fmt, EXAMPLES / file, "demo", options=options, skip_bad=True)
    config = {"path": str(strict_model), "chat_template": True, "system_prompt": "Be kind."}
    if speaker:
        config["model_speaker"] = speaker
    system = register_system("strict", "hf_causal", config, dataset="demo")
    assert system.config["model_speaker"] == speaker if speaker else True
    loaded = load_causal_system(strict_model, system_prompt="Be kind.", model_speaker=speaker)
    contexts = list(dataset.contexts.all())
    assert contexts
    for context in contexts:
        text = loaded.render_prompt(render_turns(context))
        assert text.startswith("[INST] Be kind.\n\n") and text.endswith(" [/INST]")


def test_a_template_rule_no_context_form_meets_is_refused_with_the_rule(tiny_gpt2, tmp_path):
    model = with_template(tiny_gpt2, tmp_path / "user-only", USER_ONLY)
    with pytest.raises(SystemConfigError) as error:
        register_system("u", "hf_causal", {"path": str(model), "chat_template": True})
    [problem] = error.value.problems
    assert problem.field == "chat_template"
    assert "the template's rule: Only user messages are supported" in problem.reason
    assert "shape 3" in problem.reason  # the first context that breaks it is named
    assert not System.objects.exists()


def test_a_model_speaker_that_ends_the_dataset_contexts_is_refused(strict_model):
    import_dataset("jsonl", EXAMPLES / "data/empathy_contexts.jsonl", "ed", options=JSONL)
    config = {"path": str(strict_model), "chat_template": True, "model_speaker": "Speaker"}
    with pytest.raises(SystemConfigError) as error:
        register_system("s", "hf_causal", config, dataset="ed")
    [problem] = error.value.problems
    assert problem.field == "model_speaker"
    assert (
        "context 'ed-001'" in problem.reason and "ends with a turn of 'Speaker'" in problem.reason
    )
    with pytest.raises(SystemConfigError, match="no dataset named 'nope'"):
        register_system("s", "hf_causal", config, dataset="nope")


def test_the_command_checks_a_dataset_with_dataset(strict_model):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    import_dataset("jsonl", EXAMPLES / "data/empathy_contexts.jsonl", "ed", options=JSONL)
    args = ["register_system", "s", "--kind", "hf_causal", "--path", str(strict_model)]
    with pytest.raises(CommandError) as error:
        call_command(*args, "--set", "model_speaker=Speaker", "--dataset", "ed")
    assert "model_speaker: context 'ed-001'" in str(error.value)
    out = io.StringIO()
    call_command(*args, "--set", "model_speaker=Listener", "--dataset", "ed", stdout=out)
    assert "registered system 's'" in out.getvalue()
    assert System.objects.get(name="s").config["model_speaker"] == "Listener"
