"""YAML as evalsite reads it from users: plain data, each value written out (pure).

``load(text)`` is ``yaml.safe_load`` that also refuses

* a key given twice in one mapping (YAML keeps the last one silently),
* anchors and aliases (``&name`` / ``*name``, and so ``<<`` merge keys): a few hundred bytes
  of nested aliases expand to billions of values ("billion laughs"),
* mappings and lists nested deeper than ``max_depth`` (the parser recurses per level),

each as a ``yaml.YAMLError`` with the line and column; ``where(error)`` words them.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from core.limits import SPEC_DEPTH

__all__ = ["load", "where"]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without anchors, aliases, duplicate keys or deep nesting."""

    max_depth = SPEC_DEPTH

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        mark: yaml.Mark | None = getattr(event, "start_mark", None)
        if isinstance(event, yaml.AliasEvent):
            raise ComposerError(
                None,
                None,
                f"aliases (*{event.anchor}) are not allowed: write the value out",
                mark,
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise ComposerError(
                None,
                None,
                f"anchors (&{anchor}) are not allowed: write each value out",
                mark,
            )
        nested = isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent)
        if nested:
            self._depth += 1
            if self._depth > self.max_depth:
                raise ComposerError(
                    None,
                    None,
                    f"nested more than {self.max_depth} levels deep",
                    mark,
                )
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            repeated = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: the constructor says so below
            continue
        if repeated:
            raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load(text: str, *, max_depth: int = SPEC_DEPTH) -> Any:
    """The data of a YAML document; raises ``yaml.YAMLError`` (see the module)."""
    loader = _StrictLoader(text)
    loader.max_depth = max_depth
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def where(error: yaml.YAMLError, text: str | None = None) -> str:
    """``line L, column C: invalid YAML (what)`` for an error of ``load`` on ``text``."""
    mark = getattr(error, "problem_mark", None)
    line = column = None
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
    elif isinstance(error, yaml.reader.ReaderError) and text is not None:
        # An unacceptable character (NUL, a control character): located by its position.
        before = text[: error.position]
        line = before.count("\n") + 1
        column = error.position - (before.rfind("\n") + 1) + 1
    if isinstance(error, yaml.reader.ReaderError) and isinstance(error.character, int):
        what = f"the character U+{error.character:04X} is not allowed in YAML"
    else:
        what = getattr(error, "problem", None) or str(error)
    at = f"line {line}, column {column}: " if line is not None else ""
    return f"{at}invalid YAML ({what})"
