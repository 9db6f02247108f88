"""Keep loaded systems warm in a worker process: a small LRU keyed by a hash of the spec."""

from __future__ import annotations

import gc
import hashlib
import inspect
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch

from .base import BackendError

log = logging.getLogger(__name__)


class SystemSpecError(BackendError, ValueError):
    """A system spec that names an unknown kind or options the loader does not take."""


def _loaders() -> dict[str, tuple[Callable[..., Any], tuple[str, ...]]]:
    from .dexperts import load_dexperts
    from .hf_causal import load_causal_system
    from .seq2seq import load_seq2seq_system

    return {
        "causal": (load_causal_system, ("path",)),
        "seq2seq": (load_seq2seq_system, ("path",)),
        "dexperts": (load_dexperts, ("base_path", "expert_path", "antiexpert_path")),
    }


def system_key(spec: Mapping[str, Any]) -> str:
    """Stable hash of a spec (key order does not matter)."""
    blob = json.dumps(dict(spec), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def load_system(spec: Mapping[str, Any]):
    """Load from a JSON-like spec, e.g.
    {"kind": "causal", "path": "/models/zephyr", "adapter_path": "/models/sft", "system_prompt": "Be brief."}
    {"kind": "dexperts", "base_path": ..., "expert_path": ..., "antiexpert_path": ..., "alpha": 2.0}
    Other keys are the keyword arguments of the matching `load_*` function."""
    options = dict(spec)
    kind = options.pop("kind", None)
    loaders = _loaders()
    if kind not in loaders:
        raise SystemSpecError(
            f"system kind must be one of {', '.join(sorted(loaders))}, not {kind!r}"
        )
    loader, positional = loaders[kind]
    missing = [name for name in positional if not options.get(name)]
    if missing:
        raise SystemSpecError(f"a {kind} system needs {', '.join(missing)}")
    args = [options.pop(name) for name in positional]
    accepted = set(inspect.signature(loader).parameters) - set(positional)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise SystemSpecError(
            f"unknown option(s) {', '.join(unknown)} for a {kind} system; accepted: {', '.join(sorted(accepted))}"
        )
    return loader(*args, **options)


class SystemCache:
    """Loads a system once and keeps at most `max_systems` warm, least recently used first out.

    Thread-safe; a load happens under the lock (a GPU worker runs one task at a time anyway).
    An evicted system is released before the next one loads, so its GPU memory is free.
    """

    def __init__(
        self, max_systems: int = 2, loader: Callable[[Mapping[str, Any]], Any] = load_system
    ):
        if max_systems < 1:
            raise ValueError("max_systems must be >= 1")
        self.max_systems = max_systems
        self.loader = loader
        self._systems: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.loads = 0

    def get(self, spec: Mapping[str, Any]):
        key = system_key(spec)
        with self._lock:
            if key in self._systems:
                self._systems.move_to_end(key)
                self.hits += 1
                return self._systems[key]
            while len(self._systems) >= self.max_systems:
                self._evict_oldest()
            system = self.loader(spec)
            self.loads += 1
            self._systems[key] = system
            log.info("loaded system %s (%d warm)", key, len(self._systems))
            return system

    def __contains__(self, spec: Mapping[str, Any]) -> bool:
        return system_key(spec) in self._systems

    def __len__(self) -> int:
        return len(self._systems)

    def keys(self) -> list[str]:
        return list(self._systems)

    def clear(self) -> None:
        with self._lock:
            while self._systems:
                self._evict_oldest()

    def _evict_oldest(self) -> None:
        key, system = self._systems.popitem(last=False)
        release = getattr(system, "release", None)
        if callable(release):
            release()
        del system
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        log.info("evicted system %s", key)
