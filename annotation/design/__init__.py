"""Batch designer: which outputs each annotator batch shows, in which order.

Pure and deterministic: no Django, no global random state. The same inputs and seed give
the same design in every process (``random.Random(seed)`` only). The algorithm and the
reasons behind it are written up in ``annotation/design.md``.

Vocabulary
    output       one (context, system) response to be rated (rating studies) or one
                 (context, system pair) comparison (pairwise studies)
    batch        the ordered list of items one annotator works through
    slots        how many annotators receive that exact batch
    block        ``block_size`` consecutive items of a rating batch from one system
    group        ``batch_size`` contexts that are always shown together, in one order
    round        a set of batches that gives every output of a group exactly one judgment

One module per concept: types, sampling, checks (feasibility, in one place), rating,
pairwise, attention (checks inserted into batches), degraded and gold (quality-control
items inserted into batches) and report.
"""

from __future__ import annotations

from .attention import check_attention_parameters, insert_attention_checks
from .checks import (
    check_blocks,
    check_pairs,
    check_pairwise_parameters,
    check_rating_parameters,
    check_sampling_parameters,
    default_block_systems,
)
from .degraded import DEGRADED_SIDE, degrade_text, insert_degraded_copies, original_of
from .gold import insert_gold_items
from .pairwise import design_pairwise_batches
from .rating import design_rating_batches
from .report import design_report_text, output_counts
from .sampling import sample_contexts
from .types import (
    BLOCK_RANDOMISED,
    ORDERINGS,
    PAIRWISE,
    SINGLE_SYSTEM,
    Design,
    DesignedBatch,
    DesignedItem,
    DesignError,
    name_of,
)

__all__ = [
    "DEGRADED_SIDE",
    "degrade_text",
    "insert_degraded_copies",
    "original_of",
    "BLOCK_RANDOMISED",
    "ORDERINGS",
    "PAIRWISE",
    "SINGLE_SYSTEM",
    "Design",
    "DesignError",
    "DesignedBatch",
    "DesignedItem",
    "check_attention_parameters",
    "check_blocks",
    "check_pairs",
    "check_pairwise_parameters",
    "check_rating_parameters",
    "check_sampling_parameters",
    "default_block_systems",
    "name_of",
    "design_pairwise_batches",
    "design_rating_batches",
    "design_report_text",
    "insert_attention_checks",
    "insert_gold_items",
    "output_counts",
    "sample_contexts",
]
