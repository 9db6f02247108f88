"""The study spec: schema, loading and validation (pure: no Django).

A study is described by one spec (YAML or JSON). ``load_spec`` reads it, checks every
field and the data files it names, and returns frozen pydantic models, or raises
``SpecError`` listing *every* problem as ``field.path: reason``. ``StudySpec.to_dict()`` is
the normalised form (defaults filled in) that is stored with the study and hashed
(``spec_hash``); ``study_spec.schema.json`` beside this file is its JSON Schema
(``python manage.py spec_schema``). ``examples/reference.yaml`` documents every field.

    models.py      StudySpec, the whole spec
    parts.py       its parts, each checking itself, and the field types they use
    rules.py       the rules across parts
    problems.py    pydantic's errors in the spec's words (core.problems.Problem)
    loading.py     reading a spec file, its data files, and the design's feasibility
    data_files.py  the contexts and responses JSONL readers
    schema.py      the published JSON Schema
"""

from annotation.spec.data_files import (
    ContextRecord,
    DataFileError,
    Turn,
    load_contexts,
    load_responses,
)
from annotation.spec.loading import load_spec, validate_spec
from annotation.spec.models import StudySpec, spec_hash
from annotation.spec.parts import (
    ATTENTION_SYSTEM,
    SCHEMA_VERSION,
    AttentionCheckSpec,
    CompletionSpec,
    ContextsSpec,
    DesignSpec,
    ExampleSpec,
    SamplingSpec,
    SystemSpec,
    WordingSpec,
)
from annotation.spec.problems import SpecError

__all__ = [
    "ATTENTION_SYSTEM",
    "SCHEMA_VERSION",
    "AttentionCheckSpec",
    "CompletionSpec",
    "ContextRecord",
    "ContextsSpec",
    "DataFileError",
    "DesignSpec",
    "ExampleSpec",
    "SamplingSpec",
    "SpecError",
    "StudySpec",
    "SystemSpec",
    "Turn",
    "WordingSpec",
    "load_contexts",
    "load_responses",
    "load_spec",
    "spec_hash",
    "validate_spec",
]
