"""The part every text system shares: prompt rendering and encoding, the `generate` driver
(work items, chunks, out-of-memory retries, seeds), the step-loop and HF-`generate` batch
decoders, and turning token ids into `GeneratedText` records."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from typing import Any

import torch

from .base import (
    FINISH_EOS,
    FINISH_LENGTH,
    FINISH_STOP_SEQUENCE,
    DecodingParameters,
    GeneratedText,
    InvalidParameters,
    backend_version,
    cut_at_stop_sequences,
    derive_seed,
    prompt_seeds_for,
)
from .batching import (
    PackedBatch,
    WorkItem,
    generate_chunked,
    is_out_of_memory,
    make_work,
    pack,
    seen_mask,
)
from .loop import decode_loop
from .prompts import PromptStyle, RenderedPrompt, fit_turns, render
from .sampling import uniforms_for_seeds
from .selfcheck import GraphSelfCheck

STEP_LOOP = "step_loop"
HF_GENERATE = "hf_generate"

Turn = tuple[str, str]


def _as_id_list(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


def collect_eos_ids(tokenizer, model) -> list[int]:
    """Every id that ends a sequence: tokenizer, model config and generation config."""
    ids: list[int] = []
    for source in (
        getattr(tokenizer, "eos_token_id", None),
        getattr(getattr(model, "generation_config", None), "eos_token_id", None),
        getattr(model.config, "eos_token_id", None),
    ):
        for i in _as_id_list(source):
            if i not in ids:
                ids.append(i)
    return ids


class TextSystem:
    """Base of `CausalSystem`, `Seq2SeqSystem` and `DExpertsSystem`.

    Subclasses set `backend_name`, `padding_side`, `is_encoder_decoder` and implement
    `_open(packed, max_new_tokens) -> (first_logits, step_fn, finish_fn)`.
    """

    backend_name = "text"
    padding_side = "left"
    is_encoder_decoder = False
    supports_hf_generate = True

    def __init__(
        self,
        *,
        tokenizer,
        model_for_ids,
        device: torch.device,
        dtype: torch.dtype,
        chat_template: bool,
        system_prompt: str | None,
        listener_label: str,
        max_prompt_positions: int | None,
        info: dict[str, Any],
        with_peft: bool = False,
        model_speaker: str | None = None,
        max_prompt_tokens: int | None = None,
    ):
        self.tokenizer = tokenizer
        self.device = device
        self.dtype = dtype
        self.chat_template = chat_template
        self.system_prompt = system_prompt
        self.listener_label = listener_label
        self.max_prompt_positions = max_prompt_positions
        self.max_prompt_tokens = max_prompt_tokens
        self.model_speaker = model_speaker
        self.style = PromptStyle(chat_template, system_prompt, listener_label, model_speaker)
        self.eos_ids = collect_eos_ids(tokenizer, model_for_ids)
        if tokenizer.pad_token_id is not None:
            self.pad_id = int(tokenizer.pad_token_id)
        elif self.eos_ids:
            self.pad_id = self.eos_ids[0]
        else:
            self.pad_id = 0
        self.version = backend_version(self.backend_name, with_peft=with_peft)
        self.hf_generate_version = backend_version(HF_GENERATE, with_peft=with_peft)
        self.info = dict(info)
        self.sync_every = 8 if device.type == "cuda" else 1
        self._lock = threading.Lock()
        self._graph_check: GraphSelfCheck | None = None

    # -- description ---------------------------------------------------------------------------

    @property
    def graph_check(self) -> GraphSelfCheck:
        """The CUDA-graph self-check of this system's steppers (selfcheck.py)."""
        if self._graph_check is None:
            self._graph_check = GraphSelfCheck(self._steppers())
        return self._graph_check

    @property
    def variant(self) -> str:
        return ""

    def describe(self) -> dict[str, Any]:
        """What to store with a system: enough to know exactly what produced a candidate."""
        return {
            "backend": self.backend_name,
            "backend_version": self.version,
            "variant": self.variant,
            "device": str(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
            "chat_template": self.chat_template,
            "system_prompt": self.system_prompt,
            "listener_label": self.listener_label,
            "model_speaker": self.model_speaker,
            "max_prompt_tokens": self.max_prompt_tokens,
            **self.graph_check.describe(),
            **self.info,
        }

    # -- prompts -------------------------------------------------------------------------------

    def render_prompt(self, turns: Sequence[Turn]) -> str:
        """The exact text fed to the tokenizer for a dialogue context, every turn kept.

        Roles and chat-template forms: see prompts.py (`model_speaker` says whose turns are the
        model's; otherwise the last turn is the user's and roles alternate backwards). Without a
        template: an optional system prompt line, "Speaker: text" lines, and a final
        "Listener:". Raises `PromptError` (a `ValueError`) naming the template's rule.
        """
        return render(self.tokenizer, turns, self.style).text

    def prepare_prompt(self, turns: Sequence[Turn], max_new_tokens: int) -> RenderedPrompt:
        """The context rendered to fit the system's prompt budget (`prompt_limit`): the
        earliest whole turns dropped first, BOS, system prompt and generation prompt kept.
        Pass the result to `generate`: the candidates record what was dropped."""
        return fit_turns(
            self.tokenizer, turns, self.style, self._encode_text, self.prompt_limit(max_new_tokens)
        )[0]

    def prompt_limit(self, max_new_tokens: int) -> int | None:
        """The most prompt tokens: `max_prompt_tokens` (the system's option) and what the
        model's positions leave after `max_new_tokens` (decoder-only), whichever is smaller."""
        limits = [self.max_prompt_tokens] if self.max_prompt_tokens is not None else []
        if self.max_prompt_positions is not None:
            room = self.max_prompt_positions
            if not self.is_encoder_decoder:
                room -= max_new_tokens
                if room < 1:
                    raise InvalidParameters(
                        f"max_new_tokens={max_new_tokens} leaves no room for a prompt "
                        f"(the model has {self.max_prompt_positions} positions)"
                    )
            limits.append(room)
        return min(limits) if limits else None

    def _add_special_tokens(self, text: str) -> bool:
        bos = getattr(self.tokenizer, "bos_token", None)
        return not (bos and text.startswith(bos))

    def _encode_text(self, text: str) -> list[int]:
        ids = list(
            self.tokenizer(text, add_special_tokens=self._add_special_tokens(text))["input_ids"]
        )
        if not ids:
            bos = getattr(self.tokenizer, "bos_token_id", None)
            if bos is None:
                raise InvalidParameters(
                    "empty prompt and the tokenizer has no BOS token to start from"
                )
            ids = [int(bos)]
        return ids

    def encode_prompt(self, text: str, max_new_tokens: int) -> tuple[list[int], int]:
        """Token ids of a rendered prompt, fitted to `prompt_limit`; (ids, tokens cut).

        A prompt that is still too long (a raw string, not made by `prepare_prompt`) keeps its
        last tokens, and its BOS token when it starts with one.
        """
        if not isinstance(text, str):
            raise InvalidParameters(f"prompts must be strings, not {type(text).__name__}")
        ids = self._encode_text(text)
        limit = self.prompt_limit(max_new_tokens)
        cut = 0
        if limit is not None and len(ids) > limit:
            cut = len(ids) - limit
            bos = getattr(self.tokenizer, "bos_token_id", None)
            if bos is not None and ids[0] == bos and limit > 1:
                ids = [ids[0], *ids[cut + 1 :]]
            else:
                ids = ids[cut:]
        return ids, cut

    def stop_checker(self, params: DecodingParameters):
        """The loop's stop test for `params.stop_sequences` (None without any): a row stops
        when the decoded text of its new tokens contains one. On text, not on the stop
        string's own tokens: SentencePiece and byte-level BPE tokenise a string differently
        alone and in context, and a stop sequence may span several tokens."""
        stops = params.stop_sequences
        if not stops:
            return None

        def check(tokens: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
            rows = active.nonzero().flatten().cpu().tolist()
            hit = torch.zeros(tokens.shape[0], dtype=torch.bool)
            if rows:
                texts = self.tokenizer.batch_decode(
                    tokens[rows].cpu().tolist(), skip_special_tokens=True
                )
                for row, text in zip(rows, texts, strict=True):
                    hit[row] = any(s in text for s in stops)
            return hit

        return check

    # -- generate ------------------------------------------------------------------------------

    def generate(
        self,
        prompts: Sequence[str | RenderedPrompt],
        params: DecodingParameters,
        batch_size: int = 16,
        *,
        prompt_seeds: Sequence[int] | None = None,
        backend: str = STEP_LOOP,
        batch_sizes_used: list[int] | None = None,
    ) -> list[list[GeneratedText]]:
        """Generate `params.num_return_sequences` continuations of each rendered prompt.

        `prompts`: texts, or `prepare_prompt` results (their form, dropped turns and cut tokens
        are recorded in the results). Returns one list per prompt (in the given order) of
        `GeneratedText`, sample 0 first. `batch_size` counts sequences (prompt x sample rows)
        decoded together. `backend`: "step_loop" (ours) or "hf_generate" (Hugging Face
        `generate`, for comparison).
        """
        if isinstance(prompts, str):
            raise InvalidParameters("prompts must be a list of strings, not one string")
        self._check_call(params, backend, batch_size)
        fitted = [p if isinstance(p, RenderedPrompt) else None for p in prompts]
        texts = [p.text if isinstance(p, RenderedPrompt) else p for p in prompts]
        encoded = [self.encode_prompt(p, params.max_new_tokens) for p in texts]
        out = self._generate_encoded(
            texts, encoded, params, batch_size, prompt_seeds, backend, batch_sizes_used
        )
        for per_prompt, fit in zip(out, fitted, strict=True):
            if fit is not None:
                per_prompt[:] = [
                    dataclasses.replace(
                        g,
                        prompt_form=fit.form,
                        prompt_dropped_turns=fit.dropped_turns,
                        prompt_truncated_tokens=g.prompt_truncated_tokens + fit.cut_tokens,
                    )
                    for g in per_prompt
                ]
        return out

    def generate_ids(
        self,
        prompt_ids: Sequence[Sequence[int]],
        params: DecodingParameters,
        batch_size: int = 16,
        *,
        prompt_seeds: Sequence[int] | None = None,
        backend: str = STEP_LOOP,
        batch_sizes_used: list[int] | None = None,
    ) -> list[list[GeneratedText]]:
        """Like `generate` for prompts that are already token ids (used as given, no special
        tokens added, no truncation); `rendered_prompt` is their decoded text."""
        self._check_call(params, backend, batch_size)
        encoded = []
        for ids in prompt_ids:
            ids = [int(i) for i in ids]
            if not ids:
                raise InvalidParameters("an empty list of prompt ids")
            encoded.append((ids, 0))
        texts = [self.tokenizer.decode(ids) for ids, _ in encoded]
        return self._generate_encoded(
            texts, encoded, params, batch_size, prompt_seeds, backend, batch_sizes_used
        )

    def _check_call(self, params, backend: str, batch_size) -> None:
        if not isinstance(params, DecodingParameters):
            raise InvalidParameters("params must be a DecodingParameters")
        if backend not in (STEP_LOOP, HF_GENERATE):
            raise InvalidParameters(
                f"backend must be {STEP_LOOP!r} or {HF_GENERATE!r}, not {backend!r}"
            )
        if backend == HF_GENERATE and not self.supports_hf_generate:
            raise InvalidParameters(f"{self.backend_name} has no hf_generate backend")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InvalidParameters(f"batch_size must be an integer >= 1, not {batch_size!r}")

    def _generate_encoded(
        self, prompts, encoded, params, batch_size, prompt_seeds, backend, batch_sizes_used
    ):
        if not prompts:
            return []
        seeds = prompt_seeds_for(params, len(prompts), prompt_seeds)
        items = make_work(
            [e[0] for e in encoded], [e[1] for e in encoded], seeds, params.num_return_sequences
        )

        def decode(chunk: list[WorkItem]) -> list[GeneratedText]:
            if backend == HF_GENERATE:
                return self._decode_batch_hf(chunk, params, prompts)
            return self._decode_batch(chunk, params, prompts)

        with self._lock:
            flat = generate_chunked(items, batch_size, decode, batch_sizes_used=batch_sizes_used)
        out: list[list[GeneratedText]] = [[] for _ in prompts]
        for g in flat:
            out[g.prompt_index].append(g)
        return out

    # -- the step loop -------------------------------------------------------------------------

    def _open(self, packed: PackedBatch, max_new_tokens: int):
        raise NotImplementedError

    def release(self) -> None:
        """Free per-batch caches, static caches and captured graphs (the model stays loaded)."""

    def _penalised_ids(self, packed: PackedBatch) -> list[tuple[int, ...]]:
        """The ids the repetition penalty starts from, per row, as transformers' processor sees
        them: a decoder-only model's prompt (padding excluded); an encoder-decoder's decoder
        input, i.e. its start token (the encoder prompt is not penalised)."""
        if self.is_encoder_decoder:
            return [(self._decoder_start_token_id(),)] * len(packed.row_ids)
        return packed.row_ids

    def _steppers(self) -> list[Any]:
        """The `CausalStepper`s whose modes the graph self-check governs (none for seq2seq)."""
        return []

    def _decode_batch(
        self, items: list[WorkItem], params: DecodingParameters, prompts: Sequence[str]
    ):
        check = self.graph_check
        width = max(len(it.ids) for it in items)
        if check.due(width, params.max_new_tokens):  # the first graph batch: prove it
            check.run(lambda p: self._loop_tokens(items, p), params)
        start = time.perf_counter()
        tokens = self._loop_tokens(items, params)
        elapsed = time.perf_counter() - start
        mode = check.batch_mode()
        check.note(mode)
        return self._finalize(
            items,
            tokens,
            params,
            prompts,
            elapsed,
            self.backend_name,
            self.version,
            mode=mode,
            fallback=check.fallback,
        )

    def _loop_tokens(self, items: list[WorkItem], params: DecodingParameters) -> list[list[int]]:
        """The step loop over one chunk: each row's new token ids."""
        packed = pack(items, self.pad_id, self.device, side=self.padding_side)
        try:
            first, step_fn, finish = self._open(packed, params.max_new_tokens)
        except Exception as exc:
            if is_out_of_memory(exc):
                self.release()  # drop caches and graphs before the retry with fewer rows
            raise
        try:
            vocab = first.shape[-1]
            uniforms = (
                uniforms_for_seeds([it.seed for it in items], params.max_new_tokens, self.device)
                if params.do_sample
                else None
            )
            seen = (
                seen_mask(self._penalised_ids(packed), vocab, self.device)
                if params.repetition_penalty not in (None, 1.0)
                else None
            )
            return decode_loop(
                first,
                step_fn,
                params=params,
                eos_ids=torch.tensor(self.eos_ids, dtype=torch.long, device=self.device),
                pad_id=self.pad_id,
                uniforms=uniforms,
                seen=seen,
                sync_every=self.sync_every,
                stop_check=self.stop_checker(params),
            )
        except Exception as exc:
            if is_out_of_memory(exc):
                finish()
                self.release()
            raise
        finally:
            finish()

    # -- Hugging Face generate, for comparison ------------------------------------------------

    def _hf_model(self):
        raise NotImplementedError

    @torch.inference_mode()
    def _decode_batch_hf(
        self, items: list[WorkItem], params: DecodingParameters, prompts: Sequence[str]
    ):
        """One row per item, HF `generate` with the same parameters. Sampling is seeded once per
        batch, so its samples depend on the batch's composition (unlike the step loop)."""
        from transformers import GenerationConfig

        start = time.perf_counter()
        model = self._hf_model()
        side = "right" if self.is_encoder_decoder else "left"
        rows = [WorkItem(it.prompt_index, 0, it.seed, it.ids) for it in items]
        # one row per item: make every row "unique" so that pack() keeps them all
        packed = pack(rows, self.pad_id, self.device, side=side)
        input_ids, attention_mask = packed.input_ids, packed.attention_mask
        if packed.row_map is not None:
            input_ids = input_ids.index_select(0, packed.row_map)
            attention_mask = attention_mask.index_select(0, packed.row_map)
        sampling = params.do_sample
        # greedy: leave the sampling knobs unset (HF warns about them and ignores them anyway)
        knobs = {"temperature": params.temperature, "top_p": params.top_p, "top_k": params.top_k}
        config = GenerationConfig(
            do_sample=sampling,
            **(knobs if sampling else {}),
            max_new_tokens=params.max_new_tokens,
            min_new_tokens=params.min_new_tokens,
            repetition_penalty=params.repetition_penalty or 1.0,
            no_repeat_ngram_size=0,
            num_return_sequences=1,
            num_beams=1,
            pad_token_id=self.pad_id,
            eos_token_id=list(self.eos_ids) or None,
        )
        if self.is_encoder_decoder:
            config.decoder_start_token_id = self._decoder_start_token_id()
        if sampling:
            torch.manual_seed(derive_seed(*[it.seed for it in items]))
        out = model.generate(
            input_ids=input_ids, attention_mask=attention_mask, generation_config=config
        )
        new = out[:, 1:] if self.is_encoder_decoder else out[:, input_ids.shape[1] :]
        new = new.cpu().tolist()
        stop_all = set(self.eos_ids)
        tokens = []
        for row in new:
            kept = []
            for tok in row:
                kept.append(tok)
                if tok in stop_all:
                    break
            tokens.append(self._through_first_stop(kept, params.stop_sequences))
        elapsed = time.perf_counter() - start
        return self._finalize(
            items,
            tokens,
            params,
            prompts,
            elapsed,
            HF_GENERATE,
            self.hf_generate_version,
            mode=HF_GENERATE,
        )

    def _decoder_start_token_id(self) -> int:
        raise NotImplementedError

    def _through_first_stop(self, tokens: list[int], stops: Sequence[str]) -> list[int]:
        """`tokens` up to the first one whose text completes a stop sequence (what the step
        loop's `stop_checker` keeps), for HF `generate`, which decodes on past it."""
        if not stops:
            return tokens
        for end in range(1, len(tokens) + 1):
            text = self.tokenizer.decode(tokens[:end], skip_special_tokens=True)
            if any(s in text for s in stops):
                return tokens[:end]
        return tokens

    # -- results -------------------------------------------------------------------------------

    def _finalize(
        self,
        items: list[WorkItem],
        token_lists: list[list[int]],
        params: DecodingParameters,
        prompts: Sequence[str],
        elapsed: float,
        backend: str,
        version: str,
        *,
        mode: str = "",
        fallback: str = "",
    ) -> list[GeneratedText]:
        share = elapsed / max(1, len(items))
        eos = set(self.eos_ids)
        results = []
        for it, toks in zip(items, token_lists, strict=True):
            finish = FINISH_LENGTH
            content = toks
            if toks and toks[-1] in eos:
                content, finish = toks[:-1], FINISH_EOS
            text = self.tokenizer.decode(content, skip_special_tokens=True)
            text, cut = cut_at_stop_sequences(text, params.stop_sequences)
            if cut:
                finish = FINISH_STOP_SEQUENCE
            results.append(
                GeneratedText(
                    prompt_index=it.prompt_index,
                    sample_index=it.sample_index,
                    text=text,
                    rendered_prompt=prompts[it.prompt_index],
                    prompt_tokens=len(it.ids),
                    new_tokens=len(toks),
                    finish_reason=finish,
                    seconds=share,
                    batch_seconds=elapsed,
                    seed=it.seed,
                    backend=backend,
                    backend_version=version,
                    variant=self.variant,
                    token_ids=tuple(toks),
                    prompt_truncated_tokens=it.truncated,
                    decode_mode=mode,
                    graph_fallback=fallback,
                )
            )
        return results
