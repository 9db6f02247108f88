"""The methods text: plain-English sentences naming every test, variant, correction,
resample count and seed an analysis used (``AnalysisResult.methods``, the report's
Methods section). Pure.

The sentences are built in code rather than a template because most of them depend on
the options and counts; :func:`methods_text` joins three parts: the data and who was
left out, then the rating or the pairwise statistics.
"""

from __future__ import annotations

from typing import Any, cast

from analysis import stats as st
from analysis.formatting import comma_list, plural
from core.vocabulary import Protocol

from .options import ALTERNATIVE_WORDS, ZSCORE_CONVENTIONS, AnalysisOptions

__all__ = ["methods_text"]


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
    return f" Two-sided rule: permutation_two_sided={o.permutation_two_sided}."


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
        f"Data: {plural(info['n_judgments_analysed'], 'judgment')} "
        f"({plural(info['n_rows_analysed'], 'judgment x dimension row')}) by "
        f"{plural(info['n_annotators'], 'annotator')} on "
        f"{plural(info['n_contexts'], 'context')}; systems {comma_list(systems)}; dimensions "
        + comma_list(f"{d['label']} ({d['type']})" for d in dims)
        + ".",
    ]
    if info.get("dimensions_without_judgments") and info["n_rows_analysed"]:
        out.append(
            "Dimensions without judgments, left out: "
            + comma_list(info["dimensions_without_judgments"])
            + "."
        )
    if info.get("n_rows_partial"):
        if o.include_partial:
            out.append(
                f"{plural(info['n_rows_partial'], 'row')} from batches whose lease expired "
                "(partial work) included (include_partial)."
            )
        else:
            out.append(
                f"{plural(info['n_rows_partial'], 'row')} from batches whose lease expired "
                "(partial work) left out; include_partial=True keeps them."
            )
    if quality is not None:
        th = quality.thresholds
        out.append(
            "Annotator quality: median time per item, straight-lining index (share of "
            "consecutive judgments identical to the previous one on every dimension), rating "
            "SD and attention checks where recorded; an annotator is flagged when "
            f"median seconds < {th['min_median_seconds']}, straight-lining index > "
            f"{th['max_straightline']}, SD <= {th['min_sd']} or attention pass rate < "
            f"{th['min_attention_pass']} (the straight-lining and SD rules need at least "
            f"{plural(cast(int, th['min_judgments']), 'judgment')}). Flagged: "
            f"{comma_list(info['flagged_annotators'])}."
        )
    if info.get("n_rows_attention") is not None:
        out.append(
            f"Attention checks: {plural(info['n_attention_judgments'], 'judgment')} of "
            f"attention-check items ({plural(info['n_rows_attention'], 'judgment x dimension row')})"
            " are left out of "
            "every statistic and count only in annotator quality, where attention_pass_rate "
            "is the share of an annotator's checks passed (every condition of the check met)."
        )
    if excluding:
        out.append(
            f"Excluded from every table except annotator quality: "
            f"{comma_list(info['excluded_annotators'])}"
            + (" (flagged annotators, exclude_flagged)" if o.exclude_flagged else "")
            + "."
        )
    if has_exclusion_effect:
        out.append(
            "Exclusion effect: the main estimates (means, mean differences, effect sizes, "
            "t-test / sign-test p-values and agreement) are recomputed with and without "
            + ("annotator " if len(info["exclusion_compared"]) == 1 else "annotators ")
            + f"{comma_list(info['exclusion_compared'])}; the comparison run uses no "
            "resampling."
        )
    else:
        out.append("Exclusion effect: no annotator was flagged or excluded, so nothing to compare.")
    return out


def _rating_sentences(
    o: AnalysisOptions, dims: list[dict], systems: list[str], meta: dict[str, Any]
) -> list[str]:
    side = ALTERNATIVE_WORDS[o.alternative]
    conf = f"{o.confidence:.0%}"
    family = _family(o)
    return [
        "Unit of analysis: the item (context x system). Each item's ratings are averaged "
        "first; summary statistics, tests, effect sizes and intervals use item means. "
        "Checkbox answers count as 1 (Yes, ticked) / 0 (No), so a checkbox mean is the "
        "share of Yes answers.",
        f"Summary: per system and dimension, the mean, SD (ddof=1) and t-based {conf} "
        "confidence interval of the item means; mean_z is the mean of item means of "
        "per-annotator z-scores.",
        "Variants side by side: raw ratings and per-annotator z-scores (each annotator's "
        f"ratings in a dimension minus their mean, {ZSCORE_CONVENTIONS[o.zscore][2]}; "
        f"zscore={o.zscore}). Each variant is a separate correction family.",
        "Design: a pair of systems gets a paired t-test on the contexts both were rated on "
        f"when those make up at least {o.paired_min_overlap:.0%} of the contexts of each "
        "system, otherwise Welch's unequal-variance t-test on all item means of each "
        f"system; the design column says which was used (used here: "
        f"{comma_list(meta['designs'])}).",
        f"Alternative: {side}; for one-sided tests the hypothesis is about system_a minus "
        "system_b in the order " + comma_list(systems) + ".",
        "Effect sizes: cohens_d_pooled = mean difference / pooled SD of the two sets of "
        "item means (the variant the EmPO paper reports beside its paired t-tests); "
        "cohens_dz = mean of the paired differences / their SD (paired design only); "
        "cohens_d_av = mean difference / the average of the two SDs and cohens_d_rm = "
        "cohens_dz x sqrt(2(1 - r)), r the correlation of the paired item means (paired "
        "design only; Lakens 2013); "
        "hedges_g = cohens_d_pooled times the exact small-sample correction "
        "J(n_a + n_b - 2).",
        "Multiple comparisons: Holm step-down (p_holm) and Bonferroni (p_bonferroni) "
        f"adjustments of the t-test p-values within {family}.",
        f"Permutation tests ({plural(o.n_permutations, 'resample')}, seed {o.seed}): "
        + "; ".join(meta["permutation_labels"] or ["none computed"])
        + ". Paired comparisons flip the signs of the item-mean differences, Welch "
        "comparisons permute system labels among the item means; all comparisons of the "
        "same sample size share one resample matrix." + _two_sided_rule(o),
        f"Confidence interval of the mean difference (ci_low, ci_high): two-sided {conf} "
        f"percentile bootstrap, {plural(o.n_bootstrap, 'resample')}, seed {o.seed}; paired designs "
        "resample contexts (pairs kept together), Welch designs resample each system's "
        "items independently; comparisons of the same sample size share the resamples.",
        "Agreement per dimension: Krippendorff's alpha over items (context x system) at "
        "the dimension's level of measurement ("
        + comma_list(f"{d['label']}: {d['level']}" for d in dims)
        + "); for slider and Likert dimensions (ICC treats ratings as interval data, so "
        "checkbox dimensions get none) ICC(2,1) and ICC(2,k) (two-way random, absolute "
        f"agreement): from the two-way ANOVA with {conf} F-based intervals when every "
        "annotator rated every item, from variance components (a moment estimator that "
        "uses every rating; no interval; k = the harmonic mean of ratings per item) when "
        "cells are missing, and ICC(1,1) and ICC(1,k) (one-way random, on the first k "
        "ratings of each item) only when no annotator rated two items of a dimension, so "
        "that rater effects cannot be separated; the note of each row says which. Fleiss' "
        "kappa and the free-marginal kappa (Brennan & Prediger; Randolph: chance agreement "
        "1/K over the K categories offered) for checkbox and Likert dimensions when every "
        "item has the same number of ratings.",
        "Length bias: Pearson r (t-test) and Spearman rho of item mean ratings with the "
        "response length (words), over all systems and within each system, two-sided.",
        "Position and block-order effects: OLS slope of the rating on the position inside "
        "the batch (and on the block index) with annotator fixed effects, two-sided t-test.",
        "Random numbers: numpy PCG64 generators seeded with "
        f"[{o.seed}, purpose, sample size], so every figure is reproducible.",
    ]


def _pairwise_sentences(
    o: AnalysisOptions, systems: list[str], labels: list[str], bt_notes: list[str]
) -> list[str]:
    side = ALTERNATIVE_WORDS[o.alternative]
    conf = f"{o.confidence:.0%}"
    family = _family(o)
    out = [
        "Pairs are oriented to the system order "
        + comma_list(systems)
        + " (a judgment recorded the other way round has A and B swapped); counts are "
        "over judgments.",
        "Win / tie / loss: counts and shares over all judgments (ties included, as in "
        "the ProsocialDialog tables); share_a_decisive = A's share of the non-tied "
        f"judgments with its {conf} Clopper–Pearson (cp_low, cp_high) and Wilson score "
        f"(wilson_low, wilson_high) intervals ({side}, as the sign test).",
        f"Sign test: exact binomial test of A wins among non-tied judgments against 0.5, "
        f"{side}; Holm (p_sign_holm) and Bonferroni (p_sign_bonferroni) adjustments within "
        f"{family.replace(' (and variant)', '').replace(' (per variant)', '')}.",
        f"Permutation test ({plural(o.n_permutations, 'resample')}, seed {o.seed}): "
        + "; ".join(labels or ["none computed"])
        + "."
        + _two_sided_rule(o),
        "Summary: per system and dimension, the expected score over all its comparisons "
        f"(win 1, tie 0.5, loss 0) with SD and t-based {conf} interval.",
        "Agreement per dimension: Krippendorff's alpha (nominal) over items (context x "
        "pair) by system, and, when every item has the same number of judgments, Fleiss' "
        "kappa and the free-marginal kappa (chance agreement 1/3) twice: over the "
        "categories by system (system_a better, system_b better, tie; metric "
        "fleiss_kappa) and over the categories as shown (first shown / left, second shown "
        "/ right, tie: what the annotator clicked; metric fleiss_kappa_as_shown).",
        "Side bias: share of non-tied choices for the response recorded as A (shown "
        "first / left), exact two-sided binomial test against 0.5.",
    ]
    if len(systems) >= 3:
        norm = (
            "log-strengths summing to 0"
            if o.bt_reference is None
            else f"the log-strength of {o.bt_reference} fixed at 0 (bt_reference)"
        )
        out.append(
            f"Bradley–Terry strengths per dimension (MLE by Hunter's MM algorithm, {norm}, "
            "a tie counting half a win for each side) with "
            f"{conf} percentile bootstrap intervals over judgments, "
            f"{plural(o.n_bootstrap, 'resample')}, seed {o.seed}; se = standard error of the "
            "log-strength from the Fisher information of the model as a logistic GLM "
            "(logit P(i beats j) = log-strength i - log-strength j); deviance on df_residual "
            "= pairs compared - (systems - 1); elo = 1000 + "
            f"{o.elo_scale:g} x log10(strength) (elo_scale)."
        )
        out += [f"Bradley–Terry note: {n}." for n in bt_notes]
    out.append(
        "Random numbers: numpy PCG64 generators seeded with "
        f"[{o.seed}, purpose], so every figure is reproducible."
    )
    return out
