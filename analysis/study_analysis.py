"""Study-level analysis: one call turns a study's judgments into paper-ready tables.

``analyze(judgments, protocol=..., dimensions=..., options=...)`` takes the canonical long
DataFrame (see ``analysis/README.md``) and returns an :class:`AnalysisResult` of tidy
DataFrames with fixed columns (``TABLE_COLUMNS``) plus ``methods``: plain-English sentences
naming every test, variant, correction, resample count and seed that was used.

Pure: numpy / pandas / scipy and :mod:`analysis.stats`, no Django. This module is the
entry point; each concept lives in its own module, and the public names are importable
from here as before:

* ``options``            :class:`AnalysisOptions` (what to compute and how)
* ``result``             :class:`AnalysisResult`, ``TABLE_COLUMNS`` / ``TABLE_NAMES``
* ``canonical_frame``    checking and preparing the input frame (``LEVELS``, attention rows,
                         pair orientation)
* ``quality``            annotator quality, exclusions and their effect
* ``rating_analysis``    item means, summaries, comparisons, agreement, diagnostics
* ``pairwise_analysis``  win rates, summaries, agreement, Bradley–Terry, side bias
* ``resampling``, ``agreement_long``, ``corrections``  shared by the two protocols
  (shared, vectorised resampling: :func:`shared_bootstrap_means`)
* ``methods``            the methods text

Design decisions (each is also stated in ``methods``):

* Ratings: the unit of analysis is the item (context x system). Each item's ratings are
  averaged first; summaries, t-tests, effect sizes, permutation tests and bootstrap
  intervals work on item means.
* A pair of systems is compared with a paired t-test on the contexts both were rated on
  when they share at least ``paired_min_overlap`` of the contexts of either system
  (default 0.8; identical context sets always pair), otherwise with Welch's t-test on all
  item means of each system.
* Raw ratings and per-annotator z-scores (per dimension, population SD) are analysed side
  by side (``variant`` = ``raw`` / ``z``); each variant is its own correction family.
* Pairwise studies: judgments are oriented to a canonical pair order (systems in the
  order given, else sorted) and counted at the judgment level, as in published win / tie /
  loss tables.
* Attention checks: rows with a non-missing ``attention_passed`` are judgments of
  attention-check items. They are kept out of every statistic (summaries, tests, agreement,
  win rates, z-scores, diagnostics) and used only for annotator quality, where they count
  like any judgment and give each annotator's attention pass rate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from analysis import stats as st
from core.vocabulary import Protocol

from .agreement_long import krippendorff_alpha_long
from .canonical_frame import LEVELS, count_judgments, prepare_frame
from .methods import methods_text
from .mixed import mixed_methods, mixed_model_table
from .options import AnalysisOptions
from .pairwise_analysis import (
    pairwise_agreement,
    pairwise_bradley_terry,
    pairwise_diagnostics,
    pairwise_summary,
    pairwise_winrates,
)
from .quality import assess_annotators, exclusion_rows, nothing_left_message
from .quality_control_report import quality_control_section
from .rating_analysis import position_rows, rating_core, rating_length_bias
from .resampling import shared_bootstrap_means
from .result import TABLE_COLUMNS, TABLE_NAMES, AnalysisResult, table_frame

__all__ = [
    "AnalysisOptions",
    "AnalysisResult",
    "TABLE_COLUMNS",
    "TABLE_NAMES",
    "LEVELS",
    "analyze",
    "krippendorff_alpha_long",
    "shared_bootstrap_means",
]

# the main tables of one run over some judgments ("items" and "meta" besides, for ratings)
CoreTables = dict[str, Any]


def analyze(
    judgments: pd.DataFrame,
    *,
    protocol: str,
    dimensions: Sequence[dict],
    options: AnalysisOptions | None = None,
    decisions: Mapping[str, Mapping[str, Any]] | None = None,
) -> AnalysisResult:
    """Analyse a study's judgments (canonical long frame) and say how.

    ``decisions``: the quality-control decision per annotator (see
    ``analysis.quality_control_report``); with them ``info["quality_control"]`` says how
    many passed each rule and what leaving out those not approved changes.

    Raises ValueError with a clear message for a malformed frame, an unknown system,
    dimension or annotator, or bad options.
    """
    options = options or AnalysisOptions()
    frame, dims, systems, info, attention = prepare_frame(judgments, protocol, dimensions, options)

    # annotator quality and exclusions
    quality = assess_annotators(_with_attention(frame, attention), protocol, dims, options)
    flagged = quality.flagged_annotators if quality is not None else []
    excluded: set = set(options.exclude_annotators)
    if options.exclude_flagged:
        excluded |= set(flagged)
    kept = frame.loc[~frame["annotator"].isin(excluded)].reset_index(drop=True)
    if len(frame) and kept.empty:
        raise ValueError(nothing_left_message(frame, quality, flagged, excluded, options))

    # the main analysis, and a second run without resampling for the exclusion effect
    def run(data: pd.DataFrame, resample: bool) -> CoreTables:
        return _core_tables(data, protocol, dims, systems, options, resample=resample)

    main = run(kept, True)
    exclusion_effect, excl_set = _exclusion_effect(
        run, protocol, frame, kept, main, excluded, flagged
    )
    diagnostics, bt_notes = _diagnostics(protocol, main, kept, dims, systems, options)
    qc_section = quality_control_section(decisions, protocol, kept, main, run)

    info.update(
        protocol=protocol,
        n_rows_analysed=int(len(kept)),
        n_judgments_analysed=count_judgments(kept, protocol),
        n_annotators=int(kept["annotator"].nunique()),
        n_contexts=int(kept["context"].nunique()),
        systems=list(systems),
        dimensions=[dict(d) for d in dims],
        flagged_annotators=sorted(str(a) for a in flagged),
        excluded_annotators=sorted(str(a) for a in excluded),
        exclusion_compared=excl_set,
        options=options.as_dict(),
    )
    if qc_section is not None:
        info["quality_control"] = qc_section
    methods = methods_text(
        protocol,
        dims,
        systems,
        options,
        info,
        main,
        quality,
        bt_notes,
        bool(excl_set),
        bool(excluded),
    )
    mixed = table_frame("mixed_models")
    if options.mixed_models and protocol == Protocol.RATING:
        mixed = table_frame(
            "mixed_models", mixed_model_table(kept, dims, systems, options).to_dict("records")
        )
        methods += mixed_methods(mixed, options)
    return AnalysisResult(
        protocol=protocol,
        dimensions=[dict(d) for d in dims],
        systems=list(systems),
        options=options,
        summary=main["summary"],
        agreement=main["agreement"],
        annotator_quality=_quality_table(quality, excluded),
        exclusion_effect=exclusion_effect,
        methods=methods,
        judgments=kept,
        info=info,
        mixed_models=mixed,
        **diagnostics,
    )


def _with_attention(frame: pd.DataFrame, attention: pd.DataFrame | None) -> pd.DataFrame:
    """The judgments annotator quality reads: attention-check rows count there (in input
    order among the others) and nowhere else."""
    if attention is None or not len(attention):
        return frame
    return (
        pd.concat([frame, attention], ignore_index=True)
        .sort_values("_seq", kind="stable")
        .reset_index(drop=True)
    )


def _quality_table(quality: st.AnnotatorQualityResult | None, excluded: set) -> pd.DataFrame:
    if quality is None:
        return table_frame("annotator_quality")
    qtable = quality.table.copy()
    qtable["annotator"] = qtable["annotator"].astype(str)
    qtable["excluded"] = qtable["annotator"].isin(excluded)
    return table_frame("annotator_quality", qtable.to_dict("records"))


def _core_tables(
    data: pd.DataFrame,
    protocol: str,
    dims: list[dict],
    systems: list[str],
    options: AnalysisOptions,
    *,
    resample: bool,
) -> CoreTables:
    if protocol == Protocol.RATING:
        return rating_core(data, dims, systems, options, resample=resample)
    winrates, labels = pairwise_winrates(data, dims, systems, options, resample=resample)
    return {
        "summary": pairwise_summary(data, dims, systems, options.confidence),
        "winrates": winrates,
        "agreement": pairwise_agreement(data, dims),
        "meta": {"permutation_labels": labels},
    }


def _exclusion_effect(
    run: Callable[[pd.DataFrame, bool], CoreTables],
    protocol: str,
    frame: pd.DataFrame,
    kept: pd.DataFrame,
    main: CoreTables,
    excluded: set,
    flagged: list,
) -> tuple[pd.DataFrame, list]:
    """The exclusion-effect table and whom it compares: with and without the excluded
    annotators, or (when nobody is excluded) without the flagged ones."""
    if excluded:
        with_all, without = run(frame, False), main
        compared = sorted(excluded)
    elif flagged:
        with_all = main
        without = run(kept.loc[~kept["annotator"].isin(flagged)].reset_index(drop=True), False)
        compared = sorted(flagged)
    else:
        return table_frame("exclusion_effect"), []
    rows = exclusion_rows(protocol, with_all, without, len(compared))
    return table_frame("exclusion_effect", rows), compared


def _diagnostics(
    protocol: str,
    main: CoreTables,
    kept: pd.DataFrame,
    dims: list[dict],
    systems: list[str],
    options: AnalysisOptions,
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The protocol's remaining tables (the other protocol's are empty) and the
    Bradley–Terry notes."""
    if protocol == Protocol.RATING:
        return {
            "length_bias": rating_length_bias(main["items"]),
            "position_effects": table_frame("position_effects", position_rows(kept, dims, "value")),
            "comparisons": main["comparisons"],
            "winrates": table_frame("winrates"),
            "bradley_terry": table_frame("bradley_terry"),
        }, []
    pos_rows, len_rows = pairwise_diagnostics(kept, dims)
    if len(systems) >= 3:
        bradley_terry, bt_notes = pairwise_bradley_terry(kept, dims, systems, options)
    else:
        bradley_terry, bt_notes = table_frame("bradley_terry"), []
    return {
        "position_effects": table_frame("position_effects", pos_rows),
        "length_bias": table_frame("length_bias", len_rows),
        "comparisons": table_frame("comparisons"),
        "winrates": main["winrates"],
        "bradley_terry": bradley_terry,
    }, bt_notes
