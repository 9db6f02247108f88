"""Loading real 7B checkpoints as EmPO did, tested as far as a CPU allows: the arguments given
to `from_pretrained` for 4-/8-bit (bitsandbytes), the attention implementation and a device
map; a quantised model is never moved with `.to`; clear errors for missing packages; the
options validated at registration."""

from __future__ import annotations

import pytest
import torch

from generation.backends import CheckpointError, DecodingParameters, load_causal_system, loading
from generation.backends.hf_causal import load_causal_model
from generation.validation import SystemConfigError, normalize_config

pytest_plugins = ["tests.generation.tiny_models"]
pytestmark = [
    pytest.mark.models,
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning"),
]

CUDA = torch.device("cuda", 0)  # only a device object: nothing runs on it here
GREEDY = DecodingParameters(do_sample=False, max_new_tokens=8)
PROMPTS = ["I had a great day", "My dog passed away last week.", "Hello"]


@pytest.fixture
def pretend_installed(monkeypatch):
    """bitsandbytes / flash-attn 'installed' (they are CUDA packages; not on this machine)."""
    monkeypatch.setattr(loading, "installed", lambda package: True)


def test_a_plain_load_is_moved_to_its_device():
    plan = loading.load_plan(torch.float32, torch.device("cpu"))
    assert plan.kwargs == {"dtype": torch.float32} and plan.move_to_device
    assert plan.static_cache_default == "auto"


def test_4bit_and_8bit_plans(pretend_installed):
    from transformers import BitsAndBytesConfig

    plan = loading.load_plan(torch.bfloat16, CUDA, quantization="4bit")
    q = plan.kwargs["quantization_config"]
    assert isinstance(q, BitsAndBytesConfig) and q.load_in_4bit and not q.load_in_8bit
    assert q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_compute_dtype == torch.bfloat16
    assert plan.kwargs["device_map"] == {"": 0} and not plan.move_to_device
    assert plan.static_cache_default is False
    eight = loading.load_plan(torch.float16, torch.device("cuda", 1), quantization="8bit")
    assert eight.kwargs["quantization_config"].load_in_8bit
    assert eight.kwargs["device_map"] == {"": 1}
    mapped = loading.load_plan(torch.bfloat16, CUDA, quantization="4bit", device_map="auto")
    assert mapped.kwargs["device_map"] == "auto"


def test_attention_and_device_map_plans(pretend_installed):
    plan = loading.load_plan(torch.bfloat16, CUDA, attn_implementation="flash_attention_2")
    assert plan.kwargs["attn_implementation"] == "flash_attention_2" and plan.move_to_device
    plan = loading.load_plan(torch.float32, torch.device("cpu"), attn_implementation="eager")
    assert plan.kwargs["attn_implementation"] == "eager"
    spread = loading.load_plan(torch.bfloat16, CUDA, device_map="balanced")
    assert spread.kwargs["device_map"] == "balanced" and not spread.move_to_device


def test_clear_errors_for_missing_packages_and_wrong_devices(monkeypatch):
    monkeypatch.setattr(loading, "installed", lambda package: False)
    with pytest.raises(
        CheckpointError, match=r"needs the bitsandbytes package.*evalsite\[quantization\]"
    ):
        loading.load_plan(torch.bfloat16, CUDA, quantization="4bit")
    with pytest.raises(CheckpointError, match="needs the flash-attn package"):
        loading.load_plan(torch.bfloat16, CUDA, attn_implementation="flash_attention_2")
    with pytest.raises(CheckpointError, match="device_map needs the accelerate package"):
        loading.load_plan(torch.bfloat16, CUDA, device_map="auto")
    monkeypatch.setattr(loading, "installed", lambda package: True)
    with pytest.raises(CheckpointError, match="needs a CUDA device, not cpu"):
        loading.load_plan(torch.float32, torch.device("cpu"), quantization="8bit")
    with pytest.raises(CheckpointError, match="CUDA device and bfloat16 or float16"):
        loading.load_plan(torch.float32, CUDA, attn_implementation="flash_attention_2")
    with pytest.raises(CheckpointError, match="quantization must be one of 4bit, 8bit"):
        loading.load_plan(torch.bfloat16, CUDA, quantization="2bit")
    with pytest.raises(CheckpointError, match="device_map must be one of"):
        loading.load_plan(torch.bfloat16, CUDA, device_map="everywhere")


def test_a_quantised_model_is_never_moved(pretend_installed, monkeypatch, tmp_path):
    from transformers import AutoModelForCausalLM

    class QuantisedStub:
        def to(self, *args, **kwargs):  # what transformers says for a bitsandbytes model
            raise ValueError("`.to` is not supported for `4-bit` or `8-bit` bitsandbytes models")

        def eval(self):
            return self

    given = {}

    def fake_from_pretrained(path, **kwargs):
        given.update(kwargs)
        return QuantisedStub()

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", fake_from_pretrained)
    plan = loading.load_plan(torch.bfloat16, CUDA, quantization="4bit")
    model = load_causal_model(tmp_path, torch.bfloat16, CUDA, plan)
    assert isinstance(model, QuantisedStub)
    assert given["quantization_config"].load_in_4bit and given["device_map"] == {"": 0}


def test_eager_attention_and_a_device_map_load_for_real(tiny_gpt2):
    default = load_causal_system(tiny_gpt2)
    eager = load_causal_system(tiny_gpt2, attn_implementation="eager")
    mapped = load_causal_system(tiny_gpt2, device_map={"": "cpu"})
    assert eager.model.config._attn_implementation == "eager"
    assert eager.describe()["attn_implementation"] == "eager"
    assert mapped.describe()["device_map"] == {"": "cpu"} and mapped.stepper.use_static is False
    want = [[g.token_ids for g in r] for r in default.generate(PROMPTS, GREEDY)]
    for system in (eager, mapped):
        assert [[g.token_ids for g in r] for r in system.generate(PROMPTS, GREEDY)] == want


def test_loading_options_are_validated_at_registration(tiny_gpt2):
    config = normalize_config(
        "hf_causal",
        {"path": str(tiny_gpt2), "attn_implementation": "eager", "quantization": "4bit"},
    )
    assert config["attn_implementation"] == "eager" and config["quantization"] == "4bit"
    with pytest.raises(SystemConfigError) as error:
        normalize_config(
            "hf_causal",
            {
                "path": str(tiny_gpt2),
                "device": "cpu",
                "quantization": "4bit",
                "attn_implementation": "flash",
                "device_map": "everywhere",
            },
            check_files=False,
        )
    fields = {p.field: p.reason for p in error.value.problems}
    assert fields["quantization"] == "4bit quantization (bitsandbytes) needs a CUDA device, not cpu"
    assert "one of auto, sdpa, eager, flash_attention_2" in fields["attn_implementation"]
    assert "a mapping of module names to devices" in fields["device_map"]
