"""Checking a spec as the researcher types it in the console's editor (pure: no Django).

``check_source(text, folder)`` reads the YAML (strictly, as spec files are read), checks it
against the published JSON Schema (``annotation/spec/study_spec.schema.json``, with the
``jsonschema`` package, as any editor or client would) and with the full ``validate_spec``
(the rules across fields, the data files in ``folder``, the design's feasibility), and
returns every problem as ``field.path: reason`` with the line of the spec it is at. The
spec's own wording is kept where both checks find the same field; the schema's problems
are listed besides for fields the spec does not name.

The editor builds studies from files uploaded with the spec, so a spec's data paths must
name files inside its folder (no absolute path, no ``..``), and its systems must be
imported or reference ones (model systems are generated from the systems pages first).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import yaml

from annotation.spec import StudySpec, load_spec, validate_spec
from annotation.spec.problems import join
from annotation.spec.schema import SCHEMA_FILE
from core import limits, strict_yaml
from core.problems import Problem

__all__ = [
    "EditorProblem",
    "check_source",
    "data_paths",
    "field_lines",
    "load_source",
    "schema_problems",
    "with_name",
]

WHOLE = "(spec)"
GENERATED_KINDS = {"hf_causal", "hf_seq2seq", "dexperts"}


@dataclass(frozen=True)
class EditorProblem:
    """A problem shown beside the editor: where (field path, line of the spec) and why,
    and which check found it (yaml, schema, spec, files)."""

    field: str
    reason: str
    line: int | None = None
    check: str = "spec"

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"text": str(self)}


# --------------------------------------------------------------------------- reading


def parse_source(text: str) -> tuple[Any, list[EditorProblem]]:
    """The data of the spec's YAML text, or the problem that stops it being read."""
    if len(text.encode("utf-8")) > limits.SPEC_FILE_BYTES:
        reason = f"is larger than {limits.SPEC_FILE_BYTES:,} bytes, the most a spec may be"
        return None, [EditorProblem(WHOLE, reason, None, "yaml")]
    try:
        data = strict_yaml.load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return None, [EditorProblem(WHOLE, strict_yaml.where(error, text), line, "yaml")]
    if data is None:
        return None, [EditorProblem(WHOLE, "is empty", None, "yaml")]
    return data, []


def field_lines(text: str) -> dict[str, int]:
    """{field path: line (1-based)} of every key and list item of a YAML text that reads."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                at = join(path, str(key.value))
                lines.setdefault(at, key.start_mark.line + 1)
                walk(value, at)
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                at = f"{path}[{i}]"
                lines.setdefault(at, value.start_mark.line + 1)
                walk(value, at)

    if root is not None:
        walk(root, "")
    return lines


def _line_of(field: str, lines: Mapping[str, int]) -> int | None:
    """The line of ``field``, or of its nearest written parent (a missing field)."""
    at = field
    while at:
        if at in lines:
            return lines[at]
        cut = max(at.rfind("."), at.rfind("["))
        at = at[:cut] if cut > 0 else ""
    return None


# --------------------------------------------------------------------------- the schema


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _path(parts: Iterable[Any]) -> str:
    path = ""
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else join(path, str(part))
    return path


def _tagged(error: jsonschema.ValidationError, path: str) -> list[Problem] | None:
    """A union told apart by a tag (the schema's ``discriminator``): the tag's problem, or
    the problems of the member the tag names; None for a union without one."""
    tag_of = error.schema.get("discriminator") if isinstance(error.schema, Mapping) else None
    if not isinstance(tag_of, Mapping) or not isinstance(error.instance, Mapping):
        return None
    key, mapping = tag_of["propertyName"], tag_of.get("mapping", {})
    tag = error.instance.get(key)
    if tag not in mapping:
        choices = ", ".join(mapping)
        reason = "is required" if tag is None else f"{tag!r} is not one of {choices}"
        return [Problem(join(path, key), reason)]
    members = [m.get("$ref") for m in error.validator_value]
    chosen = members.index(mapping[tag]) if mapping[tag] in members else None
    found: list[Problem] = []
    for sub in error.context or ():
        if sub.relative_schema_path and sub.relative_schema_path[0] == chosen:
            found += _schema_problem(sub)
    return found


def _schema_problem(error: jsonschema.ValidationError) -> list[Problem]:
    path = _path(error.absolute_path)
    if error.validator in ("oneOf", "anyOf") and error.context:
        tagged = _tagged(error, path)
        if tagged is not None:
            return tagged
        return _schema_problem(jsonschema.exceptions.best_match(error.context))
    instance = error.instance
    if error.validator == "required" and isinstance(instance, Mapping):
        missing = [k for k in error.validator_value if k not in instance]
        return [Problem(join(path, k), "is required") for k in missing]
    if error.validator == "additionalProperties" and isinstance(instance, Mapping):
        known = set(error.schema.get("properties", {}))
        return [Problem(join(path, str(k)), "unknown field") for k in instance if k not in known]
    return [Problem(path or WHOLE, error.message)]


def schema_problems(data: Any) -> list[Problem]:
    """What the published JSON Schema says of the parsed spec, at each field."""
    found: list[Problem] = []
    for error in sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.path))):
        found += _schema_problem(error)
    return list(dict.fromkeys(found))


# --------------------------------------------------------------------------- data paths


def data_paths(data: Any) -> dict[str, Any]:
    """{field: path as written} of the data files a parsed spec names."""
    if not isinstance(data, Mapping):
        return {}
    found: dict[str, Any] = {}
    contexts = data.get("contexts")
    if isinstance(contexts, Mapping) and "file" in contexts:
        found["contexts.file"] = contexts["file"]
    systems = data.get("systems")
    if isinstance(systems, list):
        for i, system in enumerate(systems):
            if isinstance(system, Mapping) and system.get("responses") is not None:
                found[f"systems[{i}].responses"] = system["responses"]
    return found


SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _confined(path: Any) -> bool:
    if not isinstance(path, str) or not path or "\\" in path:
        return False
    parts = PurePosixPath(path).parts
    return not PurePosixPath(path).is_absolute() and all(SAFE_PART.match(p) for p in parts)


def _editor_rules(data: Any) -> list[Problem]:
    """What the editor refuses that a spec file on the server may do."""
    found = [
        Problem(
            field,
            f"{path!r} must name a file uploaded with the spec (a relative name such as "
            "contexts.jsonl, inside the study's folder)",
        )
        for field, path in data_paths(data).items()
        if isinstance(path, str) and not _confined(path)
    ]
    systems = data.get("systems") if isinstance(data, Mapping) else None
    for i, system in enumerate(systems if isinstance(systems, list) else []):
        if isinstance(system, Mapping) and system.get("kind") in GENERATED_KINDS:
            found.append(
                Problem(
                    f"systems[{i}].kind",
                    f"{system['kind']}: the editor builds a study from uploaded responses "
                    "(imported) or the contexts' references; generate this system's "
                    "candidates first and import them",
                )
            )
    return found


# --------------------------------------------------------------------------- checking


def _related(a: str, b: str) -> bool:
    """One field is the other or inside it (the same problem, found by both checks)."""
    return a == b or a.startswith((b + ".", b + "[")) or b.startswith((a + ".", a + "["))


def _merge(
    spec: list[Problem], schema: list[Problem], editor: list[Problem], lines: Mapping[str, int]
) -> list[EditorProblem]:
    found = [EditorProblem(p.field, p.reason, _line_of(p.field, lines), "editor") for p in editor]
    found += [
        EditorProblem(
            p.field,
            p.reason,
            _line_of(p.field, lines),
            "files" if p.field in {"contexts.file"} or p.field.endswith(".responses") else "spec",
        )
        for p in spec
        if not any(_related(p.field, e.field) for e in editor)
    ]
    named = [p.field for p in found]
    found += [
        EditorProblem(p.field, p.reason, _line_of(p.field, lines), "schema")
        for p in schema
        if not any(_related(p.field, f) for f in named)
    ]
    return found


def check_source(
    text: str, folder: str | Path | None, *, name: str | None = None
) -> list[EditorProblem]:
    """Every problem of the spec ``text`` (empty: valid). Data files are read from
    ``folder`` (None: not checked). ``name``: the name the spec must keep (a draft's)."""
    data, problems = parse_source(text)
    if problems:
        return problems
    lines = field_lines(text)
    editor = _editor_rules(data)
    if name is not None and isinstance(data, Mapping) and data.get("name") != name:
        editor.append(
            Problem("name", f"a draft keeps its name: {name!r} (create a new study for another)")
        )
    files_ok = folder is not None and not any(p.field in data_paths(data) for p in editor)
    spec = validate_spec(data, base_dir=folder if files_ok else None)
    return _merge(spec, schema_problems(data), editor, lines)


def load_source(text: str, folder: str | Path) -> StudySpec:
    """The spec of a ``text`` that ``check_source`` found valid, read from ``folder``."""
    data, _ = parse_source(text)
    return load_spec(data, base_dir=folder)


NAME_LINE = re.compile(r"^name:[^\n]*$", re.MULTILINE)


def with_name(text: str, name: str) -> str:
    """A template's spec text with its top-level ``name:`` line set to ``name``."""
    return NAME_LINE.sub(f"name: {name}", text, count=1)
