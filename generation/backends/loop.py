"""The decoding step loop and the per-model "steppers" that run one model over its own KV cache.

A stepper turns token ids into next-token logits ([rows, vocab], float32):

- `prefill(input_ids, attention_mask, row_map, max_new_tokens)` runs the (left-padded) prompts
  once, for unique prompts only, and expands the cache to one row per sequence (`row_map`), so
  25 samples of one prompt cost one prompt forward;
- `step(tokens)` feeds one token per row and returns the logits of the next position.

`decode_loop` owns selection (greedy or sampling with per-row uniforms), end-of-sequence
handling and stopping; DExperts combines three steppers' logits before it.

Caches. `CausalStepper` keeps a `DynamicCache` (grows by concatenation) on CPU. On CUDA it
copies the prefilled keys/values into a preallocated static cache (one `StaticLayer` per
layer, length rounded up to a bucket) and decodes with an explicit 4-D attention mask, explicit
position ids and fixed input buffers, so that the decode step has fixed shapes and addresses
and can be captured once as a CUDA graph and replayed every step (guarded by
`torch.cuda.is_available()`; on any capture error it logs and runs the same static step
eagerly). The static path is also usable on CPU (`static_cache=True`), which is how the tests
check its masks and positions against the dynamic path.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable

import torch

from .base import DecodingParameters
from .batching import is_out_of_memory
from .sampling import process_logits, select_tokens

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# devices and dtypes


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return dev


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    table = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if dtype not in table:
        raise ValueError(f"dtype must be 'auto', 'bfloat16', 'float16' or 'float32', not {dtype!r}")
    return table[dtype]


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _cache_kwarg(model: torch.nn.Module) -> str:
    """transformers renamed `past_key_values` to `cache` during 5.x; accept both."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _new_dynamic_cache(config):
    from transformers import DynamicCache

    try:
        return DynamicCache(config=config)
    except TypeError:  # pragma: no cover - older signature
        return DynamicCache()


# ---------------------------------------------------------------------------------------------
# graph runners: the same static step, either replayed from a CUDA graph or run eagerly


class EagerRunner:
    """Runs the static-shape step function directly (CPU, or CUDA without graphs)."""

    uses_graph = False

    def __init__(self, fn: Callable[[], torch.Tensor]):
        self.fn = fn

    def run(self) -> torch.Tensor:
        return self.fn()


class CapturelessRunner:
    """Follows the capture protocol of `CudaGraphRunner` (warm-up forwards that advance the
    cache, then the reset) but "replays" by running the step eagerly. Selected with
    `cuda_graph="emulate"`; it lets CPU tests check that protocol and the buffer reuse."""

    uses_graph = False

    def __init__(
        self, fn: Callable[[], torch.Tensor], before_capture: Callable[[], None], warmup: int = 2
    ):
        self.fn = fn
        for _ in range(warmup):
            fn()
        before_capture()

    def run(self) -> torch.Tensor:
        return self.fn()


class CudaGraphRunner:
    """Captures the step function once and replays it; inputs live in fixed buffers.

    `before_capture` is called after the warm-up forwards (which, like any forward, advance
    the static cache) to put the cache back where the real step expects it.
    """

    uses_graph = True

    def __init__(
        self, fn: Callable[[], torch.Tensor], before_capture: Callable[[], None], warmup: int = 2
    ):
        self.fn = fn
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(warmup):
                fn()
        torch.cuda.current_stream().wait_stream(stream)
        before_capture()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = fn()

    def run(self) -> torch.Tensor:
        self.graph.replay()
        return self.output


# ---------------------------------------------------------------------------------------------
# decoder-only stepper


def _layer_plan(config) -> tuple[int, list[str], int | None]:
    cfg = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    n_layers = int(cfg.num_hidden_layers)
    window = getattr(cfg, "sliding_window", None)
    types = getattr(cfg, "layer_types", None)
    if types is None:
        types = ["sliding_attention" if window is not None else "full_attention"] * n_layers
    return n_layers, list(types), window


class CausalStepper:
    """Runs one decoder-only model over its own KV cache (see module docstring).

    static_cache: "auto" (on for CUDA devices), True or False.
    cuda_graph: "auto" (on for CUDA devices with the static cache), True, False, or "emulate"
    (the graph's capture protocol and buffer reuse without a graph: for tests on CPU).
    bucket: the static cache length is rounded up to a multiple of this, so that batches with
    slightly different prompt lengths reuse one cache and one captured graph.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        static_cache: bool | str = "auto",
        cuda_graph: bool | str = "auto",
        bucket: int = 64,
    ):
        self.model = model
        self.config = model.config
        self.device = model_device(model)
        self.dtype = next(model.parameters()).dtype
        self._cache_kw = _cache_kwarg(model)
        self._keep_kw = "logits_to_keep" in inspect.signature(model.forward).parameters
        on_cuda = self.device.type == "cuda"
        self.use_static = on_cuda if static_cache == "auto" else bool(static_cache)
        self.emulate_graph = cuda_graph == "emulate"
        if self.emulate_graph:
            self.use_graph = True
            if not self.use_static:
                raise ValueError('cuda_graph="emulate" needs static_cache')
        else:
            self.use_graph = (
                (on_cuda and self.use_static) if cuda_graph == "auto" else bool(cuda_graph)
            )
            if self.use_graph and not (on_cuda and self.use_static):
                raise ValueError("cuda_graph=True needs a CUDA device and static_cache")
        self.attn_impl = getattr(self.config, "_attn_implementation", None) or "eager"
        if self.use_static and self.attn_impl not in ("sdpa", "eager"):
            log.info(
                "static cache needs sdpa or eager attention, not %s: using the dynamic cache",
                self.attn_impl,
            )
            self.use_static = self.use_graph = False
        self.bucket = max(1, int(bucket)) if self.use_static else 1
        self.graph_failed = False
        self.graph_failure = ""
        self.mode = "none"
        self.last_mode = "none"  # "dynamic" or "static": what the last batch used
        self._static_key: tuple[int, int] | None = None
        self._runner = None
        self.graph_captures = 0

    # -- helpers ------------------------------------------------------------------------------

    def _forward(self, **kwargs):
        return self.model(**kwargs)

    def _static_length(self, needed: int) -> int | None:
        n_layers, types, window = _layer_plan(self.config)
        if any(t not in ("full_attention", "sliding_attention") for t in types):
            return None
        length = int(math.ceil(needed / self.bucket) * self.bucket)
        if window is not None and "sliding_attention" in types:
            if needed > window:
                return None  # would need a rolling window: use the dynamic cache
            length = min(length, window)
        return length

    # -- prefill ------------------------------------------------------------------------------

    @torch.inference_mode()
    def prefill(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        row_map: torch.Tensor | None,
        max_new_tokens: int,
    ) -> torch.Tensor:
        """Left-padded unique prompts [U, P]; row_map [B] picks a prompt per row (None = identity)."""
        positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
        cache = _new_dynamic_cache(self.config)
        kwargs = {self._cache_kw: cache, "use_cache": True}
        if self._keep_kw:
            kwargs["logits_to_keep"] = 1
        out = self._forward(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, **kwargs
        )
        logits = out.logits[:, -1, :].float()
        attn = attention_mask
        if row_map is not None:
            logits = logits.index_select(0, row_map)
            attn = attention_mask.index_select(0, row_map)
        next_pos = attn.long().sum(-1, keepdim=True)
        prompt_len = input_ids.shape[1]
        static_len = self._static_length(prompt_len + max_new_tokens) if self.use_static else None
        if static_len is not None:
            self._setup_static(cache, attn, row_map, prompt_len, static_len, next_pos)
            self.mode = self.last_mode = "static"
        else:
            if row_map is not None:
                cache.batch_select_indices(row_map)
            self._cache = cache
            self._attn = attn.long()
            self._next_pos = next_pos
            self.mode = self.last_mode = "dynamic"
        return logits

    def _setup_static(self, dyn, attn, row_map, prompt_len: int, length: int, next_pos) -> None:
        from transformers.cache_utils import Cache, StaticLayer

        rows = attn.shape[0]
        n_layers = len(dyn.layers)
        key = (rows, length)
        if self._static_key != key:
            self.release()
            self._static = Cache(
                layers=[StaticLayer(max_cache_len=length) for _ in range(n_layers)]
            )
            self._valid = torch.zeros(rows, length, dtype=torch.bool, device=self.device)
            self._tok = torch.zeros(rows, 1, dtype=torch.long, device=self.device)
            self._pos = torch.zeros(rows, 1, dtype=torch.long, device=self.device)
            if self.attn_impl == "sdpa":
                self._mask = self._valid[:, None, None, :]  # a view: updates to _valid show through
            else:
                self._mask = torch.full(
                    (rows, 1, 1, length),
                    torch.finfo(self.dtype).min,
                    dtype=self.dtype,
                    device=self.device,
                )
            self._static_key = key
            self._runner = None
        for s_layer, d_layer in zip(self._static.layers, dyn.layers, strict=True):
            if s_layer.is_initialized:
                s_layer.cumulative_length.zero_()
            k, v = d_layer.keys, d_layer.values
            if row_map is not None:
                k, v = k.index_select(0, row_map), v.index_select(0, row_map)
            s_layer.update(k, v)
        del dyn
        self._valid.zero_()
        self._valid[:, :prompt_len] = attn.bool()
        if self.attn_impl != "sdpa":
            self._mask.fill_(torch.finfo(self.dtype).min)
            self._mask[:, 0, 0, :prompt_len].masked_fill_(attn.bool(), 0.0)
        self._pos.copy_(next_pos)
        self._prompt_len = prompt_len
        self._t = 0

    def _static_forward(self) -> torch.Tensor:
        out = self._forward(
            input_ids=self._tok,
            attention_mask=self._mask,
            position_ids=self._pos,
            use_cache=True,
            **{self._cache_kw: self._static},
        )
        return out.logits

    def _reset_static_length(self, length: int) -> None:
        for layer in self._static.layers:
            layer.cumulative_length.fill_(length)

    def _make_runner(self):
        if not self.use_graph or self.graph_failed:
            return EagerRunner(self._static_forward)
        at = self._prompt_len + self._t
        if self.emulate_graph:
            self.graph_captures += 1
            return CapturelessRunner(self._static_forward, lambda: self._reset_static_length(at))
        try:
            runner = CudaGraphRunner(self._static_forward, lambda: self._reset_static_length(at))
            self.graph_captures += 1
            return runner
        except Exception as exc:  # pragma: no cover - needs CUDA
            if is_out_of_memory(exc):
                self._reset_static_length(at)
                raise  # let the caller retry with fewer rows; graphs stay enabled
            log.warning(
                "CUDA graph capture failed (%s: %s); decoding eagerly", type(exc).__name__, exc
            )
            self.graph_failed = True
            self.graph_failure = f"CUDA graph capture failed ({type(exc).__name__}: {exc})"
            torch.cuda.synchronize()
            self._reset_static_length(at)
            return EagerRunner(self._static_forward)

    # -- one step -----------------------------------------------------------------------------

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.mode == "dynamic":
            self._attn = torch.cat(
                [self._attn, self._attn.new_ones((self._attn.shape[0], 1))], dim=-1
            )
            out = self._forward(
                input_ids=tokens[:, None],
                attention_mask=self._attn,
                position_ids=self._next_pos,
                use_cache=True,
                **{self._cache_kw: self._cache},
            )
            self._next_pos = self._next_pos + 1
            return out.logits[:, -1, :].float()
        if self.mode != "static":
            raise RuntimeError("step() before prefill()")
        slot = self._prompt_len + self._t
        self._tok.copy_(tokens[:, None])
        self._valid[:, slot] = True
        if self.attn_impl != "sdpa":
            self._mask[:, 0, 0, slot] = 0.0
        if self._runner is None:
            self._runner = self._make_runner()
        logits = self._runner.run()[:, -1, :].float()
        self._pos.add_(1)
        self._t += 1
        return logits

    def plans_graph_for(self, prompt_len: int, max_new_tokens: int) -> bool:
        """Whether a batch of this padded prompt length would run a graph-captured step."""
        if not (self.use_graph and self.use_static) or self.graph_failed or max_new_tokens < 2:
            return False
        return self._static_length(prompt_len + max_new_tokens) is not None

    @property
    def batch_mode(self) -> str:
        """What the last batch really ran: "dynamic", "static" (eager static step), "graph"
        (replayed CUDA graph) or "emulated_graph" (`cuda_graph="emulate"`)."""
        if self.last_mode != "static":
            return self.last_mode
        if isinstance(self._runner, CudaGraphRunner):
            return "graph"
        if isinstance(self._runner, CapturelessRunner):
            return "emulated_graph"
        return "static"

    def fall_back_to_dynamic(self) -> None:
        """Decode with the dynamic cache from now on (the graph self-check failed)."""
        self.release()
        self.use_static = self.use_graph = False
        self.bucket = 1

    def finish(self) -> None:
        """Drop per-batch state (the static cache and graph are kept for the next batch)."""
        self._cache = None
        self._attn = None
        self.mode = "none"

    def release(self) -> None:
        """Free the static cache and graph too."""
        self.finish()
        self._runner = None
        self._static = None
        self._valid = self._tok = self._pos = self._mask = None
        self._static_key = None


# ---------------------------------------------------------------------------------------------
# encoder-decoder stepper


class Seq2SeqStepper:
    """T5-style model: the encoder runs once per unique prompt, the decoder steps over its cache."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.config = model.config
        self.device = model_device(model)
        self._cache_kw = _cache_kwarg(model)
        start = getattr(self.config, "decoder_start_token_id", None)
        if start is None:
            start = getattr(model.generation_config, "decoder_start_token_id", None)
        if start is None:
            start = self.config.pad_token_id
        if start is None:
            raise ValueError("the model config has no decoder_start_token_id nor pad_token_id")
        self.decoder_start_token_id = int(start)

    @torch.inference_mode()
    def prefill(self, input_ids, attention_mask, row_map, max_new_tokens: int) -> torch.Tensor:
        from transformers import EncoderDecoderCache
        from transformers.modeling_outputs import BaseModelOutput

        enc = self.model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask)
        hidden = enc.last_hidden_state
        attn = attention_mask
        if row_map is not None:
            hidden = hidden.index_select(0, row_map)
            attn = attention_mask.index_select(0, row_map)
        self._enc = BaseModelOutput(last_hidden_state=hidden)
        self._enc_attn = attn
        self._cache = EncoderDecoderCache(
            _new_dynamic_cache(self.config), _new_dynamic_cache(self.config)
        )
        start = torch.full(
            (hidden.shape[0], 1), self.decoder_start_token_id, dtype=torch.long, device=self.device
        )
        return self._decode(start)

    def _decode(self, decoder_input_ids: torch.Tensor) -> torch.Tensor:
        out = self.model(
            encoder_outputs=self._enc,
            attention_mask=self._enc_attn,
            decoder_input_ids=decoder_input_ids,
            use_cache=True,
            **{self._cache_kw: self._cache},
        )
        return out.logits[:, -1, :].float()

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        return self._decode(tokens[:, None])

    def finish(self) -> None:
        self._enc = self._enc_attn = self._cache = None

    def release(self) -> None:
        self.finish()


# ---------------------------------------------------------------------------------------------
# the loop


@torch.inference_mode()
def decode_loop(
    first_logits: torch.Tensor,
    step_fn: Callable[[torch.Tensor], torch.Tensor],
    *,
    params: DecodingParameters,
    eos_ids: torch.Tensor,
    pad_id: int,
    uniforms: torch.Tensor | None,
    seen: torch.Tensor | None,
    sync_every: int = 1,
    stop_check: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> list[list[int]]:
    """Select up to `params.max_new_tokens` tokens per row; returns each row's tokens up to and
    including the end-of-sequence token, or the token at which a stop sequence was found.

    `first_logits` [rows, vocab] come from the prefill; `step_fn(tokens)` gives the next logits.
    Finished rows keep being fed `pad_id` (fixed shapes) and are ignored. Whether every row has
    finished is checked every `sync_every` steps (each check waits for the device), and so is
    `stop_check(tokens so far [rows, t], unfinished rows [rows])`, which returns the rows whose
    text now contains a stop sequence (on CUDA a row may so run up to `sync_every - 1` tokens
    past its stop; the text is cut at the stop sequence anyway).
    """
    rows, _ = first_logits.shape
    steps = params.max_new_tokens
    device = first_logits.device
    out = torch.full((rows, steps), pad_id, dtype=torch.long, device=device)
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    lengths = torch.full((rows,), steps, dtype=torch.long, device=device)
    row_index = torch.arange(rows, device=device)
    pad = torch.tensor(pad_id, dtype=torch.long, device=device)
    logits = first_logits
    steps_run = 0
    for t in range(steps):
        logits = process_logits(logits, params=params, step=t, eos_ids=eos_ids, seen=seen)
        tok = select_tokens(logits, params, uniforms[:, t] if uniforms is not None else None)
        tok = torch.where(finished, pad, tok)
        out[:, t] = tok
        stopped = torch.isin(tok, eos_ids) & ~finished
        lengths = torch.where(stopped, t + 1, lengths)
        finished = finished | stopped
        if seen is not None:
            seen[row_index, tok] = True
        steps_run = t + 1
        checkpoint = (t + 1) % sync_every == 0 or t == steps - 1
        if stop_check is not None and checkpoint and not bool(finished.all()):
            hit = stop_check(out[:, : t + 1], ~finished).to(device) & ~finished
            lengths = torch.where(hit, t + 1, lengths)
            finished = finished | hit
        if t == steps - 1:
            break
        if checkpoint and bool(finished.all()):
            break
        logits = step_fn(tok)
    tokens = out[:, :steps_run].cpu()
    lengths = lengths.clamp(max=steps_run).cpu().tolist()
    return [tokens[i, : lengths[i]].tolist() for i in range(rows)]
