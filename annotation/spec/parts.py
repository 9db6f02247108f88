"""The parts of a study spec (pure: no Django): example, attention checks, systems,
contexts, sampling, design, completion, wording, and the field types they are written in.

Each part is a frozen pydantic model that refuses unknown fields; its field rules are
constraints, and the rules within one part are its model validators. The design's
feasibility is the designer's (``annotation.design``): the validators call its checks
with ``DESIGN_FIELDS``, so that what they find names spec fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    Strict,
    WithJsonSchema,
    model_validator,
)

from annotation import design as _design
from annotation.spec.data_files import Turn, parse_turns, thaw
from annotation.spec_fields import (
    Flag,
    Markdown,
    SpecModel,
    Text,
    freeze,
    located,
    meaning,
    type_name,
)
from core import limits
from core.vocabulary import GENERATED_SYSTEM_KINDS, Protocol, SystemKind

__all__ = [
    "ATTENTION_SYSTEM",
    "DEGRADED_SYSTEM",
    "GOLD_SYSTEM",
    "RESERVED_SYSTEMS",
    "COMPLETION_OUTCOMES",
    "DESIGN_FIELDS",
    "SCHEMA_VERSION",
    "AttentionCheckSpec",
    "CompletionCodes",
    "CompletionSpec",
    "ContextsSpec",
    "DesignSpec",
    "ExampleSpec",
    "GeneratedSystem",
    "ImportedSystem",
    "OutcomeCode",
    "ReferenceSystem",
    "SamplingSpec",
    "SystemSpec",
    "WordingSpec",
]

SCHEMA_VERSION = 1
#: The system name the candidates of attention checks are stored under (reserved).
ATTENTION_SYSTEM = "attention-check"
#: The system names of degraded copies and gold items (annotation/controls.py), reserved too.
DEGRADED_SYSTEM = "degraded-copy"
GOLD_SYSTEM = "gold-item"
#: Reserved system name -> what it holds (a spec's systems may not use them).
RESERVED_SYSTEMS = {
    ATTENTION_SYSTEM: "the responses of attention checks",
    DEGRADED_SYSTEM: "the degraded copies of quality control",
    GOLD_SYSTEM: "the responses of gold items",
}
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

SLUG = meaning(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$", "a slug (lowercase letters, digits and single dashes)"
)
SYSTEM_NAME = meaning(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", "a system name (letters, digits, '_', '-', '.')"
)
CHECK_ID = meaning(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", "an id (letters, digits, '_', '-', '.')")
URL = meaning(r"(?i)^https?://[^\s/$.?#][^\s]*$", "an http:// or https:// URL")


Slug = Annotated[str, Strict(), Field(pattern=SLUG)]
SystemName = Annotated[
    str, Strict(), Field(pattern=SYSTEM_NAME, max_length=limits.SYSTEM_NAME.max_length)
]
CheckId = Annotated[
    str, Strict(), Field(pattern=CHECK_ID, max_length=limits.ATTENTION_CHECK_ID.max_length)
]
Url = Annotated[str, Strict(), Field(pattern=URL)]
Integer = Annotated[int, Strict()]
PositiveInt = Annotated[int, Field(strict=True, ge=1)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]
Minutes = Annotated[int, Field(strict=True, ge=1, le=DAY_MINUTES)]


def list_of(what: str, *, non_empty: bool = False) -> Callable[[Any], Any]:
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
    explanation: Markdown | None = None

    missing: ClassVar[Mapping[str, str]] = {
        "turns": '"turns" must be a non-empty list of {speaker, text}'
    }
    bounds: ClassVar[Mapping[str, str]] = {"explanation": "it is sent with the instructions"}

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

    bounds: ClassVar[Mapping[str, str]] = {"id": "the longest check id the database holds"}
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
    bounds: ClassVar[Mapping[str, str]] = {"name": "the longest system name the database holds"}
    listed: ClassVar[tuple[str, ...]] = (
        "name",
        "kind",
        "label",
        "responses",
        "config",
        "needs_generation",
    )

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
    block_size: PositiveInt | None = None  # rating (filled: batch_size)
    overlap: Annotated[PositiveInt, Field(le=limits.MAX_OVERLAP)] = 3
    ordering: Literal["all_permutations", "latin_square", "random"] | None = None  # rating
    repeat_context_in_batch: Flag = False
    block_randomised_systems: Annotated[tuple[str, ...] | None, BeforeValidator(_string_list)] = (
        None  # rating (filled)
    )
    pairs: Annotated[tuple[tuple[str, str], ...] | None, BeforeValidator(_pair_list)] = (
        None  # pairwise (filled: all pairs)
    )
    attention_checks_per_batch: NonNegativeInt | None = None  # filled: 1 with attention checks
    seed: NonNegativeInt | None = None  # filled: sampling.seed

    bounds: ClassVar[Mapping[str, str]] = {
        "overlap": "annotators judging each output; a crowd study uses 3 to 10",
    }

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


#: The outcomes a participant can leave with (``annotation.completion``), in the order a
#: spec lists them: finished and passed quality control, finished but failed it, failed
#: the qualification, found no work.
COMPLETION_OUTCOMES = ("completed", "failed_checks", "screened_out", "no_work")


class OutcomeCode(SpecModel):
    """What a participant leaving with one outcome is given: a code, a redirect, or both."""

    code: Code | None = None
    redirect_url: Url | None = None

    @model_validator(mode="after")
    def _something(self) -> OutcomeCode:
        if self.code is None and self.redirect_url is None:
            raise located(("", "give a code, a redirect_url, or both"))
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "redirect_url": self.redirect_url}


class CompletionCodes(SpecModel):
    """A code (and redirect) per outcome; Prolific takes several completion codes per study."""

    completed: OutcomeCode | None = None
    failed_checks: OutcomeCode | None = None
    screened_out: OutcomeCode | None = None
    no_work: OutcomeCode | None = None

    @model_validator(mode="after")
    def _distinct(self) -> CompletionCodes:
        # The platform tells outcomes apart by their codes alone.
        first: dict[str, str] = {}
        found = []
        for outcome in COMPLETION_OUTCOMES:
            given = getattr(self, outcome)
            if given is None or given.code is None:
                continue
            if given.code in first:
                found.append((f"{outcome}.code", f"is the code of {first[given.code]} too"))
            else:
                first[given.code] = outcome
        if found:
            raise located(*found)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            o: getattr(self, o).to_dict()
            for o in COMPLETION_OUTCOMES
            if getattr(self, o) is not None
        }


class CompletionSpec(SpecModel):
    code: Code | None = None  # shown to the annotator at the end (e.g. a Prolific code)
    redirect_url: Url | None = None  # where the annotator is sent at the end
    no_work_code: Code | None = None  # shown when no work is left (Prolific's "no work" code)
    codes: CompletionCodes | None = None  # a code per outcome; wins over the three above

    @model_validator(mode="after")
    def _proof(self) -> CompletionSpec:
        passed = self.codes.completed if self.codes is not None else None
        if self.code is None and self.redirect_url is None and passed is None:
            raise located(
                (
                    "",
                    "give a completion code, a redirect_url, or both (or codes.completed), "
                    "so annotators can prove they finished",
                )
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "redirect_url": self.redirect_url,
            "no_work_code": self.no_work_code,
            # only when given, so the hashes of specs without it stay what they were
            **({"codes": self.codes.to_dict()} if self.codes is not None else {}),
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
