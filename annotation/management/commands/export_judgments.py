from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation.export import export_study
from annotation.models import Study


class Command(BaseCommand):
    help = (
        "Write a study's raw judgments in long format (one row per judgment × dimension). "
        "Annotator ids are pseudonymised unless --real-ids is given. Judgments from expired "
        "leases are included and labelled by assignment_status=expired. CSV cells that a "
        "spreadsheet would run as a formula get a leading ' unless --no-formula-escape is "
        "given; JSONL is written as stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="study name")
        parser.add_argument("--out", required=True, help="output file")
        parser.add_argument(
            "--format",
            choices=["csv", "jsonl"],
            default=None,
            help="csv (default) or jsonl; guessed from --out's extension when omitted",
        )
        parser.add_argument(
            "--real-ids",
            action="store_true",
            help="write annotators' real ids (e.g. Prolific ids) instead of pseudonyms",
        )
        parser.add_argument(
            "--no-formula-escape",
            action="store_true",
            help=(
                "CSV: write text cells exactly as stored, for analysis pipelines (by default a "
                "cell starting with =, +, -, @, a tab or a carriage return gets a leading ' so "
                "that a spreadsheet shows it as text instead of running it; numbers are never "
                "changed; import_judgments reads both)"
            ),
        )

    def handle(self, *args, **options):
        study = Study.objects.filter(name=options["study"]).first()
        if study is None:
            names = ", ".join(Study.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"no study named {options['study']!r} (studies: {names})")
        out = Path(options["out"])
        fmt = options["format"] or ("jsonl" if out.suffix.lower() == ".jsonl" else "csv")
        if not out.parent.exists():
            raise CommandError(f"--out: folder {out.parent} does not exist")
        summary = export_study(
            study,
            out,
            fmt,
            pseudonymise=not options["real_ids"],
            salt=settings.EXPORT_PSEUDONYM_SALT,
            escape_formulas=not options["no_formula_escape"],
        )
        self.stdout.write(f"wrote {summary.rows} rows to {out} ({fmt})")
        if summary.unreadable_client_times:
            self.stderr.write(
                f"note: {summary.unreadable_client_times} judgment(s) have a client_submitted_at "
                "that is not a readable time (the browser's clock, stored before it was "
                "bounded); it is exported empty, with the stored text in "
                "client_submitted_at_unreadable. server_received_at is the time of record."
            )
