"""register_system: systems are validated when registered (folders, configs, tokenizers,
adapters, vocabularies, decoding parameters); an error names the field and registers nothing."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from generation.models import System
from generation.validation import SystemConfigError, backend_spec, normalize_config

pytest_plugins = ["tests.generation.tiny_models"]
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.models,
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning"),
]


def run(*args) -> str:
    out = io.StringIO()
    call_command("register_system", *args, stdout=out)
    return out.getvalue()


def refused(*args) -> str:
    with pytest.raises(CommandError) as error:
        run(*args)
    assert System.objects.count() == 0
    return str(error.value)


def test_registers_a_causal_model_with_adapter_and_decoding(tiny_gpt2, tiny_lora):
    out = run(
        "zephyr-sft",
        "--kind",
        "hf_causal",
        "--path",
        str(tiny_gpt2),
        "--adapter",
        str(tiny_lora),
        "--set",
        "chat_template=false",
        "--set",
        "system_prompt=Be brief.",
        "--set",
        "max_new_tokens=12",
        "--set",
        "decoding.top_p=0.9",
        "--set",
        "samples_per_context=3",
        "--set",
        "dtype=float32",
    )
    assert "registered system 'zephyr-sft' (hf_causal)" in out
    system = System.objects.get()
    c = system.config
    assert c["path"] == str(tiny_gpt2.resolve()) and c["adapter_path"] == str(tiny_lora.resolve())
    assert (
        c["chat_template"] is False
        and c["system_prompt"] == "Be brief."
        and c["dtype"] == "float32"
    )
    assert c["decoding"]["max_new_tokens"] == 12 and c["decoding"]["top_p"] == 0.9
    assert c["decoding"]["do_sample"] is True and "num_return_sequences" not in c["decoding"]
    assert c["samples_per_context"] == 3 and c["sample_index"] == 0
    assert (
        c["checkpoint"]["model_type"] == "gpt2"
        and c["checkpoint"]["adapter"]["peft_type"] == "LORA"
    )
    assert backend_spec("hf_causal", c) == {
        "kind": "causal",
        "path": c["path"],
        "adapter_path": c["adapter_path"],
        "chat_template": False,
        "system_prompt": "Be brief.",
        "dtype": "float32",
    }


def test_missing_path_names_the_field(tmp_path):
    message = refused("m", "--kind", "hf_causal", "--path", str(tmp_path / "nope"))
    assert f"path: model folder '{tmp_path / 'nope'}' does not exist" in message
    assert "path: required: the model folder" in refused("m", "--kind", "hf_causal")


def test_a_folder_without_config_names_the_field(tmp_path):
    (tmp_path / "empty").mkdir()
    message = refused("m", "--kind", "hf_causal", "--path", str(tmp_path / "empty"))
    assert f"path: model folder '{tmp_path / 'empty'}' has no config.json" in message


def test_a_folder_without_tokenizer_names_the_field(tiny_gpt2, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_gpt2, bare)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (bare / name).unlink(missing_ok=True)
    message = refused("m", "--kind", "hf_causal", "--path", str(bare))
    assert message.count("\n") == 1 and "\npath: " in message and "no tokenizer files" in message


def test_bad_adapter_paths_name_the_field(tiny_gpt2, tmp_path):
    message = refused(
        "m", "--kind", "hf_causal", "--path", str(tiny_gpt2), "--adapter", str(tmp_path / "x")
    )
    assert f"adapter_path: adapter folder '{tmp_path / 'x'}' does not exist" in message
    # A model folder is not an adapter.
    message = refused(
        "m", "--kind", "hf_causal", "--path", str(tiny_gpt2), "--adapter", str(tiny_gpt2)
    )
    assert "adapter_path: " in message and "has no adapter_config.json" in message


def test_dexperts_with_mismatched_vocabularies_names_the_expert(
    tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_antiexpert, tmp_path
):
    from tests.generation.tiny_models import build_gpt2

    small = build_gpt2(tmp_path / "small", vocab_size=300, seed=5)
    message = refused(
        "dx",
        "--kind",
        "dexperts",
        "--path",
        str(tiny_gpt2),
        "--expert",
        str(small),
        "--anti-expert",
        str(tiny_gpt2_antiexpert),
    )
    assert (
        "expert_path: the expert in" in message
        and "vocabulary of 300 but the base model's has 320" in message
    )
    assert "antiexpert_path" not in message
    # The same folders in the right roles register (the anti-expert has no tokenizer of its own).
    run(
        "dx",
        "--kind",
        "dexperts",
        "--path",
        str(tiny_gpt2),
        "--expert",
        str(tiny_gpt2_expert),
        "--anti-expert",
        str(tiny_gpt2_antiexpert),
        "--set",
        "alpha=2.0",
    )
    c = System.objects.get(name="dx").config
    assert c["alpha"] == 2.0 and c["base_path"] == str(tiny_gpt2.resolve())
    assert backend_spec("dexperts", c)["kind"] == "dexperts"


def test_dexperts_with_another_tokenizer_names_the_field(tiny_gpt2, tiny_gpt2_antiexpert, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(tiny_gpt2, other)
    tok = json.loads((other / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    a, b = list(vocab)[5:7]
    vocab[a], vocab[b] = vocab[b], vocab[a]  # same size, two ids swapped
    (other / "tokenizer.json").write_text(json.dumps(tok))
    message = refused(
        "dx",
        "--kind",
        "dexperts",
        "--path",
        str(tiny_gpt2),
        "--expert",
        str(tiny_gpt2),
        "--anti-expert",
        str(other),
    )
    assert "antiexpert_path: the anti-expert tokenizer in" in message and "other ids" in message


def test_options_and_decoding_parameters_are_checked(tiny_gpt2):
    message = refused(
        "m",
        "--kind",
        "hf_causal",
        "--path",
        str(tiny_gpt2),
        "--set",
        "top_p=1.5",
        "--set",
        "temprature=0.7",
        "--set",
        "dtype=fp8",
        "--set",
        "chat_template=maybe",
        "--set",
        "sample_index=2",
    )
    assert "decoding.top_p: top_p must be in (0, 1], not 1.5" in message
    assert "temprature: unknown option for a hf_causal system; accepted: " in message
    assert "dtype: must be one of auto, bfloat16, float16, float32, not 'fp8'" in message
    assert "chat_template: must be true, false or null" in message
    assert "sample_index: 2 is not below samples_per_context (1)" in message
    message = refused(
        "m",
        "--kind",
        "hf_causal",
        "--path",
        str(tiny_gpt2),
        "--set",
        "do_sample=false",
        "--set",
        "samples_per_context=3",
    )
    assert "samples_per_context: samples_per_context > 1 with greedy decoding" in message


def test_chat_template_on_needs_one_in_the_tokenizer(tiny_gpt2, tiny_gpt2_chat):
    message = refused(
        "m", "--kind", "hf_causal", "--path", str(tiny_gpt2), "--set", "chat_template=true"
    )
    assert (
        "chat_template: is true but the tokenizer in" in message
        and "has no chat template" in message
    )
    run("chat", "--kind", "hf_causal", "--path", str(tiny_gpt2_chat), "--set", "chat_template=true")
    assert System.objects.get().config["checkpoint"]["has_chat_template"] is True


def test_seq2seq_checks_the_architecture(tiny_t5, tiny_gpt2):
    message = refused("t5", "--kind", "hf_seq2seq", "--path", str(tiny_gpt2))
    assert "path: " in message and "decoder-only" in message
    message = refused("t5", "--kind", "hf_causal", "--path", str(tiny_t5))
    assert "path: " in message and "encoder-decoder" in message
    run("t5", "--kind", "hf_seq2seq", "--path", str(tiny_t5), "--set", "max_new_tokens=8")
    assert System.objects.get().config["checkpoint"]["model_type"] == "t5"


def test_config_file_with_relative_paths_and_aliases(tiny_gpt2, tmp_path):
    shutil.copytree(tiny_gpt2, tmp_path / "models" / "gpt2")
    (tmp_path / "sys.yaml").write_text(
        "kind: hf_causal\nmodel: models/gpt2\nsystem_prompt: Answer kindly.\n"
        "decoding:\n  max_new_tokens: 20\n  top_k: 40\nseed: 4\n"
    )
    run("from-file", "--config", str(tmp_path / "sys.yaml"), "--set", "top_k=10")
    c = System.objects.get().config
    assert c["path"] == str((tmp_path / "models" / "gpt2").resolve())
    assert c["decoding"]["max_new_tokens"] == 20 and c["decoding"]["seed"] == 4
    assert c["decoding"]["top_k"] == 10  # --set wins over the file
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(CommandError, match="must hold a mapping"):
        run("x", "--config", str(tmp_path / "bad.json"))


def test_names_are_unique_and_replace_is_refused_once_there_are_candidates(tiny_gpt2):
    run("m", "--kind", "hf_causal", "--path", str(tiny_gpt2))
    with pytest.raises(CommandError, match="name: a system named 'm' is already registered"):
        run("m", "--kind", "hf_causal", "--path", str(tiny_gpt2))
    run(
        "m",
        "--kind",
        "hf_causal",
        "--path",
        str(tiny_gpt2),
        "--set",
        "max_new_tokens=7",
        "--replace",
    )
    assert System.objects.get().config["decoding"]["max_new_tokens"] == 7
    with pytest.raises(CommandError, match="name: must be a slug"):
        run("no spaces", "--kind", "reference")


def test_reference_and_imported_systems_take_no_config():
    run("human", "--kind", "reference")
    assert System.objects.get().config == {}
    with pytest.raises(CommandError, match="a imported system takes no configuration"):
        run("file", "--kind", "imported", "--set", "path=x")


def test_normalize_config_reports_every_problem_at_once():
    with pytest.raises(SystemConfigError) as error:
        normalize_config("dexperts", {"alpha": "big", "base_top_p": 2, "max_new_tokens": 0})
    fields = [p.field for p in error.value.problems]
    assert fields == [
        "base_path",
        "expert_path",
        "antiexpert_path",
        "alpha",
        "base_top_p_filter",
        "decoding.max_new_tokens",
    ]
    assert error.value.prefixed("systems[1].config.").splitlines()[0] == (
        "systems[1].config.base_path: required: the base model folder"
    )


def test_a_config_file_with_yaml_aliases_is_refused_with_its_line(tmp_path):
    """A billion-laughs config (a few lines that expand to gigabytes) is refused, not expanded."""
    laughs = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    (tmp_path / "laughs.yaml").write_text("kind: hf_causal\n" + laughs)
    with pytest.raises(CommandError, match=r"--config .*laughs\.yaml: line 2, column \d+: "):
        run("x", "--config", str(tmp_path / "laughs.yaml"))
    with pytest.raises(CommandError, match="duplicate key"):
        (tmp_path / "twice.yaml").write_text("kind: reference\nkind: imported\n")
        run("x", "--config", str(tmp_path / "twice.yaml"))
    assert not System.objects.exists()
