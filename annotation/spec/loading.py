"""Reading a spec: the file (YAML with no key given twice, or JSON), the models, the data
files it names, and the design's feasibility for the contexts it samples (pure)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from annotation import design as _design
from annotation.spec.data_files import ContextRecord, contexts_from_file, responses_from_file
from annotation.spec.models import StudySpec
from annotation.spec.parts import DESIGN_FIELDS
from annotation.spec.problems import problems_from, spec_error
from annotation.spec_fields import type_name
from core import limits, strict_yaml
from core.problems import Problem
from core.vocabulary import SystemKind

__all__ = ["load_spec", "validate_spec"]

Source = str | Path | Mapping[str, Any]


MAX_CHARACTER_PROBLEMS = 20  # strings with a NUL or a lone surrogate listed; the rest counted


def _read_text(path: Path, display: str) -> tuple[str | None, list[Problem]]:
    """The spec file's text, read no further than ``SPEC_FILE_BYTES``."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(limits.SPEC_FILE_BYTES + 1)
    except FileNotFoundError:
        return None, [Problem(display, "file not found")]
    except OSError as exc:
        return None, [Problem(display, f"cannot read: {exc}")]
    if len(raw) > limits.SPEC_FILE_BYTES:
        return None, [
            Problem(
                display,
                f"is larger than {limits.SPEC_FILE_BYTES:,} bytes, the most a spec file may be "
                "(long texts belong in the spec, data in its data files)",
            )
        ]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Problem(display, f"line {line}: not UTF-8 text")]


def _parse_text(text: str, suffix: str, display: str) -> tuple[Any, list[Problem]]:
    if suffix != ".json":
        try:
            return strict_yaml.load(text), []
        except yaml.YAMLError as exc:
            return None, [Problem(display, strict_yaml.where(exc, text))]
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        return None, [Problem(display, f"line {exc.lineno}: invalid JSON ({exc.msg})")]
    except RecursionError:
        return None, [Problem(display, f"nested more than {limits.SPEC_DEPTH} levels deep")]


def _read_source(
    source: Source, base_dir: str | Path | None
) -> tuple[Any, Path | None, list[Problem]]:
    if isinstance(source, Mapping):
        return dict(source), (Path(base_dir) if base_dir is not None else None), []
    path = Path(source)
    display = str(source)
    folder = Path(base_dir) if base_dir is not None else path.parent
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        return None, folder, [Problem(display, "a spec file must end in .yaml, .yml or .json")]
    text, problems = _read_text(path, display)
    if text is None:
        return None, folder, problems
    data, problems = _parse_text(text, suffix, display)
    return data, folder, problems


def _storable(data: Any) -> list[Problem]:
    """The spec nests no deeper than ``SPEC_DEPTH`` and every string in it can be stored."""
    depth = limits.nesting_depth(data)
    if depth > limits.SPEC_DEPTH:
        return [Problem("(spec)", f"nested {depth} levels deep; at most {limits.SPEC_DEPTH}")]
    found = [Problem(path, reason) for path, reason in limits.unstorable_strings(data)]
    if len(found) > MAX_CHARACTER_PROBLEMS:
        extra = len(found) - MAX_CHARACTER_PROBLEMS
        found = found[:MAX_CHARACTER_PROBLEMS] + [
            Problem("(spec)", f"... and {extra} more texts with such characters")
        ]
    return found


def parse(data: Any) -> tuple[StudySpec | None, list[Problem]]:
    """The spec in ``data`` (parsed YAML/JSON), or every problem of it; no data files."""
    if not isinstance(data, Mapping):
        reason = "is empty" if data is None else f"must be a mapping, got {type_name(data)}"
        return None, [Problem("(spec)", reason)]
    try:
        return StudySpec.model_validate(data), []
    except ValidationError as error:
        return None, problems_from(error, StudySpec)


def _located(ids: Sequence[str], by_id: Mapping[str, ContextRecord], display: str) -> str:
    shown = ", ".join(f"{cid!r} at {display}:{by_id[cid].line}" for cid in ids[:5])
    return shown + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def _file_problems(spec: StudySpec) -> tuple[list[Problem], int | None]:
    """Check the data files; returns problems and the number of sampled contexts."""
    problems: list[Problem] = []
    contexts, found = contexts_from_file(spec.contexts_path, spec.contexts.file)
    problems += [Problem("contexts.file", p) for p in found]
    known = {c.id for c in contexts} if not found else None
    responses: dict[int, dict[str, str]] = {}
    for i, s in enumerate(spec.systems):
        if s.kind != SystemKind.IMPORTED or s.responses is None:
            continue
        got, found_r = responses_from_file(spec.resolve(s.responses), s.responses, known)
        problems += [Problem(f"systems[{i}].responses", p) for p in found_r]
        if not found_r:
            responses[i] = got
    if found:
        return problems, None
    try:
        sampled = spec.sample(contexts)
    except _design.DesignError as exc:
        problems += [Problem(DESIGN_FIELDS.get(p, f"sampling.{p}"), r) for p, r in exc.problems]
        return problems, None
    by_id = {c.id: c for c in contexts}
    for i, s in enumerate(spec.systems):
        if s.kind == SystemKind.REFERENCE:
            lacking = [cid for cid in sampled if by_id[cid].reference is None]
            if lacking:
                problems.append(
                    Problem(
                        f"systems[{i}].kind",
                        f"reference: {len(lacking)} sampled contexts have no reference response "
                        f"({_located(lacking, by_id, spec.contexts.file)})",
                    )
                )
        elif i in responses:
            lacking = [cid for cid in sampled if cid not in responses[i]]
            if lacking:
                problems.append(
                    Problem(
                        f"systems[{i}].responses",
                        f"{s.responses} has no response for {len(lacking)} sampled contexts "
                        f"({_located(lacking, by_id, spec.contexts.file)})",
                    )
                )
    return problems, len(sampled)


def _validate(
    source: Source, base_dir: str | Path | None
) -> tuple[StudySpec | None, list[Problem]]:
    data, folder, problems = _read_source(source, base_dir)
    if problems:
        return None, problems
    problems = _storable(data)
    if problems:
        return None, problems
    spec, problems = parse(data)
    if spec is None:
        return None, problems
    spec = spec.located_in(folder)
    n_contexts = spec.sampling.n_contexts
    if folder is not None:
        problems, n_contexts = _file_problems(spec)
        if problems and n_contexts is None:
            return None, problems  # the design cannot be judged without its contexts
    # Feasibility depends on the data, so it is judged here, not by the model.
    problems += spec.design_problems(n_contexts)
    if problems:
        return None, problems
    return spec, []


def validate_spec(source: Source, *, base_dir: str | Path | None = None) -> list[Problem]:
    """Every problem of a spec (empty list: valid). See ``load_spec``."""
    return _validate(source, base_dir)[1]


def load_spec(source: Source, *, base_dir: str | Path | None = None) -> StudySpec:
    """Read and validate a study spec.

    ``source``: a path to a .yaml/.yml/.json file, or an already parsed mapping. Data paths
    in the spec are relative to ``base_dir`` (default: the spec file's folder). Data files
    are checked line by line when a folder is known (a path was given, or ``base_dir``);
    a mapping without ``base_dir`` is checked on its own. Raises SpecError (``core.problems.InvalidInput``) listing every
    problem.
    """
    spec, problems = _validate(source, base_dir)
    if problems:
        raise spec_error(problems)
    assert spec is not None
    return spec
