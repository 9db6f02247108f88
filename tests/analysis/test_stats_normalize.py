"""Per-annotator z-scores (WMT DA style) vs scipy.stats.zscore per group."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.stats import per_annotator_zscores


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["ann1", "ann2", "ann3"]),
            st.sampled_from(["fluency", "empathy"]),
            st.integers(0, 100),
        ),
        min_size=1,
        max_size=60,
    ),
    ddof=st.sampled_from([0, 1]),
)
def test_zscores_match_scipy_per_group(rows, ddof):
    df = pd.DataFrame(rows, columns=["annotator", "dimension", "score"])
    out = per_annotator_zscores(df, "annotator", "score", by="dimension", ddof=ddof)
    assert out.index.equals(df.index) and out["score"].equals(df["score"])
    for _, g in out.groupby(["annotator", "dimension"]):
        x = g["score"].to_numpy(float)
        if x.size < 2 or np.ptp(x) == 0:
            assert g["score_z"].isna().all()
        else:
            np.testing.assert_allclose(g["score_z"], stats.zscore(x, ddof=ddof), rtol=1e-10)


def test_zscore_policies():
    df = pd.DataFrame(
        {
            "ann": ["x", "x", "x", "y", "y", "z", "w", "w"],
            "v": [1.0, 2.0, 3.0, 4.0, 4.0, 5.0, np.nan, 3.0],
        }
    )
    pop = per_annotator_zscores(df, "ann", "v")
    assert pop["v_z"].iloc[:3].tolist() == pytest.approx([-math.sqrt(1.5), 0.0, math.sqrt(1.5)])
    assert pop["v_z"].iloc[3:].isna().all()  # zero SD, single rating, missing
    zero = per_annotator_zscores(df, "ann", "v", zero_sd="zero", ddof=1, out_col="z")
    assert zero["z"].iloc[:3].tolist() == pytest.approx([-1.0, 0.0, 1.0])
    assert zero["z"].iloc[3:5].tolist() == [0.0, 0.0]  # straight-liner: at own mean
    assert math.isnan(zero["z"].iloc[5])  # a single rating stays NaN
    assert math.isnan(zero["z"].iloc[6]) and math.isnan(zero["z"].iloc[7])
    with pytest.raises(ValueError):
        per_annotator_zscores(df, "ann", "v", zero_sd="drop")


def test_zscores_remove_annotator_offsets():
    rng = np.random.default_rng(0)
    quality = rng.normal(size=50)
    rows = []
    for a, (offset, scale) in enumerate([(0, 1), (30, 1), (0, 10)]):
        for i, q in enumerate(quality):
            rows.append((f"a{a}", i, offset + scale * q))
    df = pd.DataFrame(rows, columns=["ann", "item", "score"])
    z = per_annotator_zscores(df, "ann", "score")
    wide = z.pivot(index="item", columns="ann", values="score_z")
    np.testing.assert_allclose(wide["a0"], wide["a1"])
    np.testing.assert_allclose(wide["a0"], wide["a2"])
