from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation.export import export_study
from annotation.models import Study


class Command(BaseCommand):
    help = (
        "Write a study's raw judgments in long format (one row per judgment × dimension). "
        "Annotator ids are pseudonymised unless --real-ids is given. Judgments from expired "
        "leases are included and labelled by assignment_status=expired."
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

    def handle(self, *args, **options):
        study = Study.objects.filter(name=options["study"]).first()
        if study is None:
            names = ", ".join(Study.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"no study named {options['study']!r} (studies: {names})")
        out = Path(options["out"])
        fmt = options["format"] or ("jsonl" if out.suffix.lower() == ".jsonl" else "csv")
        if not out.parent.exists():
            raise CommandError(f"--out: folder {out.parent} does not exist")
        count = export_study(
            study,
            out,
            fmt,
            pseudonymise=not options["real_ids"],
            salt=settings.EXPORT_PSEUDONYM_SALT,
        )
        self.stdout.write(f"wrote {count} rows to {out} ({fmt})")
