"""Write a study's quality-control decisions (one row per annotator) as CSV."""

from __future__ import annotations

import csv

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Study
from console.decisions import COLUMNS, decision_rows
from core.csv_cells import escape_formula


class Command(BaseCommand):
    help = (
        "Write one quality-control decision per annotator (approve / review / reject, the "
        "reasons and the evidence) of a study as CSV, from the spec's current rules."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="the study's name")
        parser.add_argument("--out", help="file to write (default: standard output)")

    def handle(self, *args, **options):
        study = Study.objects.filter(name=options["study"]).first()
        if study is None:
            raise CommandError(f"no study named {options['study']!r}")
        out = open(options["out"], "w", newline="", encoding="utf-8") if options["out"] else None
        try:
            writer = csv.writer(out or self.stdout)
            writer.writerow(COLUMNS)
            for row in decision_rows(study):
                writer.writerow([escape_formula(str(row[c])) for c in COLUMNS])
        finally:
            if out:
                out.close()
        if out:
            self.stderr.write(f"wrote decisions of {study.name} to {options['out']}")
