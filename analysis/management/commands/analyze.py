from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.api import analyze_study
from analysis.formatting import plural
from core.vocabulary import Protocol


def _csv_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [v.strip() for v in text.split(",") if v.strip()]


class Command(BaseCommand):
    help = (
        "Analyse a study (or a study imported with import_judgments) and write a results "
        "bundle: tables as CSV, LaTeX, Markdown and JSON, plots as PNG and SVG, and report.md "
        "stating every test, variant, correction, resample count and seed. Ratings: item "
        "means, paired t-tests where systems share contexts (Welch otherwise), raw and "
        "z-scored; pairwise: win/tie/loss, sign and permutation tests, Bradley–Terry."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="study name (or imported study name)")
        parser.add_argument(
            "--out", required=True, help="folder for the bundle (created if needed)"
        )
        parser.add_argument(
            "--alternative",
            choices=["two-sided", "greater", "less"],
            default="two-sided",
            help="alternative hypothesis about system_a - system_b (default two-sided)",
        )
        parser.add_argument(
            "--family",
            choices=["per_dimension", "all"],
            default="per_dimension",
            help="correction family for Holm / Bonferroni (default per_dimension)",
        )
        parser.add_argument(
            "--permutations",
            type=int,
            default=10_000,
            help="permutation resamples per test (default 10000)",
        )
        parser.add_argument(
            "--bootstrap",
            type=int,
            default=2_000,
            help="bootstrap resamples per interval (default 2000)",
        )
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.add_argument("--systems", help="comma-separated systems to compare, in this order")
        parser.add_argument("--dimensions", help="comma-separated dimensions to analyse")
        parser.add_argument(
            "--exclude-annotators",
            help="comma-separated annotator ids (as in the bundle) to leave out",
        )
        parser.add_argument(
            "--exclude-flagged",
            action="store_true",
            help="leave out annotators flagged by the quality checks",
        )
        parser.add_argument(
            "--min-median-seconds",
            type=float,
            default=3.0,
            help="flag annotators faster than this median time per item (default 3)",
        )
        parser.add_argument(
            "--max-straightline",
            type=float,
            default=0.8,
            help="flag annotators above this straight-lining index (default 0.8)",
        )
        parser.add_argument(
            "--include-partial",
            action="store_true",
            help="keep judgments from expired leases (partial batches)",
        )
        parser.add_argument(
            "--mixed-models",
            action="store_true",
            help="add model-based comparisons (mixed-effects / ordinal / GEE; table mixed_models)",
        )
        parser.add_argument(
            "--zscore",
            choices=["population", "wmt"],
            default="population",
            help="per-annotator z-scores: population SD (default) or wmt (n - 1, z = 0 for a "
            "constant annotator)",
        )
        parser.add_argument(
            "--permutation-two-sided",
            choices=["absolute", "doubled"],
            default="absolute",
            help="two-sided permutation p: |T*| >= |T| (default) or doubled (2 x min one-sided)",
        )
        parser.add_argument(
            "--bt-reference", help="Bradley–Terry: the system whose log-strength is 0"
        )
        parser.add_argument(
            "--elo-scale",
            type=float,
            default=400.0,
            help="Elo points per factor 10 of the odds (default 400)",
        )
        parser.add_argument("--no-plots", action="store_true", help="write tables only")
        parser.add_argument(
            "--real-ids",
            action="store_true",
            help="show annotators' real ids instead of pseudonyms",
        )

    def handle(self, *args, **o):
        options = {
            "alternative": o["alternative"],
            "family": o["family"],
            "n_permutations": o["permutations"],
            "n_bootstrap": o["bootstrap"],
            "seed": o["seed"],
            "exclude_flagged": o["exclude_flagged"],
            "include_partial": o["include_partial"],
            "min_median_seconds": o["min_median_seconds"],
            "max_straightline": o["max_straightline"],
            "zscore": o["zscore"],
            "permutation_two_sided": o["permutation_two_sided"],
            "bt_reference": o["bt_reference"],
            "elo_scale": o["elo_scale"],
        }
        if o["mixed_models"]:
            options["mixed_models"] = True
        if o["systems"] is not None:
            options["systems"] = _csv_list(o["systems"])
        if o["dimensions"] is not None:
            options["dimensions"] = _csv_list(o["dimensions"])
        if o["exclude_annotators"]:
            options["exclude_annotators"] = _csv_list(o["exclude_annotators"])
        out = Path(o["out"])
        try:
            run = analyze_study(
                o["study"], out, plots=not o["no_plots"], pseudonymise=not o["real_ids"], **options
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        result = run.result
        info = result.info
        what = (
            f"{'imported study' if run.kind == 'imported' else 'study'} {run.name!r} "
            f"({result.protocol}; {plural(info['n_judgments_analysed'], 'judgment')} by "
            f"{plural(info['n_annotators'], 'annotator')}; systems {', '.join(result.systems)})"
        )
        self.stdout.write(f"analysed {what}")
        if result.protocol == Protocol.RATING and len(result.comparisons):
            designs = result.comparisons.groupby("design").size().to_dict()
            self.stdout.write(
                "comparisons: "
                + ", ".join(f"{n} {d}" for d, n in sorted(designs.items()))
                + f" ({o['alternative']}; Holm and Bonferroni "
                + (
                    "within each dimension"
                    if o["family"] == "per_dimension"
                    else "across dimensions"
                )
                + ")"
            )
        if info["flagged_annotators"]:
            self.stdout.write(f"flagged annotators: {', '.join(info['flagged_annotators'])}")
        if info["excluded_annotators"]:
            self.stdout.write(f"excluded annotators: {', '.join(info['excluded_annotators'])}")
        self.stdout.write(f"wrote {plural(len(run.files), 'file')} to {out}")
        self.stdout.write(f"report: {out / 'report.md'}")
