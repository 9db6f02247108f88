"""The rules across the parts of a spec (pure), which the ``StudySpec`` validator runs
once every part is valid on its own: dimension types that fit the protocol, unique keys
and names, a solved example that answers every dimension, attention-check conditions
(each dimension type judges its own), the systems a design names. ``defaults`` fills what
depends on other parts (block size, orders, pairs, attention checks per batch, seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from typing import Protocol as Shape

from annotation import design as _design
from annotation.dimensions import DimensionBase
from annotation.spec.data_files import thaw
from annotation.spec.parts import (
    DESIGN_FIELDS,
    PAIRWISE_DESIGN_ONLY,
    RATING_DESIGN_ONLY,
    RESERVED_SYSTEMS,
    AttentionCheckSpec,
    DesignSpec,
    ExampleSpec,
    GeneratedSystem,
    ImportedSystem,
    ReferenceSystem,
    SamplingSpec,
)
from annotation.spec_fields import freeze
from core.vocabulary import DimensionType, Protocol

__all__ = ["Parts", "cross_field_problems", "defaults"]

Problem = tuple[str, str]


class Parts(Shape):
    """What the rules read of a spec (a ``StudySpec``)."""

    @property
    def protocol(self) -> Protocol: ...
    @property
    def dimensions(self) -> tuple[DimensionBase, ...]: ...
    @property
    def example(self) -> ExampleSpec | None: ...
    @property
    def systems(self) -> tuple[ImportedSystem | ReferenceSystem | GeneratedSystem, ...]: ...
    @property
    def sampling(self) -> SamplingSpec: ...
    @property
    def design(self) -> DesignSpec: ...
    @property
    def attention_checks(self) -> tuple[AttentionCheckSpec, ...]: ...


def cross_field_problems(spec: Parts) -> list[Problem]:
    found = _dimension_problems(spec)
    dims_ok = not found
    found += _example_problems(spec, dims_ok)
    found += _system_problems(spec)
    found += _attention_problems(spec, dims_ok)
    found += _design_field_problems(spec)
    found += _decision_problems(spec, dims_ok)
    return found


def _decision_problems(spec: Parts, dims_ok: bool) -> list[Problem]:
    """``quality_control.decision.dimension`` names a dimension the degraded-control test
    can use: a slider or likert of a rating study (scores), any choice of a pairwise one
    (which side was preferred)."""
    qc = getattr(spec, "quality_control", None)
    decision = qc.decision if qc is not None else None
    if not dims_ok or decision is None or decision.dimension is None:
        return []
    where = "quality_control.decision.dimension"
    by_key = {d.key: d for d in spec.dimensions}
    dim = by_key.get(decision.dimension)
    if dim is None:
        return [(where, f"no dimension has the key {decision.dimension!r} ({', '.join(by_key)})")]
    if spec.protocol == Protocol.RATING and dim.type_name not in (
        DimensionType.SLIDER,
        DimensionType.LIKERT,
    ):
        return [
            (where, f"{decision.dimension!r} is a {dim.type_name}; scores need a slider or likert")
        ]
    return []  # pairwise: a choice, whose preference for the original side is tested


def _dimension_problems(spec: Parts) -> list[Problem]:
    found: list[Problem] = []
    first: dict[str, int] = {}
    for i, d in enumerate(spec.dimensions):
        if spec.protocol == Protocol.RATING and d.type_name == DimensionType.CHOICE:
            found.append(
                (
                    f"dimensions[{i}].type",
                    "'choice' (A / B / tie) is only for pairwise studies; "
                    "rating studies use slider, checkbox or likert",
                )
            )
        if spec.protocol == Protocol.PAIRWISE and d.type_name != DimensionType.CHOICE:
            found.append(
                (
                    f"dimensions[{i}].type",
                    f"pairwise studies use only choice dimensions (A / B / tie), "
                    f"got {d.type_name!r}",
                )
            )
        if d.key in first:
            found.append(
                (f"dimensions[{i}].key", f"{d.key!r} is already used by dimensions[{first[d.key]}]")
            )
        first.setdefault(d.key, i)
    return found


def _response_problems(
    spec: Parts, part: ExampleSpec | AttentionCheckSpec, path: str, noun: str
) -> list[Problem]:
    """The response fields of the protocol: response, or response_a and response_b."""
    if spec.protocol == Protocol.PAIRWISE:
        found = [
            (f"{path}.{k}", "is required")
            for k in ("response_a", "response_b")
            if getattr(part, k) is None
        ]
        if part.response is not None:
            found.append(
                (f"{path}.response", f"a pairwise {noun} has response_a and response_b instead")
            )
        return found
    found = [(f"{path}.response", "is required")] if part.response is None else []
    return found + [
        (f"{path}.{k}", "applies only to pairwise studies (use response)")
        for k in ("response_a", "response_b")
        if getattr(part, k) is not None
    ]


def _example_problems(spec: Parts, dims_ok: bool) -> list[Problem]:
    example = spec.example
    if example is None:
        return []
    found = _response_problems(spec, example, "example", "example")
    if not dims_ok:
        return found
    by_key = {d.key: d for d in spec.dimensions}
    for key, value in example.answers.items():
        if key not in by_key:
            found.append(
                (f"example.answers.{key}", f"unknown field (expected one of {', '.join(by_key)})")
            )
            continue
        problem = by_key[key].example_problem(thaw(value))
        if problem:
            found.append((f"example.answers.{key}", problem))
    missing = [k for k in by_key if k not in example.answers]
    if missing:
        found.append(
            (
                "example.answers",
                f"the solved example must answer every dimension; missing {', '.join(missing)}",
            )
        )
    return found


def _system_problems(spec: Parts) -> list[Problem]:
    found: list[Problem] = []
    first: dict[str, int] = {}
    for i, s in enumerate(spec.systems):
        if s.name in first:
            found.append(
                (f"systems[{i}].name", f"{s.name!r} is already used by systems[{first[s.name]}]")
            )
            continue
        if s.name in RESERVED_SYSTEMS:
            found.append(
                (f"systems[{i}].name", f"{s.name!r} is reserved for {RESERVED_SYSTEMS[s.name]}")
            )
            continue
        first[s.name] = i
    if spec.protocol == Protocol.PAIRWISE and len(spec.systems) < 2:
        found.append(("systems", "a pairwise study needs at least 2 systems"))
    return found


def _attention_problems(spec: Parts, dims_ok: bool) -> list[Problem]:
    found, first = _known_answer_problems(spec, spec.attention_checks, "attention_checks", dims_ok)
    qc = getattr(spec, "quality_control", None)
    if qc is not None and qc.gold is not None:
        found += _known_answer_problems(spec, qc.gold.items, "quality_control.gold.items", dims_ok)[
            0
        ]
    per_batch = spec.design.attention_checks_per_batch
    if per_batch is not None:
        found += [
            (_design.name_of(p, DESIGN_FIELDS), r)
            for p, r in _design.check_attention_parameters(list(first), per_batch, DESIGN_FIELDS)
        ]
    return found


def _known_answer_problems(
    spec: Parts, checks: Sequence[AttentionCheckSpec], where: str, dims_ok: bool
) -> tuple[list[Problem], dict[str, int]]:
    """Attention checks and gold items: responses of the protocol, conditions the
    dimensions accept, ids used once. Returns the problems and {id: first index}."""
    found: list[Problem] = []
    first: dict[str, int] = {}
    by_key = {d.key: d for d in spec.dimensions}
    for i, check in enumerate(checks):
        path = f"{where}[{i}]"
        found += _response_problems(spec, check, path, "check")
        if dims_ok:
            for key, cond in check.expect.items():
                dim = by_key.get(key) if isinstance(key, str) else None
                if dim is None:
                    found.append(
                        (
                            f"{path}.expect.{key}",
                            f"not a dimension of this study (dimensions: {', '.join(by_key)})",
                        )
                    )
                    continue
                _, problem = dim.condition(thaw(cond))
                if problem:
                    found.append((f"{path}.expect.{key}", problem))
        if check.id in first:
            found.append(
                (
                    f"{path}.id",
                    f"{check.id!r} is already used by {where}[{first[check.id]}]",
                )
            )
            continue
        first[check.id] = i
    return found, first


def _design_field_problems(spec: Parts) -> list[Problem]:
    d, names = spec.design, [s.name for s in spec.systems]
    rating = spec.protocol == Protocol.RATING
    found: list[Problem] = [
        (f"design.{key}", f"applies only to {'pairwise' if rating else 'rating'} studies")
        for key in (PAIRWISE_DESIGN_ONLY if rating else RATING_DESIGN_ONLY)
        if getattr(d, key) is not None
    ]
    if rating and d.block_randomised_systems is not None:
        for j, s in enumerate(d.block_randomised_systems):
            if s not in names:
                found.append(
                    (
                        f"design.block_randomised_systems[{j}]",
                        f"{s!r} is not one of the systems ({', '.join(names)})",
                    )
                )
            elif d.block_randomised_systems.index(s) != j:
                found.append((f"design.block_randomised_systems[{j}]", f"{s!r} is listed twice"))
    if not rating and d.pairs is not None:
        found += [
            (_design.name_of(p, DESIGN_FIELDS), r)
            for p, r in _design.check_pairs(d.pairs, names, DESIGN_FIELDS)
        ]
    return found


def defaults(spec: Parts) -> dict[str, Any]:
    """The parts with defaults that depend on other parts filled in (and attention-check
    conditions normalised), as updates of the spec's fields."""
    d, names = spec.design, [s.name for s in spec.systems]
    filled: dict[str, Any] = {
        "seed": spec.sampling.seed if d.seed is None else d.seed,
        "attention_checks_per_batch": (1 if spec.attention_checks else 0)
        if d.attention_checks_per_batch is None
        else d.attention_checks_per_batch,
    }
    if spec.protocol == Protocol.RATING:
        block_size = d.block_size or d.batch_size
        filled.update(
            block_size=block_size,
            ordering=d.ordering or "all_permutations",
            block_randomised_systems=_design.default_block_systems(
                names, d.batch_size // block_size, d.block_randomised_systems
            ),
        )
    elif d.pairs is None:
        filled["pairs"] = tuple((a, b) for i, a in enumerate(names) for b in names[i + 1 :])
    by_key = {dim.key: dim for dim in spec.dimensions}
    checks = tuple(
        check.model_copy(
            update={
                "expect": freeze(
                    {k: by_key[k].condition(thaw(c))[0] for k, c in check.expect.items()}
                )
            }
        )
        for check in spec.attention_checks
    )
    out: dict[str, Any] = {"design": d.model_copy(update=filled), "attention_checks": checks}
    qc = getattr(spec, "quality_control", None)
    if qc is not None and qc.gold is not None:
        # gold items are answered and checked like attention checks: the same normal form
        gold = tuple(
            item.model_copy(
                update={
                    "expect": freeze(
                        {k: by_key[k].condition(thaw(c))[0] for k, c in item.expect.items()}
                    )
                }
            )
            for item in qc.gold.items
        )
        out["quality_control"] = qc.model_copy(
            update={"gold": qc.gold.model_copy(update={"items": gold})}
        )
    return out
