"""The study spec: schema, loading and validation (pure: no Django).

A study is described by one spec (YAML or JSON). ``load_spec`` reads it, checks every
field and the data files it names, and returns a tree of frozen dataclasses, or raises
``SpecError`` listing *every* problem as ``field.path: reason``. ``StudySpec.to_dict()`` is
the normalised form (defaults filled in) that is stored with the study and hashed
(``spec_hash``). ``examples/reference.yaml`` documents every field.

Data files (paths relative to the spec file's folder):
    contexts   JSONL, one {"id", "turns": [{"speaker", "text"}], "reference", "metadata"}
    responses  JSONL, one {"context_id", "response"} per line (imported systems)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from annotation import design as _design

__all__ = [
    "ATTENTION_SYSTEM",
    "DIMENSION_TYPES",
    "PROTOCOLS",
    "SYSTEM_KINDS",
    "AttentionCheckSpec",
    "CompletionSpec",
    "ContextRecord",
    "ContextsSpec",
    "DataFileError",
    "DesignSpec",
    "DimensionSpec",
    "ExampleSpec",
    "SamplingSpec",
    "SpecError",
    "SpecProblem",
    "StudySpec",
    "SystemSpec",
    "Turn",
    "load_contexts",
    "load_responses",
    "load_spec",
    "spec_hash",
    "validate_spec",
]

SCHEMA_VERSION = 1
PROTOCOLS = ("rating", "pairwise")
DIMENSION_TYPES = ("slider", "checkbox", "likert", "choice")
RATING_TYPES = ("slider", "checkbox", "likert")
RATIONALE = ("none", "optional", "required")
SYSTEM_KINDS = ("imported", "reference", "hf_causal", "hf_seq2seq", "dexperts")
GENERATED_KINDS = ("hf_causal", "hf_seq2seq", "dexperts")
CHOICES = ("A", "B", "tie")
#: The system name the candidates of attention checks are stored under (reserved).
ATTENTION_SYSTEM = "attention-check"

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SYSTEM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
MAX_FILE_PROBLEMS = 20  # per data file; the rest are counted


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class SpecProblem:
    path: str  # field path, e.g. "dimensions[2].type" or "design.block_size"
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class SpecError(ValueError):
    """An invalid spec; ``problems`` holds every problem found."""

    def __init__(self, problems: Sequence[SpecProblem]):
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in study spec:"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))


class DataFileError(ValueError):
    """A malformed data file; ``problems`` are ``file:line: reason`` strings."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# --------------------------------------------------------------------------- freezing


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_thaw(v) for v in value]
    return value


# --------------------------------------------------------------------------- dataclasses
# Hash a spec with spec_hash(), not hash(): mappings inside are read-only proxies.


@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"speaker": self.speaker, "text": self.text}


@dataclass(frozen=True)
class ContextRecord:
    id: str
    turns: tuple[Turn, ...]
    reference: str | None = None
    # read-only at the top level; values are plain JSON (dict(metadata) is JSON-able)
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    line: int = field(default=0, compare=False)  # line in the contexts file (1-based)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "turns": [t.to_dict() for t in self.turns],
            "reference": self.reference,
            "metadata": _thaw(self.metadata),
        }


@dataclass(frozen=True)
class DimensionSpec:
    key: str
    label: str
    statement: str
    type: str  # slider | checkbox | likert | choice
    required: bool
    min_label: str | None = None  # slider
    max_label: str | None = None  # slider
    show_value: bool = False  # slider
    points: int | None = None  # likert
    labels: tuple[str, ...] | None = None  # likert
    allow_tie: bool = True  # choice
    rationale: str = "none"  # choice: none | optional | required

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "statement": self.statement,
            "type": self.type,
            "required": self.required,
        }
        if self.type == "slider":
            d.update(min_label=self.min_label, max_label=self.max_label, show_value=self.show_value)
        elif self.type == "likert":
            d.update(points=self.points, labels=list(self.labels) if self.labels else None)
        elif self.type == "choice":
            d.update(allow_tie=self.allow_tie, rationale=self.rationale)
        return d


@dataclass(frozen=True)
class ExampleSpec:
    turns: tuple[Turn, ...]
    answers: Mapping[str, Any]
    response: str | None = None  # rating
    response_a: str | None = None  # pairwise
    response_b: str | None = None  # pairwise
    explanation: str | None = None

    def to_dict(self, protocol: str) -> dict[str, Any]:
        d: dict[str, Any] = {"turns": [t.to_dict() for t in self.turns]}
        if protocol == "pairwise":
            d.update(response_a=self.response_a, response_b=self.response_b)
        else:
            d["response"] = self.response
        d.update(answers=_thaw(self.answers), explanation=self.explanation)
        return d


@dataclass(frozen=True)
class AttentionCheckSpec:
    """An item with a known right answer, mixed into every batch (see annotation/design.md).

    ``expect`` is normalised: per dimension key, ``{"min": n, "max": n}`` (either may be
    missing) for a slider, else the list of accepted answers (checkbox true/false, likert
    1..points, choice a / b / tie in lower case, as judgments store them). For a pairwise
    check, ``a`` means response_a, whichever side it is shown on.
    """

    id: str
    turns: tuple[Turn, ...]
    expect: Mapping[str, Any]
    response: str | None = None  # rating
    response_a: str | None = None  # pairwise
    response_b: str | None = None  # pairwise

    def to_dict(self, protocol: str) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "context": [t.to_dict() for t in self.turns]}
        if protocol == "pairwise":
            d.update(response_a=self.response_a, response_b=self.response_b)
        else:
            d["response"] = self.response
        d["expect"] = _thaw(self.expect)
        return d


@dataclass(frozen=True)
class SystemSpec:
    name: str
    kind: str  # imported | reference | hf_causal | hf_seq2seq | dexperts
    label: str | None = None  # researcher-facing display name; never shown to annotators
    responses: str | None = None  # imported: JSONL path as written (relative to the spec)
    config: Mapping[str, Any] | None = None  # generated kinds: backend configuration

    @property
    def needs_generation(self) -> bool:
        return self.kind in GENERATED_KINDS

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "label": self.label}
        if self.kind == "imported":
            d["responses"] = self.responses
        if self.kind in GENERATED_KINDS:
            d["config"] = _thaw(self.config) if self.config is not None else {}
        d["needs_generation"] = self.needs_generation
        return d


@dataclass(frozen=True)
class ContextsSpec:
    file: str  # JSONL path as written (relative to the spec)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file}


@dataclass(frozen=True)
class SamplingSpec:
    n_contexts: int | None = None  # None: every context in the file
    stratify_by: str | None = None  # metadata field
    per_stratum: int | None = None
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_contexts": self.n_contexts,
            "stratify_by": self.stratify_by,
            "per_stratum": self.per_stratum,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class DesignSpec:
    batch_size: int
    overlap: int = 3
    repeat_context_in_batch: bool = False
    seed: int = 0
    block_size: int | None = None  # rating (filled: batch_size)
    ordering: str | None = None  # rating (filled: all_permutations)
    block_randomised_systems: tuple[str, ...] | None = None  # rating (filled)
    pairs: tuple[tuple[str, str], ...] | None = None  # pairwise (filled: all pairs)
    attention_checks_per_batch: int = 0  # filled: 1 when the spec has attention checks

    def to_dict(self, protocol: str) -> dict[str, Any]:
        d: dict[str, Any] = {"batch_size": self.batch_size}
        if protocol == "rating":
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
        d["attention_checks_per_batch"] = self.attention_checks_per_batch
        d["seed"] = self.seed
        return d


@dataclass(frozen=True)
class CompletionSpec:
    code: str | None = None  # shown to the annotator at the end (e.g. a Prolific code)
    redirect_url: str | None = None  # where the annotator is sent at the end
    no_work_code: str | None = None  # shown when no work is left (e.g. Prolific's "no work" code)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "redirect_url": self.redirect_url,
            "no_work_code": self.no_work_code,
        }


@dataclass(frozen=True)
class WordingSpec:
    """How the annotator's pages name things."""

    response: str = "Response"  # the reply being judged: "Response", "Reply A"
    speakers: Mapping[str, str] = field(default_factory=dict)  # dataset label -> shown name

    def to_dict(self) -> dict[str, Any]:
        return {"response": self.response, "speakers": dict(self.speakers)}


@dataclass(frozen=True)
class StudySpec:
    name: str
    title: str
    protocol: str
    dimensions: tuple[DimensionSpec, ...]
    instructions: str
    consent: str
    systems: tuple[SystemSpec, ...]
    contexts: ContextsSpec
    sampling: SamplingSpec
    design: DesignSpec
    completion: CompletionSpec
    description: str | None = None
    estimated_minutes: int | None = None  # shown on the consent page
    wording: WordingSpec = field(default_factory=WordingSpec)
    example: ExampleSpec | None = None
    content_warning: str | None = None
    crisis_resources: str | None = None
    attention_checks: tuple[AttentionCheckSpec, ...] = ()
    lease_minutes: int = 60
    allow_back: bool = False
    schema_version: int = SCHEMA_VERSION
    base_dir: str | None = field(default=None, compare=False)  # folder relative paths use

    # -- serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "estimated_minutes": self.estimated_minutes,
            "protocol": self.protocol,
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
    def dimension(self, key: str) -> DimensionSpec:
        return next(d for d in self.dimensions if d.key == key)

    def system(self, name: str) -> SystemSpec:
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

    # -- the pipeline the create_study service runs
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
                design, [a.id for a in self.attention_checks], per_batch, self.design.seed
            )
        return design

    def _base_design(self, context_ids: Sequence[str]) -> _design.Design:
        d = self.design
        if self.protocol == "pairwise":
            return _design.design_pairwise_batches(
                context_ids,
                d.pairs or (),
                d.batch_size,
                d.overlap,
                d.repeat_context_in_batch,
                d.seed,
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
            d.seed,
        )


def spec_hash(spec: StudySpec) -> str:
    """sha256 of the canonical JSON of ``spec.to_dict()`` (stable across runs)."""
    text = json.dumps(spec.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- data files


def _read_jsonl(path: Path, display: str, problems: list[str]) -> list[tuple[int, Any]]:
    """(line number, parsed object) for every non-blank line; problems appended."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        problems.append(f"file not found: {display}")
        return []
    except OSError as exc:
        problems.append(f"{display}: cannot read ({exc.strerror or exc})")
        return []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(f"{display}:{line}: not UTF-8 text")
        return []
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((n, json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(f"{display}:{n}: invalid JSON ({exc.msg} at column {exc.colno})")
    return rows


def _cap(problems: list[str], display: str) -> list[str]:
    if len(problems) <= MAX_FILE_PROBLEMS:
        return problems
    extra = len(problems) - MAX_FILE_PROBLEMS
    return problems[:MAX_FILE_PROBLEMS] + [f"{display}: ... and {extra} more problems"]


def _is_id(value: Any) -> bool:
    return (isinstance(value, str) and value.strip() != "") or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def _parse_turns(value: Any, where: str, problems: list[str]) -> tuple[Turn, ...]:
    if not isinstance(value, list) or not value:
        problems.append(f'{where}: "turns" must be a non-empty list of {{speaker, text}}')
        return ()
    turns = []
    for i, t in enumerate(value):
        if not isinstance(t, dict):
            problems.append(f"{where}: turns[{i}] must be an object with speaker and text")
            continue
        speaker, text = t.get("speaker"), t.get("text")
        bad = [
            k
            for k, v in (("speaker", speaker), ("text", text))
            if not isinstance(v, str) or not v.strip()
        ]
        extra = sorted(set(t) - {"speaker", "text"})
        if bad:
            problems.append(f"{where}: turns[{i}] needs a non-empty string {' and '.join(bad)}")
        elif extra:
            problems.append(f"{where}: turns[{i}] has unknown fields {', '.join(extra)}")
        else:
            turns.append(Turn(speaker, text))
    return tuple(turns)


def _contexts_from_file(path: Path, display: str) -> tuple[list[ContextRecord], list[str]]:
    problems: list[str] = []
    rows = _read_jsonl(path, display, problems)
    records: list[ContextRecord] = []
    first_line: dict[str, int] = {}
    for n, obj in rows:
        where = f"{display}:{n}"
        if not isinstance(obj, dict):
            problems.append(f"{where}: expected a JSON object, got {type(obj).__name__}")
            continue
        before = len(problems)
        cid = obj.get("id")
        if "id" not in obj:
            problems.append(f'{where}: missing "id"')
        elif not _is_id(cid):
            problems.append(f'{where}: "id" must be a non-empty string or an integer')
        turns = _parse_turns(obj.get("turns"), where, problems)
        reference = obj.get("reference")
        if reference is not None and not isinstance(reference, str):
            problems.append(f'{where}: "reference" must be a string or null')
        metadata = obj.get("metadata", {})
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            problems.append(f'{where}: "metadata" must be an object')
        extra = sorted(set(obj) - {"id", "turns", "reference", "metadata"})
        if extra:
            problems.append(f"{where}: unknown fields {', '.join(extra)}")
        if _is_id(cid):
            sid = str(cid)
            if sid in first_line:
                problems.append(
                    f"{where}: duplicate context id {sid!r} (first on line {first_line[sid]})"
                )
                continue
            first_line[sid] = n
        if len(problems) == before:
            records.append(ContextRecord(str(cid), turns, reference, MappingProxyType(metadata), n))
    if not rows and not problems:
        problems.append(f"{display}: no contexts (the file is empty)")
    return records, _cap(problems, display)


def _responses_from_file(
    path: Path, display: str, known_ids: set[str] | None
) -> tuple[dict[str, str], list[str]]:
    problems: list[str] = []
    rows = _read_jsonl(path, display, problems)
    responses: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for n, obj in rows:
        where = f"{display}:{n}"
        if not isinstance(obj, dict):
            problems.append(f"{where}: expected a JSON object, got {type(obj).__name__}")
            continue
        cid, response = obj.get("context_id"), obj.get("response")
        ok = True
        if "context_id" not in obj:
            problems.append(f'{where}: missing "context_id"')
            ok = False
        elif not _is_id(cid):
            problems.append(f'{where}: "context_id" must be a non-empty string or an integer')
            ok = False
        if not isinstance(response, str) or not response.strip():
            problems.append(f'{where}: "response" must be a non-empty string')
            ok = False
        extra = sorted(set(obj) - {"context_id", "response", "metadata"})
        if extra:
            problems.append(f"{where}: unknown fields {', '.join(extra)}")
            ok = False
        if not _is_id(cid):
            continue
        sid = str(cid)
        if known_ids is not None and sid not in known_ids:
            problems.append(f"{where}: response for unknown context id {sid!r}")
            continue
        if sid in first_line:
            problems.append(
                f"{where}: second response for context {sid!r} (first on line {first_line[sid]})"
            )
            continue
        first_line[sid] = n
        if ok:
            responses[sid] = response
    if not rows and not problems:
        problems.append(f"{display}: no responses (the file is empty)")
    return responses, _cap(problems, display)


def load_contexts(path: str | Path) -> list[ContextRecord]:
    """Read a contexts JSONL file; raises DataFileError naming file:line on any problem."""
    records, problems = _contexts_from_file(Path(path), str(path))
    if problems:
        raise DataFileError(problems)
    return records


def load_responses(path: str | Path, *, known_ids: Sequence[str] | None = None) -> dict[str, str]:
    """Read a responses JSONL file into {context_id: response}.

    With ``known_ids``, a response for any other context id is an error. Raises
    DataFileError naming file:line on any problem.
    """
    known = {str(k) for k in known_ids} if known_ids is not None else None
    responses, problems = _responses_from_file(Path(path), str(path), known)
    if problems:
        raise DataFileError(problems)
    return responses


# --------------------------------------------------------------------------- reading


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen[key] = True
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_source(
    source: str | Path | Mapping[str, Any], base_dir: str | Path | None
) -> tuple[Any, Path | None, list[SpecProblem]]:
    if isinstance(source, Mapping):
        return dict(source), (Path(base_dir) if base_dir is not None else None), []
    path = Path(source)
    display = str(source)
    folder = Path(base_dir) if base_dir is not None else path.parent
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        return None, folder, [SpecProblem(display, "a spec file must end in .yaml, .yml or .json")]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None, folder, [SpecProblem(display, "file not found")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, folder, [SpecProblem(display, f"cannot read: {exc}")]
    try:
        if suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except json.JSONDecodeError as exc:
        return None, folder, [SpecProblem(display, f"line {exc.lineno}: invalid JSON ({exc.msg})")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = getattr(exc, "problem", None) or str(exc)
        return None, folder, [SpecProblem(display, f"{where}invalid YAML ({what})")]
    return data, folder, []


# --------------------------------------------------------------------------- validation


class _Checker:
    """Reads fields of one mapping, recording a problem for each bad one."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = problems

    def add(self, path: str, reason: str) -> None:
        self.problems.append(SpecProblem(path, reason))

    def mapping(
        self, value: Any, path: str, allowed: Sequence[str], *, required: bool = True
    ) -> dict | None:
        if value is None:
            if required:
                self.add(path, "is required")
            return None
        if not isinstance(value, Mapping):
            self.add(path, f"must be a mapping, got {_type_name(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.add(
                    _join(path, str(key)), f"unknown field (expected one of {', '.join(allowed)})"
                )
        return dict(value)

    def string(
        self,
        m: Mapping,
        key: str,
        path: str,
        *,
        required: bool = False,
        default: str | None = None,
        pattern: re.Pattern | None = None,
        pattern_text: str = "",
        choices: Sequence[str] | None = None,
    ) -> str | None:
        p = _join(path, key)
        value = m.get(key)
        if value is None:
            if required:
                self.add(p, "is required")
            return default
        if not isinstance(value, str):
            self.add(p, f"must be a string, got {_type_name(value)}")
            return default
        if choices is not None:
            if value not in choices:
                self.add(p, f"{value!r} is not one of {', '.join(choices)}")
                return default
            return value
        if not value.strip():
            self.add(p, "must not be empty")
            return default
        if pattern is not None and not pattern.match(value):
            self.add(p, f"{value!r} is not {pattern_text}")
            return default
        return value

    def integer(
        self,
        m: Mapping,
        key: str,
        path: str,
        *,
        required: bool = False,
        default: int | None = None,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        p = _join(path, key)
        value = m.get(key)
        if value is None:
            if required:
                self.add(p, "is required")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(p, f"must be an integer, got {_type_name(value)} {value!r}")
            return default
        if minimum is not None and value < minimum:
            self.add(p, f"must be at least {minimum}, got {value}")
            return default
        if maximum is not None and value > maximum:
            self.add(p, f"must be at most {maximum}, got {value}")
            return default
        return value

    def boolean(self, m: Mapping, key: str, path: str, *, default: bool) -> bool:
        value = m.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.add(_join(path, key), f"must be true or false, got {_type_name(value)} {value!r}")
            return default
        return value

    def string_list(self, m: Mapping, key: str, path: str) -> tuple[str, ...] | None:
        p = _join(path, key)
        value = m.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.add(p, "must be a list of non-empty strings")
            return None
        return tuple(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


TOP_FIELDS = (
    "schema_version",
    "name",
    "title",
    "description",
    "estimated_minutes",
    "protocol",
    "dimensions",
    "instructions",
    "example",
    "consent",
    "content_warning",
    "crisis_resources",
    "wording",
    "systems",
    "contexts",
    "sampling",
    "design",
    "attention_checks",
    "lease_minutes",
    "allow_back",
    "completion",
)
DIMENSION_FIELDS = (
    "key",
    "label",
    "statement",
    "type",
    "required",
    "min_label",
    "max_label",
    "show_value",
    "points",
    "labels",
    "allow_tie",
    "rationale",
)
TYPE_FIELDS = {
    "slider": ("min_label", "max_label", "show_value"),
    "likert": ("points", "labels"),
    "choice": ("allow_tie", "rationale"),
    "checkbox": (),
}
RATING_DESIGN_ONLY = ("block_size", "ordering", "block_randomised_systems")
PAIRWISE_DESIGN_ONLY = ("pairs",)
DESIGN_PARAM_PATHS = {
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


def _dimension(c: _Checker, raw: Any, path: str, protocol: str | None) -> DimensionSpec | None:
    m = c.mapping(raw, path, DIMENSION_FIELDS)
    if m is None:
        return None
    n_before = len(c.problems)
    key = c.string(
        m,
        "key",
        path,
        required=True,
        pattern=KEY_RE,
        pattern_text="an identifier (letters, digits, underscores; not starting with a digit)",
    )
    label = c.string(m, "label", path, required=True)
    statement = c.string(m, "statement", path, required=True)
    dtype = c.string(m, "type", path, required=True, choices=DIMENSION_TYPES)
    if dtype is not None:
        if protocol == "rating" and dtype == "choice":
            c.add(
                _join(path, "type"),
                "'choice' (A / B / tie) is only for pairwise studies; "
                "rating studies use slider, checkbox or likert",
            )
        if protocol == "pairwise" and dtype != "choice":
            c.add(
                _join(path, "type"),
                f"pairwise studies use only choice dimensions (A / B / tie), got {dtype!r}",
            )
        for other, fields in TYPE_FIELDS.items():
            for f in fields:
                if f in m and m[f] is not None and other != dtype:
                    c.add(
                        _join(path, f), f"applies only to {other} dimensions (this one is {dtype})"
                    )
    if dtype == "checkbox":
        required = False
        if m.get("required") is True:
            c.add(
                _join(path, "required"),
                "a checkbox is always answered (unticked = false); leave 'required' out",
            )
        elif "required" in m and m["required"] not in (None, False):
            c.add(_join(path, "required"), f"must be true or false, got {m['required']!r}")
    else:
        required = c.boolean(m, "required", path, default=True)
    spec_kw: dict[str, Any] = {}
    if dtype == "slider":
        spec_kw["min_label"] = c.string(m, "min_label", path, default="Strongly disagree")
        spec_kw["max_label"] = c.string(m, "max_label", path, default="Strongly agree")
        spec_kw["show_value"] = c.boolean(m, "show_value", path, default=False)
    elif dtype == "likert":
        labels = c.string_list(m, "labels", path)
        default_points = len(labels) if labels and 2 <= len(labels) <= 11 else 5
        points = c.integer(m, "points", path, default=default_points, minimum=2, maximum=11)
        if labels is not None and points is not None and len(labels) != points:
            c.add(_join(path, "labels"), f"has {len(labels)} labels but points is {points}")
        spec_kw.update(points=points, labels=labels)
    elif dtype == "choice":
        spec_kw["allow_tie"] = c.boolean(m, "allow_tie", path, default=True)
        spec_kw["rationale"] = c.string(m, "rationale", path, default="none", choices=RATIONALE)
    if len(c.problems) != n_before:
        return None
    return DimensionSpec(
        key=key, label=label, statement=statement, type=dtype, required=required, **spec_kw
    )


def _answer_problem(dim: DimensionSpec, value: Any) -> str | None:
    if dim.type == "slider":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            return f"must be a number from 0 to 100, got {value!r}"
    elif dim.type == "checkbox":
        if not isinstance(value, bool):
            return f"must be true or false, got {value!r}"
    elif dim.type == "likert":
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 1 <= value <= (dim.points or 5)
        ):
            return f"must be an integer from 1 to {dim.points}, got {value!r}"
    elif dim.type == "choice":
        allowed = CHOICES if dim.allow_tie else CHOICES[:2]
        if value not in allowed:
            return f"must be one of {', '.join(allowed)}, got {value!r}"
    return None


def _wording(c: _Checker, raw: Any) -> WordingSpec:
    if raw is None:
        return WordingSpec()
    m = c.mapping(raw, "wording", ("response", "speakers"))
    if m is None:
        return WordingSpec()
    response = c.string(m, "response", "wording", default="Response") or "Response"
    speakers: dict[str, str] = {}
    raw_speakers = m.get("speakers")
    if raw_speakers is not None:
        if not isinstance(raw_speakers, Mapping):
            c.add("wording.speakers", f"must be a mapping, got {_type_name(raw_speakers)}")
        else:
            for label, shown in raw_speakers.items():
                if not isinstance(shown, str) or not shown.strip():
                    c.add(f"wording.speakers.{label}", "must be a non-empty string")
                else:
                    speakers[str(label)] = shown
    return WordingSpec(response=response, speakers=_freeze(speakers))


def _example(
    c: _Checker, raw: Any, protocol: str | None, dims: Sequence[DimensionSpec], dims_ok: bool
) -> ExampleSpec | None:
    if raw is None:
        return None
    path = "example"
    m = c.mapping(
        raw, path, ("turns", "response", "response_a", "response_b", "answers", "explanation")
    )
    if m is None:
        return None
    n_before = len(c.problems)
    turn_problems: list[str] = []
    turns = _parse_turns(m.get("turns"), "", turn_problems)
    for tp in turn_problems:
        c.add("example.turns", tp.lstrip(": "))
    if protocol == "pairwise":
        a = c.string(m, "response_a", path, required=True)
        b = c.string(m, "response_b", path, required=True)
        if m.get("response") is not None:
            c.add("example.response", "a pairwise example has response_a and response_b instead")
        response = None
    else:
        response = c.string(m, "response", path, required=True)
        for k in ("response_a", "response_b"):
            if m.get(k) is not None:
                c.add(f"example.{k}", "applies only to pairwise studies (use response)")
        a = b = None
    explanation = c.string(m, "explanation", path)
    answers = c.mapping(
        m.get("answers"),
        "example.answers",
        [d.key for d in dims]
        if dims_ok
        else [str(k) for k in m["answers"]]
        if isinstance(m.get("answers"), Mapping)
        else [],
    )
    if answers is not None and dims_ok:
        by_key = {d.key: d for d in dims}
        for key, value in answers.items():
            if key in by_key:
                problem = _answer_problem(by_key[key], value)
                if problem:
                    c.add(f"example.answers.{key}", problem)
        missing = [d.key for d in dims if d.key not in answers]
        if missing:
            c.add(
                "example.answers",
                f"the solved example must answer every dimension; missing {', '.join(missing)}",
            )
    if len(c.problems) != n_before:
        return None
    return ExampleSpec(
        turns=turns,
        answers=_freeze(answers or {}),
        response=response,
        response_a=a,
        response_b=b,
        explanation=explanation,
    )


ATTENTION_FIELDS = ("id", "context", "response", "response_a", "response_b", "expect")
CHECK_ID_RE = SYSTEM_RE


def _attention_checks(
    c: _Checker, raw: Any, protocol: str | None, dims: Sequence[DimensionSpec], dims_ok: bool
) -> tuple[AttentionCheckSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        c.add("attention_checks", f"must be a list of checks, got {_type_name(raw)}")
        return ()
    checks: list[AttentionCheckSpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        path = f"attention_checks[{i}]"
        check = _attention_check(c, item, path, protocol, dims, dims_ok)
        if check is None:
            continue
        if check.id in seen:
            c.add(f"{path}.id", f"{check.id!r} is already used by attention_checks[{seen[check.id]}]")
            continue
        seen[check.id] = i
        checks.append(check)
    return tuple(checks)


def _attention_check(
    c: _Checker,
    raw: Any,
    path: str,
    protocol: str | None,
    dims: Sequence[DimensionSpec],
    dims_ok: bool,
) -> AttentionCheckSpec | None:
    m = c.mapping(raw, path, ATTENTION_FIELDS)
    if m is None:
        return None
    n_before = len(c.problems)
    check_id = c.string(
        m,
        "id",
        path,
        required=True,
        pattern=CHECK_ID_RE,
        pattern_text="an id (letters, digits, '_', '-', '.')",
    )
    if m.get("context") is None:
        c.add(f"{path}.context", "is required: the conversation, a list of {speaker, text}")
        turns: tuple[Turn, ...] = ()
    else:
        turn_problems: list[str] = []
        turns = _parse_turns(m.get("context"), "", turn_problems)
        for tp in turn_problems:
            c.add(f"{path}.context", tp.lstrip(": ").replace('"turns"', "the context"))
    if protocol == "pairwise":
        a = c.string(m, "response_a", path, required=True)
        b = c.string(m, "response_b", path, required=True)
        if m.get("response") is not None:
            c.add(f"{path}.response", "a pairwise check has response_a and response_b instead")
        response = None
    else:
        response = c.string(m, "response", path, required=True)
        for k in ("response_a", "response_b"):
            if m.get(k) is not None:
                c.add(f"{path}.{k}", "applies only to pairwise studies (use response)")
        a = b = None
    expect = _expectations(c, m.get("expect"), f"{path}.expect", dims, dims_ok)
    if len(c.problems) != n_before or expect is None:
        return None
    return AttentionCheckSpec(
        id=check_id,
        turns=turns,
        expect=_freeze(expect),
        response=response,
        response_a=a,
        response_b=b,
    )


def _expectations(
    c: _Checker, raw: Any, path: str, dims: Sequence[DimensionSpec], dims_ok: bool
) -> dict[str, Any] | None:
    if raw is None:
        c.add(path, "is required: the right answer for at least one dimension")
        return None
    if not isinstance(raw, Mapping):
        c.add(path, f"must be a mapping of dimension key to condition, got {_type_name(raw)}")
        return None
    if not raw:
        c.add(path, "needs a condition for at least one dimension")
        return None
    if not dims_ok:
        return None  # the dimensions have their own problems; conditions cannot be judged
    by_key = {d.key: d for d in dims}
    out: dict[str, Any] = {}
    for key, cond in raw.items():
        where = f"{path}.{key}"
        dim = by_key.get(key) if isinstance(key, str) else None
        if dim is None:
            c.add(where, f"not a dimension of this study (dimensions: {', '.join(by_key)})")
            continue
        normal, problem = _condition(dim, cond)
        if problem:
            c.add(where, problem)
        else:
            out[key] = normal
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _condition(dim: DimensionSpec, cond: Any) -> tuple[Any, str | None]:
    """(normalised condition, None) or (None, the problem) for one dimension."""
    if dim.type == "slider":
        if not isinstance(cond, Mapping):
            return None, (
                f"a slider condition is {{min: N}} and/or {{max: N}} (0-100), got {cond!r}"
            )
        unknown = [str(k) for k in cond if k not in ("min", "max")]
        if unknown:
            return None, f"unknown condition {', '.join(unknown)} (a slider takes min and/or max)"
        bounds = {k: cond[k] for k in ("min", "max") if cond.get(k) is not None}
        if not bounds:
            return None, "give min and/or max (0-100)"
        for k, v in bounds.items():
            if not _is_number(v):
                return None, f"{k} must be a number from 0 to 100, got {v!r}"
            if not 0 <= v <= 100:
                return None, f"{k} {v} is outside 0–100"
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            return None, f"min {bounds['min']} is above max {bounds['max']}"
        if bounds.get("min", 0) <= 0 and bounds.get("max", 100) >= 100:
            return None, "accepts every answer (0–100); narrow it with min or max"
        return bounds, None
    values = list(cond) if isinstance(cond, list) else [cond]
    if not values:
        return None, "an empty list accepts no answer; give the accepted answers"
    if dim.type == "checkbox":
        allowed: list[Any] = [True, False]
        bad = [v for v in values if not isinstance(v, bool)]
        what = "true or false (or a list of them)"
    elif dim.type == "likert":
        points = dim.points or 5
        allowed = list(range(1, points + 1))
        bad = [
            v
            for v in values
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= points
        ]
        what = f"a whole number from 1 to {points} (or a list of them)"
    else:  # choice
        allowed = ["a", "b", "tie"] if dim.allow_tie else ["a", "b"]
        values = [v.lower() if isinstance(v, str) else v for v in values]
        bad = [v for v in values if v not in allowed]
        what = f"{' / '.join(CHOICES if dim.allow_tie else CHOICES[:2])} (or a list of them)"
    if bad:
        return None, f"{bad[0]!r} is not an answer here: expected {what}"
    accepted = [v for v in allowed if v in values]  # in the dimension's order, no repeats
    if len(accepted) == len(allowed):
        return None, "accepts every answer; a check must rule some out"
    return accepted, None


def _system(c: _Checker, raw: Any, path: str) -> SystemSpec | None:
    m = c.mapping(raw, path, ("name", "kind", "label", "responses", "config", "needs_generation"))
    if m is None:
        return None
    n_before = len(c.problems)
    name = c.string(
        m,
        "name",
        path,
        required=True,
        pattern=SYSTEM_RE,
        pattern_text="a system name (letters, digits, '_', '-', '.')",
    )
    kind = c.string(m, "kind", path, required=True, choices=SYSTEM_KINDS)
    label = c.string(m, "label", path)
    responses = config = None
    if kind == "imported":
        responses = c.string(m, "responses", path, required=True)
    elif m.get("responses") is not None:
        c.add(_join(path, "responses"), f"applies only to imported systems (this one is {kind})")
    if kind in GENERATED_KINDS:
        raw_config = m.get("config")
        if raw_config is None:
            raw_config = {}
        if not isinstance(raw_config, Mapping):
            c.add(_join(path, "config"), f"must be a mapping, got {_type_name(raw_config)}")
        else:
            config = _freeze(raw_config)
    elif m.get("config") is not None:
        c.add(
            _join(path, "config"),
            f"applies only to generated systems ({', '.join(GENERATED_KINDS)}), not {kind}",
        )
    if kind is not None and m.get("needs_generation") is not None:
        if m["needs_generation"] != (kind in GENERATED_KINDS):
            c.add(
                _join(path, "needs_generation"),
                f"is derived from kind ({kind}: "
                f"{'true' if kind in GENERATED_KINDS else 'false'}); leave it out",
            )
    if len(c.problems) != n_before:
        return None
    return SystemSpec(name=name, kind=kind, label=label, responses=responses, config=config)


def _parse(data: Any, problems: list[SpecProblem]) -> StudySpec | None:
    c = _Checker(problems)
    if not isinstance(data, Mapping):
        c.add(
            "(spec)", "is empty" if data is None else f"must be a mapping, got {_type_name(data)}"
        )
        return None
    top = c.mapping(data, "", TOP_FIELDS)
    assert top is not None
    n_start = len(problems)
    version = c.integer(top, "schema_version", "", default=SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        c.add("schema_version", f"this version of evalsite reads schema_version {SCHEMA_VERSION}")
    name = c.string(
        top,
        "name",
        "",
        required=True,
        pattern=SLUG_RE,
        pattern_text="a slug (lowercase letters, digits and single dashes)",
    )
    title = c.string(top, "title", "", required=True)
    description = c.string(top, "description", "")
    estimated_minutes = c.integer(top, "estimated_minutes", "", minimum=1, maximum=24 * 60)
    protocol = c.string(top, "protocol", "", required=True, choices=PROTOCOLS)

    # dimensions
    dims: list[DimensionSpec] = []
    raw_dims = top.get("dimensions")
    dims_ok = True
    if not isinstance(raw_dims, list) or not raw_dims:
        c.add(
            "dimensions",
            "is required: a non-empty list"
            if raw_dims is None
            else f"must be a non-empty list, got {_type_name(raw_dims)}",
        )
        dims_ok = False
    else:
        seen_keys: dict[str, int] = {}
        for i, raw in enumerate(raw_dims):
            d = _dimension(c, raw, f"dimensions[{i}]", protocol)
            if d is None:
                dims_ok = False
                continue
            if d.key in seen_keys:
                c.add(
                    f"dimensions[{i}].key",
                    f"{d.key!r} is already used by dimensions[{seen_keys[d.key]}]",
                )
                dims_ok = False
            seen_keys.setdefault(d.key, i)
            dims.append(d)

    instructions = c.string(top, "instructions", "", required=True)
    example = _example(c, top.get("example"), protocol, dims, dims_ok)
    consent = c.string(top, "consent", "", required=True)
    content_warning = c.string(top, "content_warning", "")
    crisis_resources = c.string(top, "crisis_resources", "")
    wording = _wording(c, top.get("wording"))

    # systems
    systems: list[SystemSpec] = []
    raw_systems = top.get("systems")
    if not isinstance(raw_systems, list) or not raw_systems:
        c.add(
            "systems",
            "is required: a non-empty list"
            if raw_systems is None
            else f"must be a non-empty list, got {_type_name(raw_systems)}",
        )
    else:
        seen_names: dict[str, int] = {}
        for i, raw in enumerate(raw_systems):
            s = _system(c, raw, f"systems[{i}]")
            if s is None:
                continue
            if s.name in seen_names:
                c.add(
                    f"systems[{i}].name",
                    f"{s.name!r} is already used by systems[{seen_names[s.name]}]",
                )
                continue
            if s.name == ATTENTION_SYSTEM:
                c.add(
                    f"systems[{i}].name",
                    f"{ATTENTION_SYSTEM!r} is reserved for the responses of attention checks",
                )
                continue
            seen_names[s.name] = i
            systems.append(s)
        if protocol == "pairwise" and len(raw_systems) < 2:
            c.add("systems", "a pairwise study needs at least 2 systems")
    names = [s.name for s in systems]

    cm = c.mapping(top.get("contexts"), "contexts", ("file",))
    contexts_file = c.string(cm, "file", "contexts", required=True) if cm is not None else None

    sm = (
        c.mapping(
            top.get("sampling"),
            "sampling",
            ("n_contexts", "stratify_by", "per_stratum", "seed"),
            required=False,
        )
        or {}
    )
    sampling = SamplingSpec(
        n_contexts=c.integer(sm, "n_contexts", "sampling", minimum=1),
        stratify_by=c.string(sm, "stratify_by", "sampling"),
        per_stratum=c.integer(sm, "per_stratum", "sampling", minimum=1),
        seed=c.integer(sm, "seed", "sampling", default=0, minimum=0),
    )
    if sampling.per_stratum is not None and sampling.stratify_by is None:
        c.add(
            "sampling.per_stratum", "needs sampling.stratify_by (the metadata field to stratify on)"
        )
    if (
        sampling.stratify_by is not None
        and sampling.per_stratum is None
        and sampling.n_contexts is None
    ):
        c.add("sampling.stratify_by", "needs sampling.per_stratum or sampling.n_contexts")

    raw_checks = top.get("attention_checks")
    attention_checks = _attention_checks(c, raw_checks, protocol, dims, dims_ok)
    n_checks = len(raw_checks) if isinstance(raw_checks, list) else 0
    design = _design_spec(
        c, top.get("design"), protocol, names, systems, sampling.seed, n_checks
    )

    lease_minutes = c.integer(top, "lease_minutes", "", default=60, minimum=1, maximum=24 * 60)
    allow_back = c.boolean(top, "allow_back", "", default=False)
    if allow_back:
        # Judgments are append-only and the server expects the next unjudged item; a
        # revision model is needed before annotators can go back.
        c.add("allow_back", "going back to change an answer is not supported yet; leave it false")

    comp = c.mapping(top.get("completion"), "completion", ("code", "redirect_url", "no_work_code"))
    completion = None
    if comp is not None:
        for key in ("code", "no_work_code"):
            if isinstance(comp.get(key), int) and not isinstance(comp.get(key), bool):
                comp[key] = str(comp[key])  # an unquoted numeric code in YAML
        code = c.string(comp, "code", "completion")
        no_work_code = c.string(comp, "no_work_code", "completion")
        url = c.string(
            comp,
            "redirect_url",
            "completion",
            pattern=URL_RE,
            pattern_text="an http:// or https:// URL",
        )
        if comp.get("code") is None and comp.get("redirect_url") is None:
            c.add(
                "completion",
                "give a completion code, a redirect_url, or both, so annotators "
                "can prove they finished",
            )
        completion = CompletionSpec(code=code, redirect_url=url, no_work_code=no_work_code)

    if len(problems) != n_start:
        return None
    return StudySpec(
        name=name,
        title=title,
        protocol=protocol,
        dimensions=tuple(dims),
        instructions=instructions,
        consent=consent,
        systems=tuple(systems),
        contexts=ContextsSpec(contexts_file),
        sampling=sampling,
        design=design,
        completion=completion,
        description=description,
        estimated_minutes=estimated_minutes,
        wording=wording,
        example=example,
        content_warning=content_warning,
        crisis_resources=crisis_resources,
        attention_checks=attention_checks,
        lease_minutes=lease_minutes,
        allow_back=allow_back,
        schema_version=version,
    )


def _design_spec(
    c: _Checker,
    raw: Any,
    protocol: str | None,
    names: list[str],
    systems: list[SystemSpec],
    default_seed: int,
    n_checks: int = 0,
) -> DesignSpec | None:
    allowed = (
        "batch_size",
        "block_size",
        "overlap",
        "ordering",
        "repeat_context_in_batch",
        "block_randomised_systems",
        "pairs",
        "attention_checks_per_batch",
        "seed",
    )
    m = c.mapping(raw, "design", allowed)
    if m is None:
        return None
    n_before = len(c.problems)
    batch_size = c.integer(m, "batch_size", "design", required=True, minimum=1)
    overlap = c.integer(m, "overlap", "design", default=3, minimum=1)
    repeat = c.boolean(m, "repeat_context_in_batch", "design", default=False)
    seed = c.integer(m, "seed", "design", default=default_seed, minimum=0)
    per_batch = c.integer(
        m, "attention_checks_per_batch", "design", default=1 if n_checks else 0, minimum=0
    )
    if per_batch is not None and per_batch > n_checks:
        c.add(
            "design.attention_checks_per_batch",
            f"{per_batch} per batch needs {per_batch} distinct attention "
            f"check{'s' if per_batch != 1 else ''}, "
            + (
                f"but attention_checks has {n_checks}"
                if n_checks
                else "but the spec has none (add them under attention_checks)"
            ),
        )
    wrong = (
        PAIRWISE_DESIGN_ONLY
        if protocol == "rating"
        else RATING_DESIGN_ONLY
        if protocol == "pairwise"
        else ()
    )
    for key in wrong:
        if m.get(key) is not None:
            c.add(
                f"design.{key}",
                f"applies only to {'pairwise' if protocol == 'rating' else 'rating'} studies",
            )
    block_size = ordering = brs = pairs = None
    if protocol == "rating":
        block_size = c.integer(m, "block_size", "design", default=batch_size, minimum=1)
        if batch_size and block_size and batch_size % block_size:
            c.add(
                "design.block_size", f"{block_size} does not divide design.batch_size {batch_size}"
            )
            block_size = None
        ordering = c.string(
            m, "ordering", "design", default="all_permutations", choices=_design.ORDERINGS
        )
        raw_brs = c.string_list(m, "block_randomised_systems", "design")
        if raw_brs is not None:
            for j, s in enumerate(raw_brs):
                if s not in names:
                    c.add(
                        f"design.block_randomised_systems[{j}]",
                        f"{s!r} is not one of the systems ({', '.join(names)})",
                    )
                elif raw_brs.index(s) != j:
                    c.add(f"design.block_randomised_systems[{j}]", f"{s!r} is listed twice")
        if batch_size and block_size:
            brs = _design._default_brs(names, batch_size // block_size, raw_brs)
    elif protocol == "pairwise":
        raw_pairs = m.get("pairs")
        if raw_pairs is None:
            pairs = tuple((a, b) for i, a in enumerate(names) for b in names[i + 1 :])
        elif not isinstance(raw_pairs, list) or not raw_pairs:
            c.add("design.pairs", "must be a non-empty list of [system_a, system_b]")
        else:
            seen: dict[frozenset, int] = {}
            collected = []
            for j, pair in enumerate(raw_pairs):
                p = f"design.pairs[{j}]"
                if not (
                    isinstance(pair, list)
                    and len(pair) == 2
                    and all(isinstance(x, str) for x in pair)
                ):
                    c.add(p, f"must be a list of two system names, got {pair!r}")
                    continue
                unknown = [x for x in pair if x not in names]
                if unknown:
                    c.add(
                        p,
                        f"unknown system {', '.join(map(repr, unknown))} (systems: {', '.join(names)})",
                    )
                    continue
                if pair[0] == pair[1]:
                    c.add(p, f"compares {pair[0]!r} with itself")
                    continue
                key = frozenset(pair)
                if key in seen:
                    c.add(
                        p,
                        f"repeats design.pairs[{seen[key]}] (order within a pair does not matter; "
                        "left/right is balanced by the design)",
                    )
                    continue
                seen[key] = j
                collected.append((pair[0], pair[1]))
            pairs = tuple(collected)
        if pairs is not None:
            # systems in no pair are never shown
            used = {s for p in pairs for s in p}
            for i, s in enumerate(systems):
                if s.name not in used and raw_pairs is not None:
                    c.add(
                        f"systems[{i}]",
                        f"{s.name!r} is in no pair of design.pairs, so it would never be shown",
                    )
    if len(c.problems) != n_before or batch_size is None:
        return None
    return DesignSpec(
        batch_size=batch_size,
        overlap=overlap,
        repeat_context_in_batch=repeat,
        seed=seed,
        block_size=block_size,
        ordering=ordering,
        block_randomised_systems=brs,
        pairs=pairs,
        attention_checks_per_batch=per_batch or 0,
    )


def _design_problems(spec: StudySpec, n_contexts: int | None) -> list[SpecProblem]:
    d = spec.design
    if spec.protocol == "rating":
        found = _design.check_rating_parameters(
            n_contexts,
            [s.name for s in spec.systems],
            d.batch_size,
            d.block_size,
            d.overlap,
            d.ordering,
            d.block_randomised_systems,
        )
    else:
        found = _design.check_pairwise_parameters(
            n_contexts, d.pairs or (), d.batch_size, d.overlap, d.repeat_context_in_batch
        )
    return [
        SpecProblem(DESIGN_PARAM_PATHS.get(param, f"design.{param}"), reason)
        for param, reason in found
    ]


def _file_problems(spec: StudySpec, folder: Path) -> tuple[list[SpecProblem], int | None]:
    """Check the data files; returns problems and the number of sampled contexts."""
    problems: list[SpecProblem] = []
    spec = _with_base(spec, folder)
    contexts, found = _contexts_from_file(spec.contexts_path, spec.contexts.file)
    problems += [SpecProblem("contexts.file", p) for p in found]
    known = {c.id for c in contexts} if not found else None
    responses: dict[int, dict[str, str]] = {}
    for i, s in enumerate(spec.systems):
        if s.kind != "imported":
            continue
        got, found_r = _responses_from_file(spec.resolve(s.responses), s.responses, known)
        problems += [SpecProblem(f"systems[{i}].responses", p) for p in found_r]
        if not found_r:
            responses[i] = got
    if found:
        return problems, None
    try:
        sampled = spec.sample(contexts)
    except _design.DesignError as exc:
        problems += [
            SpecProblem(DESIGN_PARAM_PATHS.get(p, f"sampling.{p}"), r) for p, r in exc.problems
        ]
        return problems, None
    by_id = {c.id: c for c in contexts}
    for i, s in enumerate(spec.systems):
        if s.kind == "reference":
            lacking = [cid for cid in sampled if by_id[cid].reference is None]
            if lacking:
                problems.append(
                    SpecProblem(
                        f"systems[{i}].kind",
                        f"reference: {len(lacking)} sampled contexts have no reference response "
                        f"({_located(lacking, by_id, spec.contexts.file)})",
                    )
                )
        elif i in responses:
            lacking = [cid for cid in sampled if cid not in responses[i]]
            if lacking:
                problems.append(
                    SpecProblem(
                        f"systems[{i}].responses",
                        f"{s.responses} has no response for {len(lacking)} sampled contexts "
                        f"({_located(lacking, by_id, spec.contexts.file)})",
                    )
                )
    return problems, len(sampled)


def _located(ids: Sequence[str], by_id: Mapping[str, ContextRecord], display: str) -> str:
    shown = ", ".join(f"{cid!r} at {display}:{by_id[cid].line}" for cid in ids[:5])
    return shown + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def _with_base(spec: StudySpec, folder: Path | None) -> StudySpec:
    return replace(spec, base_dir=str(folder) if folder is not None else None)


def _validate(
    source: str | Path | Mapping[str, Any], base_dir: str | Path | None
) -> tuple[StudySpec | None, list[SpecProblem]]:
    data, folder, problems = _read_source(source, base_dir)
    if problems:
        return None, problems
    spec = _parse(data, problems)
    if spec is None:
        return None, problems
    n_contexts = spec.sampling.n_contexts
    if folder is not None:
        found, n_sampled = _file_problems(spec, folder)
        problems += found
        n_contexts = n_sampled
        if found and n_sampled is None:
            return None, problems  # the design cannot be judged without its contexts
    problems += _design_problems(spec, n_contexts)
    if problems:
        return None, problems
    return _with_base(spec, folder), []


def validate_spec(
    source: str | Path | Mapping[str, Any], *, base_dir: str | Path | None = None
) -> list[SpecProblem]:
    """Every problem of a spec (empty list: valid). See ``load_spec``."""
    return _validate(source, base_dir)[1]


def load_spec(
    source: str | Path | Mapping[str, Any], *, base_dir: str | Path | None = None
) -> StudySpec:
    """Read and validate a study spec.

    ``source``: a path to a .yaml/.yml/.json file, or an already parsed mapping. Data paths
    in the spec are relative to ``base_dir`` (default: the spec file's folder). Data files
    are checked line by line when a folder is known (a path was given, or ``base_dir``);
    a mapping without ``base_dir`` is checked on its own. Raises SpecError listing every
    problem.
    """
    spec, problems = _validate(source, base_dir)
    if problems:
        raise SpecError(problems)
    assert spec is not None
    return spec
