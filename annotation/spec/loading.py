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
from core.problems import Problem
from core.vocabulary import SystemKind

__all__ = ["load_spec", "validate_spec"]

Source = str | Path | Mapping[str, Any]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
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
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None, folder, [Problem(display, "file not found")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, folder, [Problem(display, f"cannot read: {exc}")]
    try:
        if suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except json.JSONDecodeError as exc:
        return None, folder, [Problem(display, f"line {exc.lineno}: invalid JSON ({exc.msg})")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = getattr(exc, "problem", None) or str(exc)
        return None, folder, [Problem(display, f"{where}invalid YAML ({what})")]
    return data, folder, []


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
