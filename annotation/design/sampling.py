"""Which contexts a study uses: seeded, optionally stratified sampling.

Part of the batch designer (see ``annotation/design/__init__.py`` and ``annotation/design.md``).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from .checks import check_sampling_parameters
from .types import DesignError, Problems


def _context_key(c: Any) -> tuple[str, Mapping[str, Any]]:
    if isinstance(c, tuple | list) and len(c) == 2:
        cid, meta = c
    else:  # ContextRecord or anything with .id / .metadata
        cid, meta = c.id, c.metadata
    return str(cid), (meta or {})


def _stratum_sort_key(value: Any) -> tuple[str, str]:
    return (type(value).__name__, str(value))


def sample_contexts(
    contexts: Sequence[Any],
    n_contexts: int | None = None,
    stratify_by: str | None = None,
    per_stratum: int | None = None,
    seed: int = 0,
) -> list[str]:
    """Choose the contexts of a study; returns their ids.

    ``contexts`` holds ContextRecord objects or ``(id, metadata)`` pairs.

    * No ``stratify_by``: all contexts (input order) or a seeded sample of ``n_contexts``.
    * ``stratify_by``: contexts are grouped by ``metadata[stratify_by]``; strata are taken
      in sorted order and ``per_stratum`` are drawn from each (default
      ``n_contexts // number of strata``); if ``n_contexts`` is larger than what that
      gives, the rest is drawn at random from the contexts not yet chosen. EmPO: 32
      emotions x 4 = 128, then 7 more at random = 135.
    """
    keyed = [_context_key(c) for c in contexts]
    ids = [cid for cid, _ in keyed]
    problems: Problems = []
    dup = sorted(cid for cid, n in Counter(ids).items() if n > 1)
    if dup:
        problems.append(("contexts", f"duplicate context ids: {', '.join(dup[:5])}"))
    problems += check_sampling_parameters(n_contexts, stratify_by, per_stratum)
    if problems:
        raise DesignError(problems)
    if n_contexts is not None and n_contexts > len(ids):
        raise DesignError(
            [("n_contexts", f"{n_contexts} requested but only {len(ids)} contexts available")]
        )

    rng = random.Random(seed)
    if stratify_by is None:
        if n_contexts is None or n_contexts == len(ids):
            return ids
        return rng.sample(ids, n_contexts)

    strata: dict[Any, list[str]] = defaultdict(list)
    missing = [cid for cid, meta in keyed if stratify_by not in meta]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise DesignError(
            [("stratify_by", f"{stratify_by!r} is missing from the metadata of contexts {shown}")]
        )
    for cid, meta in keyed:
        value = meta[stratify_by]
        strata[value if isinstance(value, str | int | float | bool) else str(value)].append(cid)
    keys = sorted(strata, key=_stratum_sort_key)
    if per_stratum is None:
        if n_contexts is None:
            raise DesignError(
                [("per_stratum", "stratified sampling needs per_stratum or n_contexts")]
            )
        per_stratum = n_contexts // len(keys)
        if per_stratum == 0:
            raise DesignError(
                [
                    (
                        "n_contexts",
                        f"{n_contexts} is fewer than the {len(keys)} strata of {stratify_by!r}; "
                        f"sample at least {len(keys)} or set per_stratum",
                    )
                ]
            )
    small = [(k, len(strata[k])) for k in keys if len(strata[k]) < per_stratum]
    if small:
        shown = ", ".join(f"{k!r} has {n}" for k, n in small[:5])
        raise DesignError(
            [
                (
                    "per_stratum",
                    f"{per_stratum} per stratum needs at least {per_stratum} contexts in every "
                    f"stratum of {stratify_by!r}; {shown}",
                )
            ]
        )
    needed = per_stratum * len(keys)
    if n_contexts is not None and n_contexts < needed:
        raise DesignError(
            [
                (
                    "n_contexts",
                    f"{n_contexts} is fewer than per_stratum {per_stratum} x {len(keys)} strata "
                    f"= {needed}",
                )
            ]
        )
    chosen: list[str] = []
    for k in keys:
        chosen.extend(rng.sample(strata[k], per_stratum))
    if n_contexts is not None and n_contexts > needed:
        taken = set(chosen)
        rest = [cid for cid in ids if cid not in taken]
        chosen.extend(rng.sample(rest, n_contexts - needed))
    return chosen
