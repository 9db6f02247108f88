"""Importing judgments collected elsewhere: the pure parser and the import_judgments command."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analysis import judgment_file, judgment_import
from analysis.judgment_import import parse_judgments, parse_mapping
from analysis.models import ImportedJudgment, ImportedStudy

LONG_RATING = """annotator,item,system,dimension,value,time_on_item_ms
w1,d1,base,empathy,70,5000
w1,d1,base,ok,true,5000
w1,d1,sft,empathy,55.5,4000
w1,d1,sft,ok,false,4000
w2,d1,base,empathy,60,6000
w2,d1,base,ok,1,6000
w2,d1,sft,empathy,40,3000
w2,d1,sft,ok,0,3000
"""

LONG_PAIRWISE = """annotator,item,system_a,system_b,dimension,choice
w1,d1,guided,vanilla,overall,A
w1,d2,vanilla,guided,overall,b
w2,d1,guided,vanilla,overall,Tie
"""


def test_long_rating_rows_and_inferred_types():
    parsed = parse_judgments(io.StringIO(LONG_RATING), protocol="rating")
    assert parsed.ok, parsed.errors
    assert len(parsed.rows) == 8
    assert parsed.dimensions == [
        {"key": "empathy", "type": "slider"},
        {"key": "ok", "type": "checkbox"},
    ]
    first = parsed.rows[0]
    assert (
        first["line"],
        first["annotator"],
        first["context"],
        first["system"],
        first["value"],
    ) == (2, "w1", "d1", "base", 70.0)
    assert first["extra"] == {"time_on_item_ms": 5000.0}
    assert [r["value"] for r in parsed.rows if r["dimension"] == "ok"] == [1.0, 0.0, 1.0, 0.0]
    frame = parsed.frame()
    assert list(frame.columns) == [
        "annotator",
        "context",
        "system",
        "dimension",
        "value",
        "time_on_item_ms",
    ]


def test_long_pairwise_choices_are_normalised():
    parsed = parse_judgments(io.StringIO(LONG_PAIRWISE), protocol="pairwise")
    assert parsed.ok, parsed.errors
    assert [r["choice"] for r in parsed.rows] == ["a", "b", "tie"]
    assert [(r["system"], r["system_b"]) for r in parsed.rows][1] == ("vanilla", "guided")
    assert parsed.dimensions == [{"key": "overall", "type": "choice"}]
    assert list(parsed.frame().columns) == [
        "annotator",
        "context",
        "system_a",
        "system_b",
        "dimension",
        "choice",
    ]


def test_wide_format_with_a_column_mapping():
    text = "worker;dialogue;model;Empathy;fluency\nw1;d1;m1;80;4\nw1;d2;m1;;5\nw2;d1;m1;60;3\n"
    parsed = parse_judgments(
        io.StringIO(text),
        protocol="rating",
        mapping=parse_mapping(["worker=annotator", "dialogue=item,model=system"]),
        wide_dimensions=["Empathy", "fluency"],
        delimiter=";",
    )
    assert parsed.ok, parsed.errors
    # the empty cell (w1, d2, Empathy) is an unanswered dimension, not a row
    assert [(r["line"], r["dimension"], r["value"]) for r in parsed.rows] == [
        (2, "Empathy", 80.0),
        (2, "fluency", 4.0),
        (3, "fluency", 5.0),
        (4, "Empathy", 60.0),
        (4, "fluency", 3.0),
    ]
    assert parsed.dimensions == [
        {"key": "Empathy", "type": "slider"},
        {"key": "fluency", "type": "likert"},
    ]


def test_bad_rows_are_reported_with_their_line_numbers():
    text = (
        "annotator,item,system,dimension,value\n"
        "w1,d1,base,empathy,70\n"  # 2 ok
        "w1,d1,base,empathy,71\n"  # 3 duplicate of 2
        ",d2,base,empathy,50\n"  # 4 empty annotator
        "w1,d2,base,empathy,lots\n"  # 5 not a number
        "w1,d3,base,empathy\n"  # 6 too few fields
        "\n"  # 7 blank: skipped
        "w2,d3,base,empathy,inf\n"  # 8 not finite
    )
    parsed = parse_judgments(io.StringIO(text), protocol="rating")
    assert parsed.errors == [
        "line 3: duplicate of line 2 (same annotator, item, system and dimension 'empathy')",
        "line 4: annotator is empty",
        "line 5: empathy: value 'lots' is not a number",
        "line 6: 4 fields, the header has 5",
        "line 8: empathy: value 'inf' is not a number",
    ]


def test_header_problems_are_reported_on_line_1():
    parsed = parse_judgments(io.StringIO("who,item,system,value\nx,y,z,1\n"), protocol="rating")
    assert parsed.errors == [
        "line 1: missing column(s) annotator, dimension for a rating file (header: who, item, "
        "system, value; use --map source=field to rename)"
    ]
    bad_choice = parse_judgments(
        io.StringIO("annotator,item,system_a,system_b,dimension,choice\nw,d,x,x,o,maybe\n"),
        protocol="pairwise",
    )
    assert bad_choice.errors == [
        "line 2: system_a and system_b are both 'x'; o: choice 'maybe' is not a, b or tie"
    ]
    assert parse_judgments(io.StringIO(""), protocol="rating").errors == [
        "line 1: the file is empty (expected a header row)"
    ]
    with pytest.raises(ValueError, match="unknown field 'who'"):
        parse_mapping(["x=who"])


# --------------------------------------------------------------------------------------
# The command (database)
# --------------------------------------------------------------------------------------


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_import_command_happy_path(tmp_path: Path):
    path = tmp_path / "ratings.csv"
    path.write_text(LONG_RATING)
    out = run(
        "import_judgments",
        str(path),
        "--study",
        "elsewhere",
        "--protocol",
        "rating",
        "--dimension-type",
        "empathy=slider",
    )
    assert "imported 8 judgments into imported study 'elsewhere'" in out
    study = ImportedStudy.objects.get(name="elsewhere")
    assert study.protocol == "rating" and study.source_path == str(path.resolve())
    assert study.dimensions == [
        {"key": "empathy", "type": "slider"},
        {"key": "ok", "type": "checkbox"},
    ]
    rows = list(ImportedJudgment.objects.filter(study=study).order_by("line", "id"))
    assert len(rows) == 8 and rows[0].line == 2 and rows[0].value == 70.0
    assert rows[0].extra == {"time_on_item_ms": 5000.0}
    with pytest.raises(CommandError, match="already exists"):
        run("import_judgments", str(path), "--study", "elsewhere")
    run("import_judgments", str(path), "--study", "elsewhere", "--replace")
    assert ImportedJudgment.objects.count() == 8


@pytest.mark.django_db
def test_import_command_with_bad_rows_imports_nothing(tmp_path: Path):
    path = tmp_path / "pairs.csv"
    path.write_text(
        LONG_PAIRWISE + "w3,d3,guided,vanilla,overall,perhaps\nw3,d4,guided,,overall,a\n"
    )
    with pytest.raises(CommandError) as error:
        run("import_judgments", str(path), "--study", "broken", "--protocol", "pairwise")
    message = str(error.value)
    assert "2 problem(s); nothing was imported" in message
    assert f"{path}:5: overall: choice 'perhaps' is not a, b or tie" in message
    assert f"{path}:6: system_b is empty" in message
    assert ImportedStudy.objects.count() == 0 and ImportedJudgment.objects.count() == 0


@pytest.mark.django_db
def test_import_command_wide_format_via_map(tmp_path: Path):
    path = tmp_path / "wide.csv"
    path.write_text("rater,conv,model,empathy,fluency\nr1,c1,m1,80,4\nr1,c1,m2,60,3\n")
    out = run(
        "import_judgments",
        str(path),
        "--study",
        "wide",
        "--map",
        "rater=annotator",
        "conv=item",
        "--map",
        "model=system",
        "--wide-dimensions",
        "empathy,fluency",
    )
    assert "imported 4 judgments" in out
    assert ImportedJudgment.objects.filter(study__name="wide", dimension="fluency").count() == 2


# -------------------------------------------------------------------------------------- --map


def test_read_mapping_source_equals_field_and_the_deprecated_order():
    from analysis.judgment_import import read_mapping

    assert read_mapping(["worker=annotator", "dialogue=item"]) == (
        {"worker": "annotator", "dialogue": "item"},
        [],
    )
    mapping, notes = read_mapping(["annotator=worker"])
    assert mapping == {"worker": "annotator"}
    assert notes == [
        "--map annotator=worker: FIELD=SOURCE is deprecated; read as the source "
        "column 'worker' holding the field 'annotator'. Write --map worker=annotator"
    ]
    with pytest.raises(ValueError, match="can be read two ways") as error:
        read_mapping(["system=system_a"])
    assert "the source column 'system' holds the field 'system_a'" in str(error.value)
    assert "the source column 'system_a' holds the field 'system'" in str(error.value)
    with pytest.raises(ValueError, match="write SOURCE=FIELD"):
        read_mapping(["worker"])


@pytest.mark.django_db
def test_import_command_map_orders(tmp_path: Path):
    path = tmp_path / "wide.csv"
    path.write_text("rater,conv,model,empathy\nr1,c1,m1,80\nr1,c1,m2,60\n")
    err = io.StringIO()
    out = io.StringIO()
    call_command(
        "import_judgments",
        str(path),
        "--study",
        "old-order",
        "--map",
        "annotator=rater",
        "item=conv",
        "--map",
        "model=system",
        "--wide-dimensions",
        "empathy",
        stdout=out,
        stderr=err,
    )
    assert "imported 2 judgments" in out.getvalue()
    assert "--map annotator=rater: FIELD=SOURCE is deprecated" in err.getvalue()
    assert "Write --map conv=item" in err.getvalue() and "model=system" not in err.getvalue()
    assert set(ImportedJudgment.objects.values_list("annotator", flat=True)) == {"r1"}
    with pytest.raises(CommandError, match=r"--map 'item=context' can be read two ways"):
        run(
            "import_judgments",
            str(path),
            "--study",
            "ambiguous",
            "--map",
            "rater=annotator",
            "item=context",
            "--map",
            "model=system",
            "--wide-dimensions",
            "empathy",
        )
    assert not ImportedStudy.objects.filter(name="ambiguous").exists()


# --------------------------------------------------------------------------------------
# evalsite's own exports, of this version and earlier ones
# --------------------------------------------------------------------------------------

EXPORT_HEADER = (
    "judgment_id,study,protocol,annotator,batch,slot,assignment_status,position,block,item,"
    "output,context,system,{a},{b},dimension,dimension_type,value,preferred_system,rationale,"
    "time_on_item_ms,client_submitted_at,server_received_at,attention_check,attention_passed\n"
)
EXPORT_ROWS = (
    "1,s,pairwise,a-1,0,0,completed,0,0,7,c1|x~y,c1,,x,y,overall,choice,a,x,,900,,t,,\n"
    "2,s,pairwise,a-1,0,0,completed,1,0,8,c2|x~y,c2,,y,x,overall,choice,b,x,'=1+1,800,,t,,\n"
    "3,s,pairwise,a-1,0,0,completed,2,0,9,att,att-1,,p,q,overall,choice,a,p,,800,,t,chk,true\n"
)


@pytest.mark.parametrize("a,b", [("system_a", "system_b"), ("system_left", "system_right")])
def test_an_export_is_read_with_either_name_of_the_pair_columns(a, b):
    """Exports before the A / B naming called the pair columns system_left / system_right."""
    text = EXPORT_HEADER.format(a=a, b=b) + EXPORT_ROWS
    parsed = parse_judgments(io.StringIO(text), protocol="pairwise")
    assert parsed.ok, parsed.errors
    assert parsed.source_format == "evalsite_export"
    assert parsed.skipped == {"attention-check rows": 1}
    assert [(r["context"], r["system"], r["system_b"], r["choice"]) for r in parsed.rows] == [
        ("c1", "x", "y", "a"),
        ("c2", "y", "x", "b"),
    ]
    assert parsed.rows[0]["extra"] == {
        "position": 0.0,
        "block": 0.0,
        "batch": 0.0,
        "time_on_item_ms": 900.0,
    }


# --------------------------------------------------------------------------------------
# Bad bytes, bad characters, oversized input, numbers that are not numbers
# --------------------------------------------------------------------------------------

RATING_HEADER = "annotator,item,system,dimension,value\n"


def test_nul_and_lone_surrogates_are_refused_with_line_and_column(tmp_path: Path):
    text = RATING_HEADER + "w1,d1,base,e,1\nw\x00,d1,base,e,2\nw2,d\ud800x,base,e,3\n"
    parsed = parse_judgments(io.StringIO(text), protocol="rating")
    assert parsed.errors == [
        "line 3: annotator: contains a NUL character (U+0000) at character 2",
        "line 4: item: contains a lone surrogate (U+D800) at character 2",
    ]
    header = parse_judgments(io.StringIO("annotator,it\x00em\nw,d\n"), protocol="rating")
    assert header.errors == [
        "line 1: header column 2: contains a NUL character (U+0000) at character 3"
    ]
    # in a file, a surrogate can only come UTF-8-encoded, which UTF-8 does not allow
    path = tmp_path / "j.csv"
    path.write_bytes(RATING_HEADER.encode() + b"w1,d1,ba\xed\xa0\x80se,e,1\n")
    assert parse_judgments(path).errors == [
        "line 2: system: byte 9 of the line starts an encoded surrogate (half of a UTF-16 pair)"
    ]


def test_bytes_that_are_not_utf8_are_located(tmp_path: Path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(RATING_HEADER.encode() + b"w1,d1,base,e,1\nw2,d1,base,\xe9motion,1\n")
    assert parse_judgments(path).errors == [
        "line 3: dimension: byte 12 of the line (0xe9) is not UTF-8 text (invalid continuation "
        "byte)"
    ]
    path.write_bytes(b"\xefannotator\n")
    assert parse_judgments(path).errors == [
        "line 1: byte 1 of the line (0xef) is not UTF-8 text (invalid continuation byte)"
    ]
    # a UTF-8 byte order mark is fine
    path.write_bytes(b"\xef\xbb\xbf" + RATING_HEADER.encode() + b"w1,d1,base,e,1\r\n")
    assert parse_judgments(path).ok


def test_file_size_and_line_length_are_bounded(tmp_path: Path, monkeypatch):
    path = tmp_path / "long.csv"
    long_line = b"w1,d1,base,e," + b"1" * (judgment_file.MAX_LINE_BYTES + 10) + b"\n"
    path.write_bytes(RATING_HEADER.encode() + long_line)
    assert parse_judgments(path).errors == ["line 2: the line is longer than 1 MB (MAX_LINE_BYTES)"]
    assert judgment_file.MAX_FILE_BYTES == 200 * 1024 * 1024
    # /dev/zero has no size and no line end: it fails after one line's limit
    monkeypatch.setattr(judgment_file, "MAX_LINE_BYTES", 1000)
    zeros = parse_judgments("/dev/zero").errors
    assert zeros == ["line 1: the line is longer than 1,000 bytes (MAX_LINE_BYTES)"]
    rows = RATING_HEADER + "".join(f"w1,d{i},base,e,1\n" for i in range(20))
    path.write_text(rows)
    monkeypatch.setattr(judgment_import, "MAX_FILE_BYTES", 100)
    assert parse_judgments(path).errors == [
        "the file is larger than 100 bytes (MAX_FILE_BYTES); split it or import a part"
    ]
    # a stream (or a file that grows while read) is bounded as it is read
    monkeypatch.setattr(judgment_file, "MAX_FILE_BYTES", 100)
    errors = parse_judgments(io.StringIO(rows)).errors
    assert errors[-1] == "line 6: the file is larger than 100 bytes (MAX_FILE_BYTES)"


@pytest.mark.parametrize(
    "cell", ["１０", "1_0", "1e-400", "-1e-400", "nan", "NaN", "inf", "-inf", "1e400", "٣", "0x10"]
)
def test_numbers_are_parsed_strictly(cell):
    """Python's float() reads fullwidth digits, 1_0 and 1e-400 (as 0): none is a number here."""
    text = RATING_HEADER.replace("value", "value,time_on_item_ms") + f"w1,d1,b,e,{cell},{cell}\n"
    assert parse_judgments(io.StringIO(text)).errors == [
        f"line 2: time_on_item_ms {cell!r} is not a number; e: value {cell!r} is not a number"
    ]


def test_plain_numbers_are_read():
    cells = ["10", "-0.5", "+3", ".5", "5.", "1e-300", "0e-400", "2E3"]
    text = RATING_HEADER + "".join(f"w1,d{i},b,e,{c}\n" for i, c in enumerate(cells))
    parsed = parse_judgments(io.StringIO(text))
    assert parsed.ok, parsed.errors
    assert [r["value"] for r in parsed.rows] == [10, -0.5, 3, 0.5, 5, 1e-300, 0, 2000]


@pytest.mark.django_db
def test_import_command_refuses_bad_bytes_naming_file_line_and_column(tmp_path: Path):
    path = tmp_path / "nul.csv"
    path.write_bytes(LONG_RATING.encode() + b"w3,d1,base,empathy,50,1\x00\n")
    with pytest.raises(CommandError) as error:
        run("import_judgments", str(path), "--study", "nul")
    message = str(error.value)
    assert "1 problem(s); nothing was imported" in message
    assert (
        f"{path}:10: time_on_item_ms: contains a NUL character (U+0000) at character 2" in message
    )
    assert ImportedStudy.objects.count() == 0 and ImportedJudgment.objects.count() == 0


def test_gold_and_degraded_control_rows_of_an_export_are_left_out():
    """Re-importing an export must not bring quality-control rows into the statistics."""
    header = EXPORT_HEADER.format(a="system_a", b="system_b").rstrip("\n") + ",control\n"
    rows = "".join(row.rstrip("\n") + ",\n" for row in EXPORT_ROWS.splitlines(keepends=True))
    rows = rows.replace("chk,true,\n", "chk,true,attention\n")
    rows += "4,s,pairwise,a-1,0,0,completed,3,0,10,g|x~y,g1,,x,gold-item,overall,choice,a,x,,800,,t,,,gold\n"
    rows += "5,s,pairwise,a-1,0,0,completed,4,0,11,d|x~y,c1,,x,degraded-copy,overall,choice,a,x,,800,,t,,,degraded\n"
    parsed = parse_judgments(io.StringIO(header + rows), protocol="pairwise")
    assert parsed.ok, parsed.errors
    assert parsed.skipped == {
        "attention-check rows": 1,
        "quality-control rows (gold items, degraded copies)": 2,
    }
    assert [r["context"] for r in parsed.rows] == ["c1", "c2"]
