import re
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError
from tqdm import tqdm

from core.limits import DATASET_NAME
from core.source_map import MapError
from generation.datasets import DatasetExists, import_dataset
from generation.importers import (
    COLUMN_OPTIONS,
    IMPORTERS,
    DatasetImportError,
    importer_options,
    parse_options,
    read_map,
)
from generation.importers.base import clip

SLUG = re.compile(r"^[-a-zA-Z0-9_]+\Z")  # as Django's SlugField validates it


def _options_help() -> str:
    lines = []
    for name in IMPORTERS:
        opts = importer_options(name)
        shown = ", ".join(f"{k}={v!r}" for k, v in opts.items()) or "none"
        lines.append(f"{name}: {shown}")
    return "; ".join(lines)


class Command(BaseCommand):
    help = (
        "Import dialogue contexts from a dataset file, atomically: a malformed row is "
        "reported with its line number and nothing is imported (unless --skip-bad)."
    )

    def add_arguments(self, parser):
        parser.add_argument("format", choices=list(IMPORTERS), help="file format")
        parser.add_argument("file", help="path of the dataset file")
        parser.add_argument("--name", required=True, help="name of the new dataset (a slug)")
        parser.add_argument(
            "--skip-bad",
            action="store_true",
            help="skip malformed rows (counted and reported) instead of failing",
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="SOURCE=FIELD",
            help="repeatable: a column mapping SOURCE=FIELD (e.g. --map uid=id: the "
            "file's uid is the context id; fields: "
            + ", ".join(COLUMN_OPTIONS)
            + ") or a setting OPTION=VALUE. Options per format: "
            + _options_help(),
        )

    def handle(self, *args, **options):
        name = options["name"]
        longest = DATASET_NAME.max_length
        if not SLUG.match(name) or len(name) > longest:
            raise CommandError(
                f"--name: must be a slug (letters, digits, '-', '_') of at most {longest} "
                f"characters, not {clip(name, 60)!r}"
            )
        try:
            pairs, deprecations = read_map(options["map"], options["format"])
            importer_opts = parse_options(pairs)
        except MapError as error:
            raise CommandError(str(error)) from None
        except DatasetImportError as error:
            raise CommandError(f"--map: {error}") from None
        for note in deprecations:
            self.stderr.write(note)
        bar = tqdm(
            unit=" contexts", file=sys.stderr, disable=not sys.stderr.isatty(), desc="importing"
        )
        try:
            dataset, report = import_dataset(
                options["format"],
                options["file"],
                options["name"],
                skip_bad=options["skip_bad"],
                options=importer_opts,
                progress=bar.update,
            )
        except DatasetExists as error:
            raise CommandError(str(error)) from None
        except DatasetImportError as error:
            raise CommandError(f"{error} (nothing was imported)") from None
        except IntegrityError as error:
            raise CommandError(
                f"{options['file']}: duplicate context id ({error}); nothing was imported"
            ) from None
        except OSError as error:
            raise CommandError(f"{options['file']}: {error.strerror or error}") from None
        finally:
            bar.close()
        for problem in report.skipped[:20]:
            self.stderr.write(f"skipped: {problem}")
        self.stdout.write(f"imported {report.contexts} contexts into dataset {dataset.name!r}")
        if report.skipped_total:
            self.stdout.write(f"skipped {report.skipped_total} rows")
