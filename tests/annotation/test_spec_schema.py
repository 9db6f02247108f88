"""The published JSON Schema of the study spec (annotation/spec/schema.py).

Specs are checked against the schema with the ``jsonschema`` package (the test extra), as
a browser editor would check them.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.core.management import call_command

from annotation.spec import load_spec
from annotation.spec.schema import SCHEMA_FILE, schema_text, spec_json_schema
from core.vocabulary import DimensionType, Protocol, SystemKind, values

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_SPECS = sorted(EXAMPLES.glob("*.yaml"))


def schema_accepts(data) -> bool:
    return jsonschema.Draft202012Validator(spec_json_schema()).is_valid(data)


def example(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))


def test_the_committed_schema_is_the_generated_one():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "regenerate it: python manage.py spec_schema --out annotation/spec/study_spec.schema.json"
    )


def test_spec_schema_command_prints_and_writes_it(tmp_path):
    out = io.StringIO()
    call_command("spec_schema", stdout=out)
    assert json.loads(out.getvalue()) == spec_json_schema()
    call_command("spec_schema", "--out", str(tmp_path / "s.json"), stdout=io.StringIO())
    assert (tmp_path / "s.json").read_text(encoding="utf-8") == schema_text()


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(spec_json_schema())


@pytest.mark.parametrize("path", EXAMPLE_SPECS, ids=lambda p: p.name)
def test_schema_accepts_every_example_and_its_normalised_form(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert schema_accepts(data)
    assert schema_accepts(json.loads(json.dumps(load_spec(path).to_dict())))


INVALID = [
    ("an unknown field", lambda s: s.update(colour="red")),
    ("an unknown dimension type", lambda s: s["dimensions"][0].update(type="sliderr")),
    ("a name that is no slug", lambda s: s.update(name="My Study")),
    ("an unknown protocol", lambda s: s.update(protocol="ranking")),
    ("no consent", lambda s: s.pop("consent")),
    ("an empty title", lambda s: s.update(title="")),
    ("a misspelt dimension field", lambda s: s["dimensions"][0].update(min_lable="No")),
    ("a likert field on a slider", lambda s: s["dimensions"][0].update(points=7)),
    ("a key that is no identifier", lambda s: s["dimensions"][0].update(key="2nd")),
    ("no dimensions", lambda s: s.update(dimensions=[])),
    ("a text for a flag", lambda s: s["dimensions"][0].update(show_value="yes")),
    ("an unknown system kind", lambda s: s["systems"][0].update(kind="openai")),
    ("no responses for an imported system", lambda s: s["systems"][0].pop("responses")),
    ("overlap 0", lambda s: s["design"].update(overlap=0)),
    ("a boolean batch size", lambda s: s["design"].update(batch_size=True)),
    ("an unknown ordering", lambda s: s["design"].update(ordering="shuffle")),
    ("lease_minutes 0", lambda s: s.update(lease_minutes=0)),
    ("an ftp redirect", lambda s: s["completion"].update(redirect_url="ftp://x.org/done")),
    ("attention checks as a mapping", lambda s: s.update(attention_checks={"id": "x"})),
    ("no completion", lambda s: s.pop("completion")),
]


@pytest.mark.parametrize("mutate", [m for _, m in INVALID], ids=[n for n, _ in INVALID])
def test_schema_rejects_invalid_specs(mutate):
    spec = copy.deepcopy(example("demo_rating.yaml"))
    mutate(spec)
    assert not schema_accepts(spec)


def _objects(node):
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


def test_schema_is_closed_and_speaks_the_vocabulary():
    schema = spec_json_schema()
    assert all(o.get("additionalProperties") is False for o in _objects(schema))
    defs = schema["$defs"]
    assert schema["properties"]["protocol"]["$ref"].endswith("/Protocol")
    assert defs["Protocol"]["enum"] == list(values(Protocol))
    dimension_types = [
        d["properties"]["type"]["const"] for name, d in defs.items() if name.endswith("Dimension")
    ]
    assert sorted(dimension_types) == sorted(values(DimensionType))
    kinds = []
    for name in ("ImportedSystem", "ReferenceSystem", "GeneratedSystem"):
        kind = defs[name]["properties"]["kind"]
        kinds += [kind["const"]] if "const" in kind else kind["enum"]
    assert sorted(kinds) == sorted(values(SystemKind))
