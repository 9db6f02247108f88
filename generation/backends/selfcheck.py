"""The CUDA-graph path proves itself before it is trusted.

The first batch a system decodes with a graph-captured step is decoded twice more, greedily:
once in the planned (graph) mode and once in the dynamic mode (the plain HF cache, the path the
tests compare with HF `generate`). Any difference in the token ids means the captured step is
wrong on this machine (a kernel, a mask, a cache length), so every stepper of the system falls
back to the dynamic mode for good; the reason is logged, kept in `fallback`, and written into
every result decoded afterwards (`GeneratedText.graph_fallback`). A capture that fails (the
stepper then runs the same static step eagerly) is recorded the same way.

Greedy, because sampling compares boundaries of the inverse CDF: two correct paths may differ
there by rounding, while argmax differs only when the logits really do (or at exact ties).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

from .base import DecodingParameters

log = logging.getLogger(__name__)

NOT_NEEDED = "not_needed"  # no stepper plans a graph (CPU, seq2seq, dynamic cache)
PENDING = "pending"
PASSED = "passed"
FAILED = "failed"  # graph and dynamic tokens differed: dynamic from now on
CAPTURE_FAILED = "capture_failed"  # the capture raised: the static step runs eagerly

GRAPH_MODES = ("graph", "emulated_graph")


def first_difference(a: Sequence[Sequence[int]], b: Sequence[Sequence[int]]) -> tuple | None:
    """(row, position, token in a, token in b) of the first difference; None when equal.
    A missing token (one row ended earlier) is None."""
    for row, (x, y) in enumerate(zip(a, b, strict=True)):
        if list(x) == list(y):
            continue
        for pos in range(max(len(x), len(y))):
            tx = x[pos] if pos < len(x) else None
            ty = y[pos] if pos < len(y) else None
            if tx != ty:
                return row, pos, tx, ty
    return None


def check_parameters(params: DecodingParameters) -> DecodingParameters:
    """Greedy parameters of the same length and logits processing as `params`."""
    return DecodingParameters(
        do_sample=False,
        max_new_tokens=params.max_new_tokens,
        min_new_tokens=params.min_new_tokens,
        repetition_penalty=params.repetition_penalty,
    )


@contextmanager
def dynamic_mode(steppers: Sequence[Any]):
    """The steppers decode with the dynamic cache inside the block (their static cache and
    graph are kept for afterwards)."""
    saved = [s.use_static for s in steppers]
    for s in steppers:
        s.use_static = False
    try:
        yield
    finally:
        for s, value in zip(steppers, saved, strict=True):
            s.use_static = value


class GraphSelfCheck:
    """The self-check state of one system's steppers (`CausalStepper`s)."""

    def __init__(self, steppers: Sequence[Any]):
        self.steppers = list(steppers)
        self.status = PENDING if self._planned() else NOT_NEEDED
        self.fallback = ""
        self.modes_used: list[str] = []

    def _planned(self) -> bool:
        return any(s.use_graph and not s.graph_failed for s in self.steppers)

    def due(self, prompt_len: int, max_new_tokens: int) -> bool:
        """Whether this batch (padded prompt length, new tokens) is the first to run a graph."""
        return self.status == PENDING and any(
            s.plans_graph_for(prompt_len, max_new_tokens) for s in self.steppers
        )

    def run(self, decode: Callable[[DecodingParameters], list[list[int]]], params) -> None:
        """Decode with `decode(params)` in the planned mode and in the dynamic mode; on a
        difference, fall back to the dynamic mode."""
        greedy = check_parameters(params)
        planned = decode(greedy)
        used = self.batch_mode()
        if used not in GRAPH_MODES:
            failures = [s.graph_failure for s in self.steppers if s.graph_failure]
            if failures:  # the capture raised: the static step runs eagerly from now on
                self.status = CAPTURE_FAILED
                self.fallback = "; ".join(failures)
            return
        with dynamic_mode(self.steppers):
            reference = decode(greedy)
        diff = first_difference(planned, reference)
        if diff is None:
            self.status = PASSED
            log.info("CUDA-graph self-check passed (%d rows, greedy)", len(planned))
            return
        row, pos, got, want = diff
        self.status = FAILED
        self.fallback = (
            f"{used} decoding differed from dynamic decoding in the self-check (row {row}, "
            f"token {pos}: {got} instead of {want}); decoding dynamically"
        )
        log.warning("CUDA-graph self-check failed: %s", self.fallback)
        for s in self.steppers:
            s.fall_back_to_dynamic()

    def batch_mode(self) -> str:
        """The mode the last batch used ("dynamic", "static", "graph", "emulated_graph")."""
        modes = sorted({s.batch_mode for s in self.steppers}) or ["dynamic"]
        return "+".join(modes)

    def note(self, mode: str) -> None:
        if mode not in self.modes_used:
            self.modes_used.append(mode)

    def describe(self) -> dict[str, Any]:
        return {
            "graph_check": self.status,
            "graph_fallback": self.fallback,
            "decode_modes_used": list(self.modes_used),
        }
