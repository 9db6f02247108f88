"""The spec's JSON Schema, published for editors and APIs (pure).

``study_spec.schema.json`` beside this module is the committed copy (the browser editor
loads it; a test keeps it equal to ``spec_json_schema()``); ``python manage.py spec_schema``
prints it. The schema says what each field may hold; the rules across fields (a
dimension type that fits the protocol, an example that answers every dimension, a
feasible design) are checked by ``load_spec`` only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from annotation.spec.models import StudySpec
from annotation.spec.parts import SCHEMA_VERSION

__all__ = ["SCHEMA_FILE", "schema_text", "spec_json_schema"]

SCHEMA_FILE = Path(__file__).with_name("study_spec.schema.json")


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a study spec, as YAML or JSON files write it."""
    schema = StudySpec.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://evalsite.example/schemas/study-spec/{SCHEMA_VERSION}.json",
        **schema,
        "title": "evalsite study spec",
    }


def schema_text() -> str:
    """The schema as the committed file holds it."""
    return json.dumps(spec_json_schema(), indent=2, ensure_ascii=False) + "\n"
