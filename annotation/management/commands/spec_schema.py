from pathlib import Path

from django.core.management.base import BaseCommand

from annotation.spec.schema import schema_text


class Command(BaseCommand):
    help = "Print the JSON Schema of a study spec (what the browser editor and the API read)."

    def add_arguments(self, parser):
        parser.add_argument("--out", help="write the schema to this file instead of printing it")

    def handle(self, *args, **options):
        text = schema_text()
        if options["out"]:
            Path(options["out"]).write_text(text, encoding="utf-8")
            self.stdout.write(f"wrote the study spec schema to {options['out']}")
        else:
            self.stdout.write(text, ending="")
