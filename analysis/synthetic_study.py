"""A simulated rating study: judgments drawn from the slider model of :mod:`analysis.mixed`
in a planned layout (:mod:`analysis.power`), as the canonical judgments frame, and the
EmPO-shaped synthetic study that analysis/README.md's worked example and the benchmark use.
Pure (no Django).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .power import PlannedDesign, VarianceComponents, _simulate_chunk, design_layout

__all__ = [
    "EMPO_COMPONENTS",
    "EMPO_DESIGN",
    "EMPO_MEANS",
    "empo_shaped_study",
    "simulate_judgments",
]


def simulate_judgments(
    design: PlannedDesign,
    components: VarianceComponents,
    means: dict[str, float],
    *,
    dimension: str = "score",
    seed: int = 0,
    bounds: tuple[float, float] | None = (0.0, 100.0),
) -> pd.DataFrame:
    """One simulated study of one slider dimension as the canonical judgments frame
    (annotator, context, system, dimension, value): the systems of ``means`` (in its order,
    as many as ``design.n_systems``) rated in the planned layout around their means, with
    the slider model's random effects; clipped to ``bounds`` and rounded to whole points
    like a slider (None: neither)."""
    if len(means) != design.n_systems:
        raise ValueError(f"means names {len(means)} systems, the design has {design.n_systems}")
    layout = design_layout(design)
    rng = np.random.default_rng([seed, design.n_contexts, 13])
    y = _simulate_chunk(rng, 1, layout, components, 0.0)[0]
    y += np.asarray(list(means.values()), dtype=np.float64)[layout.system]
    if bounds is not None:
        y = np.clip(np.round(y), *bounds)
    names = np.asarray(list(means), dtype=object)
    return pd.DataFrame(
        {
            "annotator": np.char.add("ann", layout.annotator.astype(str)).astype(object),
            "context": np.char.add("ctx", np.char.zfill(layout.context.astype(str), 4)).astype(
                object
            ),
            "system": names[layout.system],
            "dimension": dimension,
            "value": y,
        }
    )


#: A synthetic study of EmPO's shape (Sotolar et al., "EmPO: Emotion Grounding for
#: Empathetic Response Generation through Preference Optimization"): 135 contexts, its five
#: systems in the order of its Table 7, batches of 15 in blocks of 5 from one system, 3
#: ratings per item, four 0-100 sliders. Means chosen near the paper's Table 7 effect
#: sizes; variance components invented (not fitted on EmPO's data, which are not public).
#: Shipped for the worked example in analysis/README.md and the benchmark.
EMPO_DESIGN = PlannedDesign(n_contexts=135, n_systems=5, batch_size=15, block_size=5, overlap=3)
EMPO_COMPONENTS = VarianceComponents(
    annotator=12.0, context=6.0, item=10.0, residual=14.0, source="EmPO-shaped, invented"
)
EMPO_MEANS: dict[str, dict[str, float]] = {
    "emotion_understanding": {
        "baseline": 66.0,
        "sft_dpo": 60.0,
        "length_control": 60.0,
        "sft": 58.0,
        "human": 57.0,
    },
    "situational_appropriateness": {
        "baseline": 70.0,
        "sft_dpo": 59.0,
        "length_control": 63.5,
        "sft": 59.0,
        "human": 57.0,
    },
    "contextual_naturalness": {
        "baseline": 63.0,
        "sft_dpo": 60.0,
        "length_control": 58.0,
        "sft": 56.5,
        "human": 55.0,
    },
    "conversational_engagingness": {
        "baseline": 62.0,
        "sft_dpo": 57.0,
        "length_control": 54.5,
        "sft": 53.5,
        "human": 54.0,
    },
}


def empo_shaped_study(seed: int = 0) -> tuple[pd.DataFrame, list[dict]]:
    """The judgments of the EmPO-shaped synthetic study (``EMPO_DESIGN``,
    ``EMPO_COMPONENTS``, ``EMPO_MEANS``) and its dimensions, ready for ``analyze``."""
    frames = [
        simulate_judgments(EMPO_DESIGN, EMPO_COMPONENTS, means, dimension=key, seed=seed + i)
        for i, (key, means) in enumerate(EMPO_MEANS.items())
    ]
    dims = [{"key": key, "type": "slider"} for key in EMPO_MEANS]
    return pd.concat(frames, ignore_index=True), dims
