from django.core.management.base import BaseCommand, CommandError

from annotation import spec as spec_module


class Command(BaseCommand):
    help = "Check a study spec (YAML or JSON) and report every problem; creates nothing."

    def add_arguments(self, parser):
        parser.add_argument("spec", help="path to the spec file")

    def handle(self, *args, **options):
        try:
            spec = spec_module.load_spec(options["spec"])
        except spec_module.SpecError as error:
            raise CommandError(f"{options['spec']}: the spec is invalid:\n{error}") from None
        except OSError as error:
            raise CommandError(f"{options['spec']}: {error.strerror or error}") from None
        data = spec.to_dict()
        self.stdout.write(
            f"{options['spec']}: valid ({data['protocol']} study {data['name']!r}, "
            f"{len(data['dimensions'])} dimensions, {len(data['systems'])} systems"
            + (
                f", {len(data['attention_checks'])} attention "
                f"check{'s' if len(data['attention_checks']) != 1 else ''} "
                f"({data['design']['attention_checks_per_batch']} per batch)"
                if data["attention_checks"]
                else ""
            )
            + ")"
        )
