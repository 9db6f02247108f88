"""import_dataset: atomic, located errors, --skip-bad counting, prints what it did."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from generation.models import Context, Dataset

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_dataset", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_imports_empathetic_dialogues_and_prints_the_count():
    out, _ = run("empathetic_dialogues", str(FIXTURES / "ed_sample.csv"), "--name", "ed")
    n = Context.objects.filter(dataset__name="ed").count()
    assert n > 0 and f"imported {n} contexts" in out
    context = Context.objects.filter(dataset__name="ed").first()
    assert context.turns and context.metadata.get("emotion")
    assert "_comma_" not in str(context.turns)


def test_a_malformed_row_imports_nothing_and_names_the_line():
    with pytest.raises(CommandError) as error:
        run("empathetic_dialogues", str(FIXTURES / "ed_bad.csv"), "--name", "bad")
    assert "ed_bad.csv line 4" in str(error.value) and "nothing was imported" in str(error.value)
    assert Dataset.objects.count() == 0 and Context.objects.count() == 0


def test_skip_bad_counts_the_skipped_rows():
    out, err = run(
        "empathetic_dialogues", str(FIXTURES / "ed_bad.csv"), "--name", "bad", "--skip-bad"
    )
    assert "skipped" in out and "line 4" in err
    assert Context.objects.filter(dataset__name="bad").exists()


def test_generic_jsonl_with_a_mapping_and_a_bad_option():
    with pytest.raises(CommandError, match="has no option"):
        run("jsonl", str(FIXTURES / "generic_contexts.jsonl"), "--name", "g", "--map", "colour=red")
    assert Dataset.objects.count() == 0


def test_an_existing_name_is_refused():
    run("real_toxicity_prompts", str(FIXTURES / "rtp_prompts.jsonl"), "--name", "rtp")
    with pytest.raises(CommandError, match="already exists"):
        run("real_toxicity_prompts", str(FIXTURES / "rtp_prompts.jsonl"), "--name", "rtp")


def test_wrong_format_for_the_file_is_refused():
    with pytest.raises(CommandError, match="line 1"):
        run("real_toxicity_prompts", str(FIXTURES / "ed_sample.csv"), "--name", "x")
    assert Dataset.objects.count() == 0


# --------------------------------------------------------------------------- --map SOURCE=FIELD


def _mine(**kwargs):
    """The imported contexts of the generic fixture as (id, first turn, reference)."""
    return [
        (c.external_id, c.turns[0]["text"], c.reference_response)
        for c in Context.objects.filter(dataset__name=kwargs.get("name", "g")).order_by("id")
    ]


def test_map_reads_source_equals_field():
    out, err = run(
        "jsonl",
        str(FIXTURES / "generic_contexts.jsonl"),
        "--name",
        "g",
        "--map",
        "meta.uid=id",
        "--map",
        "dialog=turns",
        "--map",
        "answer=reference",
    )
    assert "imported 2 contexts" in out and err == ""
    contexts = _mine()
    assert [c[0] for c in contexts] == ["g-1", "g-2"]
    assert contexts[0][2] == "It is baked here every Tuesday and Friday."


def test_map_in_the_old_field_equals_source_order_still_works_and_says_it_is_deprecated():
    out, err = run(
        "jsonl",
        str(FIXTURES / "generic_contexts.jsonl"),
        "--name",
        "g",
        "--map",
        "id=meta.uid",
        "--map",
        "turns=dialog",
        "--map",
        "answer=reference",
    )
    assert "imported 2 contexts" in out
    assert "--map id=meta.uid: FIELD=SOURCE is deprecated" in err
    assert "Write --map meta.uid=id" in err and "Write --map dialog=turns" in err
    assert "answer=reference" not in err  # written the new way: nothing to say
    assert [c[0] for c in _mine()] == ["g-1", "g-2"]


def test_map_with_field_names_on_both_sides_is_refused_with_both_readings():
    with pytest.raises(CommandError) as error:
        run(
            "jsonl",
            str(FIXTURES / "generic_contexts.jsonl"),
            "--name",
            "g",
            "--map",
            "id=reference",
            "--map",
            "dialog=turns",
        )
    message = str(error.value)
    assert "--map 'id=reference' can be read two ways" in message
    assert "the source column 'id' holds the field 'reference'" in message
    assert "the source column 'reference' holds the field 'id'" in message
    assert Dataset.objects.count() == 0


def test_map_still_passes_settings_as_option_value():
    out, err = run(
        "jsonl",
        str(FIXTURES / "generic_contexts.jsonl"),
        "--name",
        "g",
        "--map",
        "dialog=turns",
        "--map",
        "speaker_names=X,Y",
    )
    assert "imported 2 contexts" in out and err == ""
    second = Context.objects.filter(dataset__name="g").order_by("id")[1]
    assert [t["speaker"] for t in second.turns] == ["X", "Y", "X"]
    with pytest.raises(CommandError, match="can be read two ways: as the setting"):
        run(
            "jsonl",
            str(FIXTURES / "generic_contexts.jsonl"),
            "--name",
            "h",
            "--map",
            "dialog=turns",
            "--map",
            "speaker_names=id",
        )
