"""The study spec as pydantic models (pure: no Django).

Each part of a spec is a frozen model that refuses unknown fields; field rules are
constraints on the fields, rules within one part are that part's model validators, and
the rules across parts (a dimension type that fits the protocol, an example that answers
every dimension, attention-check conditions, the systems a design names) are the
``StudySpec`` validator's, which also fills the defaults that depend on other parts. The
design's feasibility is the designer's (``annotation.design``): the validators call its
checks with ``DESIGN_FIELDS`` so its findings name spec fields. ``to_dict()`` is the
normalised form stored with a study and hashed; ``examples/reference.yaml`` documents
every field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    PrivateAttr,
    Strict,
    WithJsonSchema,
    model_validator,
)

from annotation import design as _design
from annotation.dimensions import Dimension, DimensionBase
from annotation.spec.data_files import Turn, parse_turns, thaw
from annotation.spec.problems import SpecProblem
from annotation.spec_fields import Flag, SpecModel, Text, freeze, located, meaning, type_name
from core.vocabulary import GENERATED_SYSTEM_KINDS, DimensionType, Protocol, SystemKind

__all__ = [
    "ATTENTION_SYSTEM",
    "DESIGN_FIELDS",
    "SCHEMA_VERSION",
    "AttentionCheckSpec",
    "CompletionSpec",
    "ContextsSpec",
    "DesignSpec",
    "ExampleSpec",
    "SamplingSpec",
    "StudySpec",
    "SystemSpec",
    "WordingSpec",
    "spec_hash",
]

SCHEMA_VERSION = 1
#: The system name the candidates of attention checks are stored under (reserved).
ATTENTION_SYSTEM = "attention-check"
DAY_MINUTES = 24 * 60

#: Where each parameter of the designer's checks lives in a spec; they name it so.
DESIGN_FIELDS = {
    "context_ids": "sampling.n_contexts",
    "contexts": "contexts.file",
    "systems": "systems",
    "batch_size": "design.batch_size",
    "block_size": "design.block_size",
    "overlap": "design.overlap",
    "ordering": "design.ordering",
    "block_randomised_systems": "design.block_randomised_systems",
    "pairs": "design.pairs",
    "repeat_context_in_batch": "design.repeat_context_in_batch",
    "n_contexts": "sampling.n_contexts",
    "stratify_by": "sampling.stratify_by",
    "per_stratum": "sampling.per_stratum",
    "attention_checks": "attention_checks",
    "attention_checks_per_batch": "design.attention_checks_per_batch",
}
SAMPLING_FIELDS = {"n_contexts", "stratify_by", "per_stratum"}

SLUG = meaning(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$", "a slug (lowercase letters, digits and single dashes)"
)
SYSTEM_NAME = meaning(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", "a system name (letters, digits, '_', '-', '.')"
)
CHECK_ID = meaning(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", "an id (letters, digits, '_', '-', '.')")
URL = meaning(r"(?i)^https?://[^\s/$.?#][^\s]*$", "an http:// or https:// URL")


Slug = Annotated[str, Strict(), Field(pattern=SLUG)]
SystemName = Annotated[str, Strict(), Field(pattern=SYSTEM_NAME)]
CheckId = Annotated[str, Strict(), Field(pattern=CHECK_ID)]
Url = Annotated[str, Strict(), Field(pattern=URL)]
Integer = Annotated[int, Strict()]
PositiveInt = Annotated[int, Field(strict=True, ge=1)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]
Minutes = Annotated[int, Field(strict=True, ge=1, le=DAY_MINUTES)]


def _list_of(what: str, *, non_empty: bool = False) -> Callable[[Any], Any]:
    """A check that the value is a list, worded as the spec words it."""

    def check(value: Any) -> Any:
        if not isinstance(value, list | tuple) or (non_empty and not value):
            raise located(("", f"must be {what}, got {type_name(value)}"))
        return value

    return check


def _string_list(value: Any) -> Any:
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, str) and v.strip() for v in value
    ):
        raise located(("", "must be a list of non-empty strings"))
    return value


def _turns(noun: str) -> Callable[[Any], tuple[Turn, ...]]:
    """A check of the turns of a conversation written in the spec, as the data files
    check theirs; ``noun`` is what the problems call the list."""

    def check(value: Any) -> tuple[Turn, ...]:
        found: list[str] = []
        turns = parse_turns(value, "", found)
        if found:
            raise located(*(("", p.lstrip(": ").replace('"turns"', noun)) for p in found))
        return turns

    return check


TURNS_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "properties": {"speaker": {"type": "string"}, "text": {"type": "string"}},
        "required": ["speaker", "text"],
        "additionalProperties": False,
    },
}
ExampleTurns = Annotated[
    tuple[Turn, ...], PlainValidator(_turns('"turns"')), WithJsonSchema(TURNS_SCHEMA)
]
CheckContext = Annotated[
    tuple[Turn, ...], PlainValidator(_turns("the context")), WithJsonSchema(TURNS_SCHEMA)
]

JsonObject = Annotated[
    Mapping[Any, Any], AfterValidator(freeze), WithJsonSchema({"type": "object"})
]


# --------------------------------------------------------------------------- parts


class ExampleSpec(SpecModel):
    """The solved example on the instructions page: a conversation, the response(s), and
    an answer for every dimension."""

    turns: ExampleTurns
    response: Text | None = None  # rating
    response_a: Text | None = None  # pairwise
    response_b: Text | None = None  # pairwise
    answers: JsonObject
    explanation: Text | None = None

    missing: ClassVar[Mapping[str, str]] = {
        "turns": '"turns" must be a non-empty list of {speaker, text}'
    }

    def to_dict(self, protocol: str) -> dict[str, Any]:
        d: dict[str, Any] = {"turns": [t.to_dict() for t in self.turns]}
        if protocol == Protocol.PAIRWISE:
            d.update(response_a=self.response_a, response_b=self.response_b)
        else:
            d["response"] = self.response
        d.update(answers=thaw(self.answers), explanation=self.explanation)
        return d


def _expectations(value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise located(
            ("", f"must be a mapping of dimension key to condition, got {type_name(value)}")
        )
    if not value:
        raise located(("", "needs a condition for at least one dimension"))
    return value


class AttentionCheckSpec(SpecModel):
    """An item with a known right answer, mixed into every batch (see annotation/design.md).

    ``expect`` is normalised: per dimension key, the dimension type's condition
    (``annotation.dimensions``): ``{"min": n, "max": n}`` for a slider, else the list of
    accepted answers as judgments store them. For a pairwise check, ``a`` means
    response_a, whichever side it is shown on.
    """

    id: CheckId
    context: CheckContext
    response: Text | None = None  # rating
    response_a: Text | None = None  # pairwise
    response_b: Text | None = None  # pairwise
    expect: Annotated[JsonObject, BeforeValidator(_expectations)]

    missing: ClassVar[Mapping[str, str]] = {
        "context": "is required: the conversation, a list of {speaker, text}",
        "expect": "is required: the right answer for at least one dimension",
    }

    @property
    def turns(self) -> tuple[Turn, ...]:
        return self.context

    def to_dict(self, protocol: str) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "context": [t.to_dict() for t in self.turns]}
        if protocol == Protocol.PAIRWISE:
            d.update(response_a=self.response_a, response_b=self.response_b)
        else:
            d["response"] = self.response
        d["expect"] = thaw(self.expect)
        return d


class _System(SpecModel):
    name: SystemName
    kind: str  # each kind of system narrows it to its own
    label: Text | None = None  # researcher-facing display name; never shown to annotators
    needs_generation: Flag | None = None  # derived from kind; may be written back as is

    generated: ClassVar[bool] = False

    @model_validator(mode="after")
    def _derived(self) -> _System:
        if self.needs_generation is not None and self.needs_generation != self.generated:
            raise located(
                (
                    "needs_generation",
                    f"is derived from kind ({self.kind}: "
                    f"{'true' if self.generated else 'false'}); leave it out",
                )
            )
        return self.model_copy(update={"needs_generation": self.generated})

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": str(self.kind), "label": self.label}
        d.update(self.own_fields())
        d["needs_generation"] = self.generated
        return d

    def own_fields(self) -> dict[str, Any]:
        return {}


class ImportedSystem(_System):
    """Responses read from a JSONL file (path relative to the spec)."""

    kind: Literal[SystemKind.IMPORTED]
    responses: Text
    config: ClassVar[Mapping[str, Any] | None] = None

    def own_fields(self) -> dict[str, Any]:
        return {"responses": self.responses}


class ReferenceSystem(_System):
    """The dataset's own reference response of each context."""

    kind: Literal[SystemKind.REFERENCE]
    responses: ClassVar[str | None] = None
    config: ClassVar[Mapping[str, Any] | None] = None


class GeneratedSystem(_System):
    """Responses a generation backend makes; ``config`` is the backend's configuration."""

    kind: Literal[SystemKind.HF_CAUSAL, SystemKind.HF_SEQ2SEQ, SystemKind.DEXPERTS]
    config: JsonObject = Field(default_factory=lambda: freeze({}))
    responses: ClassVar[str | None] = None

    generated: ClassVar[bool] = True

    def own_fields(self) -> dict[str, Any]:
        return {"config": thaw(self.config)}


SystemSpec = Annotated[
    ImportedSystem | ReferenceSystem | GeneratedSystem, Field(discriminator="kind")
]
_GENERATED = ", ".join(GENERATED_SYSTEM_KINDS)
for _cls in (ImportedSystem, ReferenceSystem, GeneratedSystem):
    _kinds = [str(k) for k in _cls.model_fields["kind"].annotation.__args__]  # type: ignore[union-attr]
    _cls.misplaced = {
        **(
            {"responses": f"applies only to imported systems (this one is {_kinds[0]})"}
            if _cls is not ImportedSystem
            else {}
        ),
        **(
            {"config": f"applies only to generated systems ({_GENERATED}), not {_kinds[0]}"}
            if _cls is not GeneratedSystem
            else {}
        ),
    }


class ContextsSpec(SpecModel):
    file: Text  # JSONL path as written (relative to the spec)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file}


def _design_problems(found: Sequence[tuple[str, str]], *, absolute: bool = True) -> Any:
    return located(*((_design.name_of(p, DESIGN_FIELDS), r) for p, r in found), absolute=absolute)


class SamplingSpec(SpecModel):
    n_contexts: PositiveInt | None = None  # None: every context in the file
    stratify_by: Text | None = None  # metadata field
    per_stratum: PositiveInt | None = None
    seed: NonNegativeInt = 0

    @model_validator(mode="after")
    def _parameters(self) -> SamplingSpec:
        found = _design.check_sampling_parameters(
            self.n_contexts, self.stratify_by, self.per_stratum, DESIGN_FIELDS
        )
        # The designer asks for a count only once strata are read; a spec says so now.
        if self.stratify_by is not None and self.per_stratum is None and self.n_contexts is None:
            found.append(("stratify_by", "needs sampling.per_stratum or sampling.n_contexts"))
        if found:
            raise _design_problems(found)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_contexts": self.n_contexts,
            "stratify_by": self.stratify_by,
            "per_stratum": self.per_stratum,
            "seed": self.seed,
        }


RATING_DESIGN_ONLY = ("block_size", "ordering", "block_randomised_systems")
PAIRWISE_DESIGN_ONLY = ("pairs",)


def _pair_list(value: Any) -> Any:
    if not isinstance(value, list | tuple) or not value:
        raise located(("", "must be a non-empty list of [system_a, system_b]"))
    bad = [
        (f"[{j}]", f"must be a list of two system names, got {pair!r}")
        for j, pair in enumerate(value)
        if not (
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and all(isinstance(x, str) for x in pair)
        )
    ]
    if bad:
        raise located(*bad)
    return value


class DesignSpec(SpecModel):
    """How batches are made. Fields of the other protocol stay None; the ``StudySpec``
    validator fills the defaults that depend on the systems and attention checks."""

    batch_size: PositiveInt
    overlap: PositiveInt = 3
    repeat_context_in_batch: Flag = False
    seed: NonNegativeInt | None = None  # filled: sampling.seed
    block_size: PositiveInt | None = None  # rating (filled: batch_size)
    ordering: Literal["all_permutations", "latin_square", "random"] | None = None  # rating
    block_randomised_systems: Annotated[tuple[str, ...] | None, BeforeValidator(_string_list)] = (
        None  # rating (filled)
    )
    pairs: Annotated[tuple[tuple[str, str], ...] | None, BeforeValidator(_pair_list)] = (
        None  # pairwise (filled: all pairs)
    )
    attention_checks_per_batch: NonNegativeInt | None = None  # filled: 1 with attention checks

    @model_validator(mode="after")
    def _blocks(self) -> DesignSpec:
        if self.block_size is not None:
            found = _design.check_blocks(self.batch_size, self.block_size, DESIGN_FIELDS)
            if found:
                raise _design_problems(found)
        return self

    def to_dict(self, protocol: str) -> dict[str, Any]:
        d: dict[str, Any] = {"batch_size": self.batch_size}
        if protocol == Protocol.RATING:
            d.update(
                block_size=self.block_size,
                overlap=self.overlap,
                ordering=self.ordering,
                repeat_context_in_batch=self.repeat_context_in_batch,
                block_randomised_systems=list(self.block_randomised_systems or ()),
            )
        else:
            d.update(
                overlap=self.overlap,
                repeat_context_in_batch=self.repeat_context_in_batch,
                pairs=[list(p) for p in self.pairs or ()],
            )
        d["attention_checks_per_batch"] = self.attention_checks_per_batch or 0
        d["seed"] = self.seed
        return d


def _code_as_text(value: Any) -> Any:
    # An unquoted numeric code in YAML is still a code.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Code = Annotated[Text, BeforeValidator(_code_as_text)]


class CompletionSpec(SpecModel):
    code: Code | None = None  # shown to the annotator at the end (e.g. a Prolific code)
    redirect_url: Url | None = None  # where the annotator is sent at the end
    no_work_code: Code | None = None  # shown when no work is left (Prolific's "no work" code)

    @model_validator(mode="after")
    def _proof(self) -> CompletionSpec:
        if self.code is None and self.redirect_url is None:
            raise located(
                (
                    "",
                    "give a completion code, a redirect_url, or both, so annotators "
                    "can prove they finished",
                )
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "redirect_url": self.redirect_url,
            "no_work_code": self.no_work_code,
        }


def _speakers(value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise located(("", f"must be a mapping, got {type_name(value)}"))
    bad = [
        (str(label), "must be a non-empty string")
        for label, shown in value.items()
        if not isinstance(shown, str) or not shown.strip()
    ]
    if bad:
        raise located(*bad)
    return {str(k): v for k, v in value.items()}


class WordingSpec(SpecModel):
    """How the annotator's pages name things."""

    response: Text = "Response"  # the reply being judged: "Response", "Reply A"
    speakers: Annotated[Mapping[str, str], BeforeValidator(_speakers), AfterValidator(freeze)] = (
        Field(default_factory=lambda: freeze({}))
    )  # dataset label -> shown name

    def to_dict(self) -> dict[str, Any]:
        return {"response": self.response, "speakers": dict(self.speakers)}


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
    name: Slug
    title: Text
    description: Text | None = None
    estimated_minutes: Minutes | None = None  # shown on the consent page
    protocol: Protocol
    dimensions: Annotated[
        tuple[Dimension, ...],
        BeforeValidator(_list_of("a non-empty list", non_empty=True)),
        Field(json_schema_extra={"minItems": 1}),
    ]
    instructions: Text
    example: ExampleSpec | None = None
    consent: Text
    content_warning: Text | None = None
    crisis_resources: Text | None = None
    wording: WordingSpec = Field(default_factory=WordingSpec)
    systems: Annotated[
        tuple[SystemSpec, ...],
        BeforeValidator(_list_of("a non-empty list", non_empty=True)),
        Field(json_schema_extra={"minItems": 1}),
    ]
    contexts: ContextsSpec
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    design: DesignSpec
    attention_checks: Annotated[
        tuple[AttentionCheckSpec, ...], BeforeValidator(_list_of("a list of checks"))
    ] = ()
    lease_minutes: Minutes = 60
    allow_back: Annotated[Flag, AfterValidator(_no_going_back)] = False
    completion: CompletionSpec

    missing: ClassVar[Mapping[str, str]] = {
        "dimensions": "is required: a non-empty list",
        "systems": "is required: a non-empty list",
    }

    _base_dir: str | None = PrivateAttr(default=None)  # the folder relative paths use

    @model_validator(mode="after")
    def _across_parts(self) -> StudySpec:
        found = _cross_field_problems(self)
        if found:
            raise located(*found, absolute=True)
        filled = _with_defaults(self)
        infeasible = filled.design_problems(filled.sampling.n_contexts)
        if infeasible:
            raise located(*((p.path, p.reason) for p in infeasible), absolute=True)
        return filled

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
    def design_problems(self, n_contexts: int | None) -> list[SpecProblem]:
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
        return [SpecProblem(_design.name_of(p, DESIGN_FIELDS), r) for p, r in found]

    def sample(self, contexts: Sequence[Any]) -> list[str]:
        """``design.sample_contexts`` with this spec's sampling parameters."""
        s = self.sampling
        return _design.sample_contexts(contexts, s.n_contexts, s.stratify_by, s.per_stratum, s.seed)

    def make_design(self, context_ids: Sequence[str]) -> _design.Design:
        """``design.design_*_batches`` with this spec's design parameters, then
        ``design.insert_attention_checks`` when the spec has attention checks."""
        design = self._base_design(context_ids)
        per_batch = self.design.attention_checks_per_batch
        if self.attention_checks and per_batch:
            design = _design.insert_attention_checks(
                design, [a.id for a in self.attention_checks], per_batch, self.design.seed or 0
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


# --------------------------------------------------------------------------- rules across parts

Problem = tuple[str, str]


def _cross_field_problems(spec: StudySpec) -> list[Problem]:
    found = _dimension_problems(spec)
    dims_ok = not found
    found += _example_problems(spec, dims_ok)
    found += _system_problems(spec)
    found += _attention_problems(spec, dims_ok)
    found += _design_field_problems(spec)
    return found


def _dimension_problems(spec: StudySpec) -> list[Problem]:
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
    spec: StudySpec, part: ExampleSpec | AttentionCheckSpec, path: str, noun: str
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


def _example_problems(spec: StudySpec, dims_ok: bool) -> list[Problem]:
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
        problem = by_key[key].example_problem(value)
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


def _system_problems(spec: StudySpec) -> list[Problem]:
    found: list[Problem] = []
    first: dict[str, int] = {}
    for i, s in enumerate(spec.systems):
        if s.name in first:
            found.append(
                (f"systems[{i}].name", f"{s.name!r} is already used by systems[{first[s.name]}]")
            )
            continue
        if s.name == ATTENTION_SYSTEM:
            found.append(
                (
                    f"systems[{i}].name",
                    f"{ATTENTION_SYSTEM!r} is reserved for the responses of attention checks",
                )
            )
            continue
        first[s.name] = i
    if spec.protocol == Protocol.PAIRWISE and len(spec.systems) < 2:
        found.append(("systems", "a pairwise study needs at least 2 systems"))
    return found


def _attention_problems(spec: StudySpec, dims_ok: bool) -> list[Problem]:
    found: list[Problem] = []
    first: dict[str, int] = {}
    by_key = {d.key: d for d in spec.dimensions}
    for i, check in enumerate(spec.attention_checks):
        path = f"attention_checks[{i}]"
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
                    f"{check.id!r} is already used by attention_checks[{first[check.id]}]",
                )
            )
            continue
        first[check.id] = i
    per_batch = spec.design.attention_checks_per_batch
    if per_batch is not None:
        found += [
            (_design.name_of(p, DESIGN_FIELDS), r)
            for p, r in _design.check_attention_parameters(list(first), per_batch, DESIGN_FIELDS)
        ]
    return found


def _design_field_problems(spec: StudySpec) -> list[Problem]:
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


def _with_defaults(spec: StudySpec) -> StudySpec:
    """The spec with the design defaults that depend on other parts filled in."""
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
    return spec.model_copy(
        update={"design": d.model_copy(update=filled), "attention_checks": checks}
    )
