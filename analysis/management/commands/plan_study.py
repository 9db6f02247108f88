"""plan_study: how many contexts a planned rating study needs for a given power (see
analysis/power.md). Prints the power table; --plot writes the power curve as SVG."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis import power as pw
from analysis.power_inputs import design_defaults, pilot_components, planned
from annotation.design import DesignError
from annotation.models import Study


def _components(text: str) -> pw.VarianceComponents:
    parts = dict(p.split("=", 1) for p in text.split(",") if "=" in p)
    names = ("annotator", "context", "item", "residual")
    unknown = sorted(set(parts) - set(names))
    missing = [n for n in names if n not in parts]
    if unknown or missing:
        raise CommandError(
            "--components needs annotator=SD,context=SD,item=SD,residual=SD"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
            + (f" (missing: {', '.join(missing)})" if missing else "")
        )
    try:
        return pw.VarianceComponents(**{n: float(parts[n]) for n in names})
    except ValueError as exc:
        raise CommandError(f"--components: {exc}") from None


def _ints(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CommandError(
            f"--contexts must be whole numbers separated by commas (got {text!r})"
        ) from None


class Command(BaseCommand):
    help = (
        "Power of a planned rating study by simulation: from a pilot study's judgments "
        "(STUDY --dimension) or variance components you enter (--components), simulate the "
        "planned layout (systems, batches, blocks, overlap k) many times and print the power "
        "of the paired t-test, the permutation test and the mixed model for each number of "
        "contexts, e.g. how many contexts give 80% power at d = 0.2 with k = 3."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", nargs="?", help="pilot study (its spec gives the layout)")
        parser.add_argument(
            "--dimension", help="the pilot's slider dimension to take components from"
        )
        parser.add_argument(
            "--components",
            help="SDs in scale points instead of a pilot: annotator=..,context=..,item=..,residual=..",
        )
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--d", type=float, help="standardised difference to detect")
        what.add_argument("--effect", type=float, help="difference to detect in scale points")
        parser.add_argument(
            "--d-kind", choices=sorted(pw.D_KINDS), default="dz", help="what d is (default dz)"
        )
        parser.add_argument(
            "--systems", type=int, help="number of systems (default: the spec's, or 5)"
        )
        parser.add_argument(
            "--batch-size", type=int, help="items per batch (default: the spec's, or 15)"
        )
        parser.add_argument(
            "--block-size", type=int, help="items per block (default: the spec's, or 5)"
        )
        parser.add_argument(
            "--overlap", "-k", type=int, help="ratings per item (default: the spec's, or 3)"
        )
        parser.add_argument(
            "--ordering",
            choices=["all_permutations", "latin_square", "random"],
            help="block ordering (default: the spec's, or latin_square)",
        )
        parser.add_argument("--contexts", help="numbers of contexts to try (comma-separated)")
        parser.add_argument("--alternative", choices=list(pw.ALTERNATIVES), default="two-sided")
        parser.add_argument("--alpha", type=float, default=0.05)
        parser.add_argument("--target", type=float, default=0.8, help="power wanted (default 0.8)")
        parser.add_argument("--sims", type=int, default=1000, help="simulated studies per size")
        parser.add_argument(
            "--permutations", type=int, default=1000, help="resamples per permutation test"
        )
        parser.add_argument(
            "--mixed-fits", type=int, default=0, help="also refit the mixed model on this many"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--plot", help="write the power curve to this SVG file")

    def handle(self, *args, **o):
        study = None
        if o["study"]:
            study = Study.objects.filter(name=o["study"]).first()
            if study is None:
                raise CommandError(f"no study named {o['study']!r}")
        if o["components"]:
            components = _components(o["components"])
        elif study is not None and o["dimension"]:
            try:
                components = pilot_components(study, o["dimension"])
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        else:
            raise CommandError("give a pilot (STUDY --dimension KEY) or --components")
        defaults = design_defaults(study)
        design = planned(
            defaults,
            defaults["batch_size"],
            n_systems=o["systems"],
            batch_size=o["batch_size"],
            block_size=o["block_size"],
            overlap=o["overlap"],
            ordering=o["ordering"],
            seed=o["seed"],
        )
        try:
            points, table = pw.plan_power(
                design,
                components,
                d=o["d"],
                effect=o["effect"],
                d_kind=o["d_kind"],
                contexts=_ints(o["contexts"]),
                n_sims=o["sims"],
                n_permutations=o["permutations"],
                alpha=o["alpha"],
                alternative=o["alternative"],
                n_mixed_fits=o["mixed_fits"],
                seed=o["seed"],
            )
        except (ValueError, DesignError) as exc:
            raise CommandError(str(exc)) from None
        self._print(design, components, points, table, o)
        if o["plot"]:
            path = Path(o["plot"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                pw.power_curve_svg(table, o["target"], _title(design, points)), encoding="utf-8"
            )
            self.stdout.write(f"wrote the power curve to {path}")

    def _print(self, design, components, points, table, o) -> None:
        c = components
        self.stdout.write(
            f"variance components ({c.source}): SD annotator {c.annotator:.2f}, context "
            f"{c.context:.2f}, item {c.item:.2f}, residual {c.residual:.2f}"
        )
        self.stdout.write(
            f"design: {design.n_systems} systems, batches of {design.batch_size} in blocks of "
            f"{design.block_size}, k = {design.overlap}, {design.ordering}; one annotator per batch"
        )
        d_z = table["d_z"].iloc[0]
        self.stdout.write(
            f"difference to detect: {points:.2f} scale points (d_z = {d_z:.2f}); "
            f"{o['alternative']}, alpha = {o['alpha']}; {o['sims']} simulated studies per size, "
            f"{o['permutations']} permutations each"
        )
        headers, rows = pw.printed_rows(table)
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        self.stdout.write("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
        for r in rows:
            self.stdout.write("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))
        target = o["target"]
        for col, label in (
            ("power_paired_t", "paired t-test"),
            ("power_permutation", "permutation test"),
            ("power_mixed_analytic", "mixed model (analytic)"),
        ):
            n = pw.smallest_contexts(table, target, col)
            self.stdout.write(
                f"contexts for {target:.0%} power, {label}: "
                + (str(n) if n is not None else f"more than {int(table['n_contexts'].max())}")
            )


def _title(design: pw.PlannedDesign, points: float) -> str:
    return (
        f"{design.n_systems} systems, k = {design.overlap}, batches of {design.batch_size}: "
        f"power to detect {points:.2f} points"
    )
