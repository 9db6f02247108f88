"""The methods text: plain-English sentences naming every test, variant, correction,
resample count and seed an analysis used (``AnalysisResult.methods``, the report's
Methods section). Pure.

The wording is a template, ``methods.txt`` beside this module (string.Template blocks, one
per sentence or paragraph); this module decides which blocks an analysis prints, in what
order, and computes their values from the options and counts. :func:`methods_text` joins
three parts: the data and who was left out, then the rating or the pairwise statistics.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from string import Template
from typing import Any, cast

from analysis import stats as st
from analysis.formatting import comma_list, confidence_level, plural
from core.vocabulary import Protocol

from .options import ALTERNATIVE_WORDS, ZSCORE_CONVENTIONS, AnalysisOptions

__all__ = ["methods_text"]

_BLOCK = re.compile(r"^\[([a-z_.]+)\]$")


@functools.cache
def _templates() -> dict[str, Template]:
    """The blocks of methods.txt by name (lines of a block joined with single spaces)."""
    text = resources.files("analysis").joinpath("methods.txt").read_text(encoding="utf-8")
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue
        head = _BLOCK.match(line)
        if head:
            current = blocks.setdefault(head.group(1), [])
        elif line and current is not None:
            current.append(line)
    return {name: Template(" ".join(lines)) for name, lines in blocks.items()}


def _say(block: str, **values: Any) -> str:
    """One block of the template filled in (a missing value is an error, not a gap)."""
    return _templates()[block].substitute({k: str(v) for k, v in values.items()})


def methods_text(
    protocol: str,
    dims: list[dict],
    systems: list[str],
    options: AnalysisOptions,
    info: dict[str, Any],
    main: dict[str, Any],
    quality: st.AnnotatorQualityResult | None,
    bt_notes: list[str],
    has_exclusion_effect: bool,
    excluding: bool,
) -> list[str]:
    """The methods sentences, in the order the report prints them."""
    out = _data_sentences(options, info, quality, has_exclusion_effect, excluding, dims, systems)
    if protocol == Protocol.RATING:
        return out + _rating_sentences(options, dims, systems, main["meta"])
    return out + _pairwise_sentences(options, systems, main["meta"]["permutation_labels"], bt_notes)


def _two_sided_rule(o: AnalysisOptions) -> str:
    """The two-sided permutation p-value rule, when the tests are two-sided."""
    if o.alternative != "two-sided":
        return ""
    return " " + _say("two_sided_rule", rule=o.permutation_two_sided)


def _family(o: AnalysisOptions) -> str:
    return (
        "the comparisons of one dimension (and variant)"
        if o.family == "per_dimension"
        else "all comparisons across dimensions (per variant)"
    )


def _data_sentences(
    o: AnalysisOptions,
    info: dict[str, Any],
    quality: st.AnnotatorQualityResult | None,
    has_exclusion_effect: bool,
    excluding: bool,
    dims: list[dict],
    systems: list[str],
) -> list[str]:
    """What was analysed, what was left out and why, and annotator quality."""
    out = [
        _say(
            "data",
            judgments=plural(info["n_judgments_analysed"], "judgment"),
            rows=plural(info["n_rows_analysed"], "judgment x dimension row"),
            annotators=plural(info["n_annotators"], "annotator"),
            contexts=plural(info["n_contexts"], "context"),
            systems=comma_list(systems),
            dimensions=comma_list(f"{d['label']} ({d['type']})" for d in dims),
        )
    ]
    if info.get("dimensions_without_judgments") and info["n_rows_analysed"]:
        out.append(
            _say(
                "data.dimensions_without_judgments",
                dimensions=comma_list(info["dimensions_without_judgments"]),
            )
        )
    if info.get("n_rows_partial"):
        block = "data.partial_included" if o.include_partial else "data.partial_left_out"
        out.append(_say(block, rows=plural(info["n_rows_partial"], "row")))
    if quality is not None:
        th = quality.thresholds
        out.append(
            _say(
                "data.quality",
                min_median_seconds=th["min_median_seconds"],
                max_straightline=th["max_straightline"],
                min_sd=th["min_sd"],
                min_attention_pass=th["min_attention_pass"],
                min_judgments=plural(cast(int, th["min_judgments"]), "judgment"),
                flagged=comma_list(info["flagged_annotators"]),
            )
        )
    if info.get("n_rows_attention") is not None:
        out.append(
            _say(
                "data.attention",
                judgments=plural(info["n_attention_judgments"], "judgment"),
                rows=plural(info["n_rows_attention"], "judgment x dimension row"),
            )
        )
    if excluding:
        why = " (flagged annotators, exclude_flagged)" if o.exclude_flagged else ""
        out.append(_say("data.excluded", excluded=comma_list(info["excluded_annotators"]), why=why))
    if has_exclusion_effect:
        compared = info["exclusion_compared"]
        out.append(
            _say(
                "data.exclusion_effect",
                whom="annotator" if len(compared) == 1 else "annotators",
                compared=comma_list(compared),
            )
        )
    else:
        out.append(_say("data.no_exclusion_effect"))
    return out


def _rating_sentences(
    o: AnalysisOptions, dims: list[dict], systems: list[str], meta: dict[str, Any]
) -> list[str]:
    conf = confidence_level(o.confidence)
    return [
        _say("rating.unit"),
        _say("rating.summary", conf=conf),
        _say("rating.variants", zscore_words=ZSCORE_CONVENTIONS[o.zscore][2], zscore=o.zscore),
        _say(
            "rating.design",
            min_overlap=f"{o.paired_min_overlap:.0%}",
            designs=comma_list(meta["designs"]),
        ),
        _say(
            "rating.alternative", side=ALTERNATIVE_WORDS[o.alternative], systems=comma_list(systems)
        ),
        _say("rating.effect_sizes"),
        _say("rating.corrections", family=_family(o)),
        _say(
            "rating.permutation",
            permutations=plural(o.n_permutations, "resample"),
            seed=o.seed,
            labels="; ".join(meta["permutation_labels"] or ["none computed"]),
            two_sided_rule=_two_sided_rule(o),
        ),
        _say(
            "rating.bootstrap",
            conf=conf,
            bootstraps=plural(o.n_bootstrap, "resample"),
            seed=o.seed,
        ),
        _say(
            "rating.agreement",
            levels=comma_list(f"{d['label']}: {d['level']}" for d in dims),
            conf=conf,
        ),
        _say("rating.length_bias"),
        _say("rating.position"),
        _say("rating.random_numbers", seed=o.seed),
    ]


def _pairwise_sentences(
    o: AnalysisOptions, systems: list[str], labels: list[str], bt_notes: list[str]
) -> list[str]:
    side = ALTERNATIVE_WORDS[o.alternative]
    conf = confidence_level(o.confidence)
    family = _family(o).replace(" (and variant)", "").replace(" (per variant)", "")
    out = [
        _say("pairwise.orientation", systems=comma_list(systems)),
        _say("pairwise.winrates", conf=conf, side=side),
        _say("pairwise.sign_test", side=side, family=family),
        _say(
            "pairwise.permutation",
            permutations=plural(o.n_permutations, "resample"),
            seed=o.seed,
            labels="; ".join(labels or ["none computed"]),
            two_sided_rule=_two_sided_rule(o),
        ),
        _say("pairwise.summary", conf=conf),
        _say("pairwise.agreement"),
        _say("pairwise.side_bias"),
    ]
    if len(systems) >= 3:
        norm = (
            _say("pairwise.bt_sum_zero")
            if o.bt_reference is None
            else _say("pairwise.bt_reference", reference=o.bt_reference)
        )
        out.append(
            _say(
                "pairwise.bradley_terry",
                norm=norm,
                conf=conf,
                bootstraps=plural(o.n_bootstrap, "resample"),
                seed=o.seed,
                elo_scale=f"{o.elo_scale:g}",
            )
        )
        out += [_say("pairwise.bt_note", note=n) for n in bt_notes]
    out.append(_say("pairwise.random_numbers", seed=o.seed))
    return out
