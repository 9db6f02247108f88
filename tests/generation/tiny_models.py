"""Tiny models for the generation tests, built on the fly and saved in the real formats.

Every builder trains a byte-level BPE tokenizer with the `tokenizers` library on a few
sentences, builds a 2-layer model with hidden size 32 and random weights (a fixed seed), and
writes both with `save_pretrained` so the code under test loads them through the same
`from_pretrained` path a real checkpoint takes. Nothing is downloaded.

Plain functions (`build_*`) plus session-scoped pytest fixtures; a test module uses the
fixtures by listing this module in its `pytest_plugins`.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

SENTENCES = [
    "I had a great day at the beach with my family.",
    "My dog passed away last week and I miss him so much.",
    "That sounds really hard, I am so sorry to hear that.",
    "Congratulations! You must be so proud of yourself.",
    "What happened next? Did you talk to your boss?",
    "I was so scared when the lights went out during the storm.",
    "It is normal to feel nervous before a big interview.",
    "We finally bought a house after saving for years.",
    "Speaker: I failed my driving test again today.",
    "Listener: Oh no, that is frustrating. Will you try again?",
    "<|user|>\nHow are you?\n<|assistant|>\nI am fine, thanks for asking!\n<|system|>\nBe brief.",
]

# A short chat template in the style of Zephyr's (<|system|>/<|user|>/<|assistant|> blocks, each
# closed by the end-of-sequence token); written here, not copied from a checkpoint.
ZEPHYR_STYLE_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + eos_token + '\n' }}"
    "{% elif message['role'] == 'system' %}{{ '<|system|>\n' + message['content'] + eos_token + '\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

# A template with no system role that insists on user/assistant alternation starting with the
# user, like several real ones (Mistral-instruct, Llama-2-chat).
STRICT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% else %}{{ message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
)


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def train_tokenizer(special_tokens: list[str], vocab_size: int = 320):
    """A byte-level BPE `tokenizers.Tokenizer` trained on `SENTENCES`; the special tokens get
    ids 0, 1, ... in the order given."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(SENTENCES * 4, trainer)
    return tok


def _wrap(tok, **special):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tok, **special)


def build_gpt2(
    path: str | os.PathLike,
    *,
    seed: int = 0,
    chat_template: str | None = None,
    n_positions: int = 128,
    init_std: float = 0.3,
    vocab_size: int = 320,
    save_tokenizer: bool = True,
) -> Path:
    """Tiny GPT-2 (2 layers, hidden 32); '<|endoftext|>' is BOS, EOS and unknown; no pad token."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    _quiet_transformers()
    path = Path(path)
    tok = train_tokenizer(["<|endoftext|>"], vocab_size)
    fast = _wrap(
        tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )
    if chat_template is not None:
        fast.chat_template = chat_template
    config = GPT2Config(
        vocab_size=tok.get_vocab_size(),
        n_positions=n_positions,
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_inner=64,
        bos_token_id=0,
        eos_token_id=0,
        initializer_range=init_std,
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    model.save_pretrained(path)
    if save_tokenizer:
        fast.save_pretrained(path)
    return path


def build_mistral(
    path: str | os.PathLike,
    *,
    seed: int = 0,
    chat_template: str | None = ZEPHYR_STYLE_TEMPLATE,
    sliding_window: int | None = None,
    init_std: float = 0.3,
) -> Path:
    """Tiny Mistral (2 layers, hidden 32, 4 query heads sharing 2 key/value heads: the shapes
    of Zephyr-7B in miniature). The tokenizer adds '<s>' in front like Llama/Mistral's."""
    import torch
    from tokenizers import processors
    from transformers import MistralConfig, MistralForCausalLM

    _quiet_transformers()
    path = Path(path)
    tok = train_tokenizer(["<unk>", "<s>", "</s>"], 320)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    fast = _wrap(tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    if chat_template is not None:
        fast.chat_template = chat_template
    config = MistralConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        sliding_window=sliding_window,
        bos_token_id=1,
        eos_token_id=2,
        initializer_range=init_std,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = MistralForCausalLM(config)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


def build_t5(path: str | os.PathLike, *, seed: int = 1, init_factor: float = 3.0) -> Path:
    """Tiny T5 (2+2 layers, d_model 32); the tokenizer appends '</s>' like T5's. (Random T5s
    tend to repeat one token greedily; this seed and scale give varied greedy outputs.)"""
    import torch
    from tokenizers import processors
    from transformers import T5Config, T5ForConditionalGeneration

    _quiet_transformers()
    path = Path(path)
    tok = train_tokenizer(["<pad>", "</s>", "<unk>"], 320)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    fast = _wrap(tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    config = T5Config(
        vocab_size=tok.get_vocab_size(),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        dropout_rate=0.0,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        initializer_factor=init_factor,
    )
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


def build_lora_adapter(
    base_path: str | os.PathLike,
    path: str | os.PathLike,
    *,
    seed: int = 1,
    b_std: float = 0.5,
    target_modules: tuple[str, ...] = ("c_attn", "c_fc"),
) -> Path:
    """A LoRA adapter for a tiny GPT-2. PEFT initialises B to zero (no effect); `b_std` > 0
    fills B with random values so the adapter changes the outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    _quiet_transformers()
    path = Path(path)
    base = AutoModelForCausalLM.from_pretrained(str(base_path))
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=list(target_modules),
        fan_in_fan_out=True,
        lora_dropout=0.0,
    )
    model = get_peft_model(base, config)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, b_std) if b_std > 0 else param.zero_()
    model.save_pretrained(str(path))
    return path


# ---------------------------------------------------------------------------------------------
# session fixtures


@pytest.fixture(scope="session")
def torch_one_thread():
    """Tiny models are dominated by per-op overhead: one intra-op thread is faster, and much
    steadier on a shared, loaded CI machine, than two threads waiting on each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory, torch_one_thread) -> Path:
    return build_gpt2(tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(scope="session")
def tiny_gpt2_chat(tmp_path_factory, torch_one_thread) -> Path:
    return build_gpt2(tmp_path_factory.mktemp("gpt2_chat"), chat_template=ZEPHYR_STYLE_TEMPLATE)


@pytest.fixture(scope="session")
def tiny_gpt2_expert(tmp_path_factory, torch_one_thread) -> Path:
    """Same tokenizer and shapes as `tiny_gpt2`, other weights (a stand-in expert)."""
    return build_gpt2(tmp_path_factory.mktemp("gpt2_expert"), seed=11)


@pytest.fixture(scope="session")
def tiny_gpt2_antiexpert(tmp_path_factory, torch_one_thread) -> Path:
    return build_gpt2(tmp_path_factory.mktemp("gpt2_anti"), seed=12, save_tokenizer=False)


@pytest.fixture(scope="session")
def tiny_mistral(tmp_path_factory, torch_one_thread) -> Path:
    return build_mistral(tmp_path_factory.mktemp("mistral"))


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory, torch_one_thread) -> Path:
    return build_t5(tmp_path_factory.mktemp("t5"))


@pytest.fixture(scope="session")
def tiny_lora(tmp_path_factory, tiny_gpt2) -> Path:
    return build_lora_adapter(tiny_gpt2, tmp_path_factory.mktemp("lora"))


@pytest.fixture(scope="session")
def tiny_lora_zero(tmp_path_factory, tiny_gpt2) -> Path:
    return build_lora_adapter(tiny_gpt2, tmp_path_factory.mktemp("lora_zero"), b_std=0.0)
