"""A power analysis's inputs from a study in the database: the planned design's defaults
from its spec and the variance components of its judgments as a pilot. The thin shell
around :mod:`analysis.power` that the ``plan_study`` command and the console's power page
share."""

from __future__ import annotations

from typing import Any

from annotation.models import Study
from core.vocabulary import DimensionType

from .power import PlannedDesign, VarianceComponents, components_from_pilot
from .selectors import judgments_frame

__all__ = ["design_defaults", "pilot_components", "slider_dimensions"]


def design_defaults(study: Study | None) -> dict[str, Any]:
    """The spec's systems, batch and block size, overlap and ordering (EmPO's layout when
    there is no study): the fields of :class:`PlannedDesign` but the number of contexts."""
    if study is None:
        return {
            "n_systems": 5,
            "batch_size": 15,
            "block_size": 5,
            "overlap": 3,
            "ordering": "latin_square",
        }
    spec = study.spec or {}
    design = spec.get("design", {}) or {}
    batch = int(design.get("batch_size") or 15)
    return {
        "n_systems": max(2, len(spec.get("systems", []) or [])),
        "batch_size": batch,
        "block_size": int(design.get("block_size") or batch),
        "overlap": int(design.get("overlap") or 3),
        "ordering": str(design.get("ordering") or "latin_square"),
    }


def slider_dimensions(study: Study) -> list[dict]:
    """The study's slider dimensions (the ones the slider model and the power simulation
    are for)."""
    return [d for d in study.dimensions if d["type"] == DimensionType.SLIDER]


def pilot_components(study: Study, dimension: str) -> VarianceComponents:
    """Variance components of ``dimension`` fitted on the study's judgments (attention
    checks left out). A ValueError says what is missing."""
    keys = [d["key"] for d in slider_dimensions(study)]
    if dimension not in keys:
        raise ValueError(
            f"{dimension!r} is not a slider dimension of {study.name} "
            f"(slider dimensions: {', '.join(keys) or 'none'})"
        )
    frame = judgments_frame(study)
    if "attention_passed" in frame:
        frame = frame.loc[frame["attention_passed"].isna()]
    if frame.empty:
        raise ValueError(f"{study.name} has no judgments yet to serve as a pilot")
    return components_from_pilot(frame, dimension, source=f"pilot {study.name}")


def planned(defaults: dict[str, Any], n_contexts: int, **overrides: Any) -> PlannedDesign:
    """A PlannedDesign from the defaults, with the given fields replaced."""
    fields = {**defaults, **{k: v for k, v in overrides.items() if v is not None}}
    return PlannedDesign(n_contexts=n_contexts, **fields)
