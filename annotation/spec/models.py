"""The study spec as a pydantic model (pure: no Django).

``StudySpec`` is a whole spec: its parts are in ``parts.py`` (each checks itself), the
rules across parts in ``rules.py`` (its validator runs them once the parts are valid).
Whether the design is feasible depends on the data too, so ``load_spec`` asks the
designer (``design_problems``) once it has read the data files. ``to_dict()`` is the normalised form
stored with a study and hashed; ``examples/reference.yaml`` documents every field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator, Field, PrivateAttr, model_validator

from annotation import design as _design
from annotation.dimensions import Dimension, DimensionBase
from annotation.spec import rules
from annotation.spec.parts import (
    DESIGN_FIELDS,
    SCHEMA_VERSION,
    AttentionCheckSpec,
    CompletionSpec,
    ContextsSpec,
    DesignSpec,
    ExampleSpec,
    GeneratedSystem,
    ImportedSystem,
    Integer,
    Minutes,
    ReferenceSystem,
    SamplingSpec,
    Slug,
    SystemSpec,
    WordingSpec,
    list_of,
)
from annotation.spec.quality_control import QualityControlSpec
from annotation.spec.safety import SafetySpec
from annotation.spec_fields import Flag, Markdown, SpecModel, Text, located
from core import limits
from core.problems import Problem
from core.vocabulary import Protocol

__all__ = ["StudySpec", "spec_hash"]


def _schema_version(value: int) -> int:
    if value != SCHEMA_VERSION:
        raise located(("", f"this version of evalsite reads schema_version {SCHEMA_VERSION}"))
    return value


def _no_going_back(value: bool) -> bool:
    # Judgments are append-only and the server expects the next unjudged item; a
    # revision model is needed before annotators can go back.
    if value:
        raise located(("", "going back to change an answer is not supported yet; leave it false"))
    return value


# --------------------------------------------------------------------------- the spec


class StudySpec(SpecModel):
    """A whole study. Compare specs with ``==`` (the folder they were read from does not
    count) and hash them with ``spec_hash``, not ``hash()``."""

    schema_version: Annotated[Integer, AfterValidator(_schema_version)] = SCHEMA_VERSION
    name: Annotated[Slug, Field(max_length=limits.SPEC_STUDY_NAME)]
    title: Annotated[Text, Field(max_length=limits.STUDY_TITLE.max_length)]
    description: Markdown | None = None
    estimated_minutes: Minutes | None = None  # shown on the consent page
    protocol: Protocol
    dimensions: Annotated[
        tuple[Dimension, ...],
        BeforeValidator(list_of("a non-empty list", non_empty=True)),
        Field(json_schema_extra={"minItems": 1}),
    ]
    instructions: Markdown
    example: ExampleSpec | None = None
    consent: Markdown
    content_warning: Markdown | None = None
    crisis_resources: Markdown | None = None
    wording: WordingSpec = Field(default_factory=WordingSpec)
    systems: Annotated[
        tuple[SystemSpec, ...],
        BeforeValidator(list_of("a non-empty list", non_empty=True)),
        Field(json_schema_extra={"minItems": 1}),
    ]
    contexts: ContextsSpec
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    design: DesignSpec
    attention_checks: Annotated[
        tuple[AttentionCheckSpec, ...], BeforeValidator(list_of("a list of checks"))
    ] = ()
    quality_control: QualityControlSpec | None = None
    annotator_safety: SafetySpec | None = None
    lease_minutes: Minutes = 60
    allow_back: Annotated[Flag, AfterValidator(_no_going_back)] = False
    completion: CompletionSpec

    missing: ClassVar[Mapping[str, str]] = {
        "dimensions": "is required: a non-empty list",
        "systems": "is required: a non-empty list",
    }
    bounds: ClassVar[Mapping[str, str]] = {
        "name": f"the study's datasets are named after it, '<name>{limits.STUDY_NAME_SUFFIX}'",
        "title": "the longest title the database holds",
        **dict.fromkeys(
            ("description", "instructions", "consent", "content_warning", "crisis_resources"),
            "the pages annotators see carry it",
        ),
    }

    _base_dir: str | None = PrivateAttr(default=None)  # the folder relative paths use

    @model_validator(mode="after")
    def _across_parts(self) -> StudySpec:
        found = rules.cross_field_problems(self)
        if found:
            raise located(*found, absolute=True)
        return self.model_copy(update=rules.defaults(self))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    # -- serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "estimated_minutes": self.estimated_minutes,
            "protocol": str(self.protocol),
            "dimensions": [d.to_dict() for d in self.dimensions],
            "instructions": self.instructions,
            "example": self.example.to_dict(self.protocol) if self.example else None,
            "consent": self.consent,
            "content_warning": self.content_warning,
            "crisis_resources": self.crisis_resources,
            "wording": self.wording.to_dict(),
            "systems": [s.to_dict() for s in self.systems],
            "contexts": self.contexts.to_dict(),
            "sampling": self.sampling.to_dict(),
            "design": self.design.to_dict(self.protocol),
            "attention_checks": [a.to_dict(self.protocol) for a in self.attention_checks],
            "lease_minutes": self.lease_minutes,
            "allow_back": self.allow_back,
            "completion": self.completion.to_dict(),
            # only when given, so the hashes of specs without it stay what they were
            **(
                {"quality_control": self.quality_control.to_dict(self.protocol)}
                if self.quality_control is not None
                else {}
            ),
            **(
                {"annotator_safety": self.annotator_safety.to_dict()}
                if self.annotator_safety is not None
                else {}
            ),
        }

    def spec_hash(self) -> str:
        return spec_hash(self)

    # -- look-ups
    @property
    def base_dir(self) -> str | None:
        return self._base_dir

    def located_in(self, folder: str | Path | None) -> StudySpec:
        """This spec with its relative data paths read from ``folder``."""
        copy = self.model_copy()
        assert copy.__pydantic_private__ is not None
        copy.__pydantic_private__["_base_dir"] = str(folder) if folder is not None else None
        return copy

    def dimension(self, key: str) -> DimensionBase:
        return next(d for d in self.dimensions if d.key == key)

    def system(self, name: str) -> ImportedSystem | ReferenceSystem | GeneratedSystem:
        return next(s for s in self.systems if s.name == name)

    def attention_check(self, check_id: str) -> AttentionCheckSpec:
        return next(a for a in self.attention_checks if a.id == check_id)

    def resolve(self, relative: str) -> Path:
        """A data path of the spec, resolved against the spec's folder."""
        path = Path(relative)
        if path.is_absolute() or self.base_dir is None:
            return path
        return Path(self.base_dir) / path

    @property
    def contexts_path(self) -> Path:
        return self.resolve(self.contexts.file)

    def responses_path(self, system: str) -> Path:
        s = self.system(system)
        if s.responses is None:
            raise ValueError(f"system {system!r} ({s.kind}) has no responses file")
        return self.resolve(s.responses)

    def data_digests(self) -> dict[str, str]:
        """sha256 of each data file, keyed by its path as written in the spec.

        ``spec_hash`` covers the spec only; store these beside it to pin the data too.
        """
        paths = [self.contexts.file] + [s.responses for s in self.systems if s.responses]
        return {p: hashlib.sha256(self.resolve(p).read_bytes()).hexdigest() for p in paths}

    # -- the designer, with this spec's parameters
    def design_problems(self, n_contexts: int | None) -> list[Problem]:
        """What makes this spec's design impossible for ``n_contexts`` contexts (None:
        not known yet), at the spec's fields."""
        d = self.design
        if self.protocol == Protocol.RATING:
            found = _design.check_rating_parameters(
                n_contexts,
                [s.name for s in self.systems],
                d.batch_size,
                d.block_size,
                d.overlap,
                d.ordering or "all_permutations",
                d.block_randomised_systems,
            )
        else:
            found = _design.check_pairwise_parameters(
                n_contexts, d.pairs or (), d.batch_size, d.overlap, d.repeat_context_in_batch
            )
        problems = [Problem(_design.name_of(p, DESIGN_FIELDS), r) for p, r in found]
        if not problems and n_contexts is not None:
            problems += self._slot_problems(n_contexts)
        return problems

    def _slot_problems(self, n_contexts: int) -> list[Problem]:
        """The design's annotator slots (rows created with the study) within ``MAX_SLOTS``:
        each output is judged ``overlap`` times, ``batch_size`` outputs a slot."""
        d = self.design
        per_context = len(self.systems) if self.protocol == Protocol.RATING else len(d.pairs or ())
        outputs = n_contexts * per_context
        slots = -(-outputs * d.overlap // d.batch_size)
        if slots <= limits.MAX_SLOTS:
            return []
        return [
            Problem(
                "design.overlap",
                f"{d.overlap} would make {slots:,} annotator slots ({outputs:,} outputs x "
                f"overlap {d.overlap} / batch_size {d.batch_size}); a study has at most "
                f"{limits.MAX_SLOTS:,} (each is a row created with the study and a batch to "
                "fill): lower the overlap or sample fewer contexts",
            )
        ]

    def sample(self, contexts: Sequence[Any]) -> list[str]:
        """``design.sample_contexts`` with this spec's sampling parameters."""
        s = self.sampling
        return _design.sample_contexts(contexts, s.n_contexts, s.stratify_by, s.per_stratum, s.seed)

    def make_design(self, context_ids: Sequence[str]) -> _design.Design:
        """``design.design_*_batches`` with this spec's design parameters, then
        ``design.insert_attention_checks`` when the spec has attention checks, gold items
        (``placement: batch``) and degraded copies when its ``quality_control`` has them."""
        design = self._base_design(context_ids)
        per_batch = self.design.attention_checks_per_batch
        if self.attention_checks and per_batch:
            design = _design.insert_attention_checks(
                design, [a.id for a in self.attention_checks], per_batch, self.design.seed or 0
            )
        qc = self.quality_control
        if qc is not None and qc.gold is not None and qc.gold.placement == "batch":
            design = _design.insert_gold_items(
                design, [g.id for g in qc.gold.items], self.design.seed or 0
            )
        if qc is not None and qc.degraded is not None:
            design = _design.insert_degraded_copies(
                design, qc.degraded.share, qc.degraded.kinds, self.design.seed or 0
            )
        return design

    def _base_design(self, context_ids: Sequence[str]) -> _design.Design:
        d = self.design
        if self.protocol == Protocol.PAIRWISE:
            return _design.design_pairwise_batches(
                context_ids,
                d.pairs or (),
                d.batch_size,
                d.overlap,
                d.repeat_context_in_batch,
                d.seed or 0,
            )
        return _design.design_rating_batches(
            context_ids,
            [s.name for s in self.systems],
            d.batch_size,
            d.block_size,
            d.overlap,
            d.ordering or "all_permutations",
            d.repeat_context_in_batch,
            d.block_randomised_systems,
            d.seed or 0,
        )


def spec_hash(spec: StudySpec) -> str:
    """sha256 of the canonical JSON of ``spec.to_dict()`` (stable across runs)."""
    text = json.dumps(spec.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
