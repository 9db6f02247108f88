"""Work items, length-sorted batches, padding, and the out-of-memory retry loop."""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch

from .base import OutOfMemory, sample_seed

log = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass(frozen=True)
class WorkItem:
    """One sequence to generate: sample `sample_index` of prompt `prompt_index`."""

    prompt_index: int
    sample_index: int
    seed: int
    ids: tuple[int, ...]
    truncated: int = 0


def make_work(
    prompt_ids: Sequence[Sequence[int]],
    truncated: Sequence[int],
    prompt_seeds: Sequence[int],
    num_return_sequences: int,
) -> list[WorkItem]:
    items = []
    for p, ids in enumerate(prompt_ids):
        for s in range(num_return_sequences):
            items.append(WorkItem(p, s, sample_seed(prompt_seeds[p], s), tuple(ids), truncated[p]))
    return items


def sort_for_batching(items: Sequence[WorkItem]) -> list[int]:
    """Indices of `items`, longest prompts first (less padding per batch; an out-of-memory error
    shows up on the first batch); samples of one prompt stay next to each other so that they
    share a prefill."""
    return sorted(
        range(len(items)),
        key=lambda i: (-len(items[i].ids), items[i].prompt_index, items[i].sample_index, i),
    )


#: Out-of-memory errors that CUDA libraries raise as a plain RuntimeError: cuBLAS/cuDNN
#: failing to allocate their workspace, the caching allocator or a graph's instantiation.
OOM_MESSAGES = re.compile(
    r"out of memory|CUBLAS_STATUS_ALLOC_FAILED|CUDNN_STATUS_ALLOC_FAILED"
    r"|CUDNN_STATUS_NOT_ENOUGH_WORKSPACE|cudaErrorMemoryAllocation|CUBLAS_STATUS_NOT_INITIALIZED",
    re.IGNORECASE,
)


def is_out_of_memory(exc: BaseException) -> bool:
    """`torch.OutOfMemoryError`, or a RuntimeError whose message says memory ran out.

    (cuBLAS reports a workspace it could not allocate as CUBLAS_STATUS_NOT_INITIALIZED when
    the handle is created under memory pressure; a retry with fewer rows is the cure too.)
    """
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and bool(OOM_MESSAGES.search(str(exc)))


def generate_chunked(
    items: Sequence[WorkItem],
    batch_size: int,
    decode_batch: Callable[[list[WorkItem]], list[R]],
    *,
    batch_sizes_used: list[int] | None = None,
) -> list[R]:
    """Run `decode_batch` over length-sorted chunks of at most `batch_size` rows.

    On an out-of-memory error (`is_out_of_memory`) the chunk is retried at half the size, and later chunks
    keep the smaller size; a chunk of one row that does not fit raises `OutOfMemory`.
    Results come back in the order of `items` (the caller's order, not the sorted one).
    Because every row has its own seed, retrying at another size does not change the samples.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size}")
    order = sort_for_batching(items)
    results: list[R | None] = [None] * len(items)
    size = batch_size
    start = 0
    while start < len(order):
        chunk_idx = order[start : start + size]
        chunk = [items[i] for i in chunk_idx]
        try:
            out = decode_batch(chunk)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            del exc
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if len(chunk) == 1:
                raise OutOfMemory(
                    "a single sequence does not fit in accelerator memory "
                    f"(prompt of {len(chunk[0].ids)} tokens)"
                ) from None
            size = max(1, len(chunk) // 2)
            log.warning("out of memory with %d rows; retrying with %d", len(chunk), size)
            continue
        if len(out) != len(chunk):
            raise RuntimeError(f"decode_batch returned {len(out)} results for {len(chunk)} rows")
        if batch_sizes_used is not None:
            batch_sizes_used.append(len(chunk))
        for i, r in zip(chunk_idx, out, strict=True):
            results[i] = r
        start += len(chunk)
    return results  # type: ignore[return-value]


@dataclass
class PackedBatch:
    """Unique prompts of a chunk, padded, plus the map from rows to unique prompts."""

    input_ids: torch.Tensor  # [U, P]
    attention_mask: torch.Tensor  # [U, P]
    row_map: torch.Tensor | None  # [B] -> index into U; None when every row is its own prompt
    row_ids: list[tuple[int, ...]]  # the prompt ids of every row (for the repetition penalty)


def pack(
    items: Sequence[WorkItem], pad_id: int, device: torch.device, *, side: str = "left"
) -> PackedBatch:
    unique: dict[tuple[int, ...], int] = {}
    row_map = []
    for it in items:
        row_map.append(unique.setdefault(it.ids, len(unique)))
    prompts = list(unique)
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        if side == "left":
            ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[i, width - len(p) :] = 1
        else:
            ids[i, : len(p)] = torch.tensor(p, dtype=torch.long)
            mask[i, : len(p)] = 1
    identity = row_map == list(range(len(prompts)))
    return PackedBatch(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        row_map=None if identity else torch.tensor(row_map, dtype=torch.long, device=device),
        row_ids=[it.ids for it in items],
    )


def seen_mask(row_ids: Sequence[Sequence[int]], vocab: int, device: torch.device) -> torch.Tensor:
    """[rows, vocab] bool: which tokens each row's prompt contains (padding excluded)."""
    seen = torch.zeros(len(row_ids), vocab, dtype=torch.bool)
    for i, ids in enumerate(row_ids):
        if ids:
            seen[i, torch.tensor(ids, dtype=torch.long).clamp(max=vocab - 1)] = True
    return seen.to(device)
