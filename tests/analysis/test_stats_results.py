"""Result objects: frozen, labelled, serialisable; public API; a vectorisation smoke test."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import analysis.stats as S


def _all_results() -> list[S.StatResult]:
    rng = np.random.default_rng(0)
    a = rng.integers(1, 6, 40).astype(float)
    b = np.clip(a + rng.integers(-1, 2, 40), 1, 5)
    prefs = rng.choice(["a", "b", "tie"], 40)
    df = pd.DataFrame(
        {
            "ann": np.repeat(["x", "y", "z", "w"], 10),
            "v": a,
            "secs": rng.uniform(1, 20, 40),
            "pos": np.tile(np.arange(10), 4),
        }
    )
    results: list[S.StatResult] = [
        S.paired_t_test(a, b),
        S.welch_t_test(a, b),
        S.paired_permutation_test(a, b, seed=1),
        S.two_sample_permutation_test(a, b, seed=1),
        S.sign_test(prefs),
        S.binomial_test(3, 10),
        S.holm([0.01, 0.2]),
        S.cohens_dz(a, b),
        S.cohens_d_pooled(a, b),
        S.hedges_g(a, b),
        S.mean_ci(a),
        S.bootstrap_ci([a, b], "mean_difference", paired=True, seed=1, method="bca"),
        S.fleiss_kappa(np.array([a[:10], b[:10], a[10:20]]).T.astype(int), kind="ratings"),
        S.krippendorff_alpha(np.vstack([a, b]), "interval"),
        S.cohens_kappa(a, b, weights="quadratic"),
        S.icc(np.vstack([a, b]).T, "ICC(2,1)"),
        S.win_tie_loss(prefs),
        S.preference_permutation_test(prefs, seed=1),
        S.bradley_terry([("p", "q"), ("q", "r"), ("r", "p"), ("q", "p")], seed=1),
        S.length_bias(a, rng.integers(5, 50, 40)),
        S.position_effect(a, df["pos"], groups=df["ann"]),
        S.annotator_quality(df, "ann", "v", time_col="secs", order_col="pos"),
    ]
    return results


def test_results_are_frozen_labelled_and_json_serialisable():
    for res in _all_results():
        assert dataclasses.is_dataclass(res)
        assert isinstance(res.method, str) and res.method
        assert res.label == res.method
        d = res.as_dict()
        assert d["method"] == res.method
        json.dumps(d)  # plain Python values only (NaN allowed)
        first = dataclasses.fields(res)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(res, first, None)


def test_public_api_is_complete():
    for name in S.__all__:
        assert hasattr(S, name), name
    for fn in (S.paired_permutation_tests, S.bootstrap_ci, S.bradley_terry, S.icc_all):
        assert fn.__doc__ and fn.__annotations__
