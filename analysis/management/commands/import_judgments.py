import re
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from analysis.formatting import plural
from analysis.judgment_import import ParsedJudgments, parse_judgments, read_mapping
from analysis.models import ImportedJudgment, ImportedStudy
from core.vocabulary import Protocol, values

MAX_SHOWN = 25


class Command(BaseCommand):
    help = (
        "Import judgments collected elsewhere for re-analysis with `analyze`. Long format: "
        "annotator,item,system,dimension,value (rating) or "
        "annotator,item,system_a,system_b,dimension,choice (pairwise; choice a/b/tie). Wide "
        "format: --wide-dimensions a,b (one column per dimension). Rename columns with --map "
        "source=field. Every bad row is reported as file:line: column: reason and nothing is "
        "imported. An export of this site (export_judgments) is recognised and read as such, "
        "its spreadsheet escapes undone."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV (or .tsv) file")
        parser.add_argument("--study", required=True, help="name of the imported study to create")
        parser.add_argument(
            "--protocol", choices=list(values(Protocol)), default=Protocol.RATING.value
        )
        parser.add_argument(
            "--map",
            action="append",
            nargs="+",
            default=[],
            metavar="SOURCE=FIELD",
            help="read a source column as one of the fields, e.g. --map worker=annotator",
        )
        parser.add_argument(
            "--wide-dimensions",
            help="comma-separated columns that each hold one dimension's answers",
        )
        parser.add_argument(
            "--dimension-type",
            action="append",
            default=[],
            metavar="KEY=TYPE",
            help="set a dimension's type (slider, likert, checkbox) instead of inferring it",
        )
        parser.add_argument("--delimiter", help="field delimiter (default , or tab for .tsv)")
        parser.add_argument(
            "--replace", action="store_true", help="replace an imported study of the same name"
        )

    def handle(self, *args, **o):
        path = Path(o["file"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        name = o["study"]
        existing = _existing_import(name, o["replace"])
        try:
            mapping, deprecations = read_mapping(item for group in o["map"] for item in group)
            types = parse_mapping_types(o["dimension_type"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for note in deprecations:
            self.stderr.write(note)
        wide = [w for w in (o["wide_dimensions"] or "").split(",") if w.strip()]
        parsed = parse_judgments(
            path,
            protocol=o["protocol"],
            mapping=mapping,
            wide_dimensions=wide,
            dimension_types=types,
            delimiter=o["delimiter"],
        )
        if not parsed.ok:
            raise CommandError(_problems_text(path, parsed.errors))
        _check_name(name, o["protocol"])
        _store(name, o["protocol"], path, parsed, existing)
        dims = ", ".join(f"{d['key']} ({d['type']})" for d in parsed.dimensions)
        if parsed.source_format == "evalsite_export":
            self.stdout.write("read as an evalsite export (export_judgments)")
        for reason, count in parsed.skipped.items():
            self.stdout.write(f"skipped {count} {reason}")
        self.stdout.write(
            f"imported {plural(len(parsed.rows), 'judgment')} into imported study {name!r} "
            f"({o['protocol']}; dimensions {dims}); analyse with: manage.py analyze {name} --out DIR"
        )


def _existing_import(name: str, replace: bool) -> ImportedStudy | None:
    """The imported study ``name`` that --replace replaces; refuses a name that is taken."""
    from annotation.models import Study

    if Study.objects.filter(name=name).exists():
        raise CommandError(f"{name!r} is the name of a study run here; choose another name")
    existing = ImportedStudy.objects.filter(name=name).first()
    if existing is not None and not replace:
        raise CommandError(f"an imported study named {name!r} already exists (use --replace)")
    return existing


def _problems_text(path: Path, errors: list[str]) -> str:
    shown = errors[:MAX_SHOWN]
    more = len(errors) - len(shown)
    text = "\n".join(f"  {_located(path, e)}" for e in shown)
    if more:
        text += f"\n  ... and {more} more"
    return f"{path}: {len(errors)} problem(s); nothing was imported:\n{text}"


def _located(path: Path, error: str) -> str:
    """``file:line: column: reason`` from the parser's ``line N: column: reason``."""
    found = re.match(r"line (\d+): ", error)
    if found is None:
        return f"{path}: {error}"
    return f"{path}:{found.group(1)}: {error[found.end() :]}"


def _check_name(name: str, protocol: str) -> None:
    try:
        ImportedStudy(name=name, protocol=protocol).full_clean(
            exclude=["dimensions", "source_path"], validate_unique=False
        )
    except ValidationError as exc:
        raise CommandError(f"--study {name!r}: {'; '.join(exc.messages)}") from None


def _store(
    name: str, protocol: str, path: Path, parsed: ParsedJudgments, existing: ImportedStudy | None
) -> None:
    """Create the imported study and its judgments in one transaction (replacing
    ``existing``)."""
    with transaction.atomic():
        if existing is not None:
            existing.delete()
        study = ImportedStudy.objects.create(
            name=name,
            protocol=protocol,
            dimensions=parsed.dimensions,
            source_path=str(path.resolve()),
        )
        ImportedJudgment.objects.bulk_create(
            (
                ImportedJudgment(
                    study=study,
                    line=r["line"],
                    annotator=r["annotator"],
                    context=r["context"],
                    system=r["system"],
                    system_b=r["system_b"],
                    dimension=r["dimension"],
                    value=r["value"],
                    choice=r["choice"],
                    extra=r["extra"],
                )
                for r in parsed.rows
            ),
            batch_size=2000,
        )


def parse_mapping_types(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise ValueError(f"--dimension-type {part!r}: write key=type")
            key, kind = (s.strip() for s in part.split("=", 1))
            out[key] = kind
    return out
