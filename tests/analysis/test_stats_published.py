"""Published worked examples, checked to their published precision.

Data were typed in from the publications (not downloaded).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.stats import (
    cohens_d_av,
    cohens_d_pooled,
    cohens_d_rm,
    cohens_dz,
    fleiss_kappa,
    hedges_correction,
    hedges_g,
    icc,
    icc_all,
    krippendorff_alpha,
    paired_t_test,
    student_t_test,
    welch_t_test,
)

# --------------------------------------------------------------------------------------
# Fleiss (1971): 30 patients x 6 psychiatrists, 5 diagnoses
# (1 depression, 2 personality disorder, 3 schizophrenia, 4 neurosis, 5 other);
# the same data as R irr::diagnoses.
# --------------------------------------------------------------------------------------
FLEISS_1971 = np.array(
    [
        [4, 4, 4, 4, 4, 4],
        [2, 2, 2, 5, 5, 5],
        [2, 3, 3, 3, 3, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4],
        [1, 1, 3, 3, 3, 3],
        [3, 3, 3, 3, 5, 5],
        [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4],
        [5, 5, 5, 5, 5, 5],
        [1, 4, 4, 4, 4, 4],
        [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3],
        [1, 4, 4, 4, 4, 4],
        [2, 2, 4, 4, 4, 5],
        [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5],
        [1, 1, 1, 1, 1, 2],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 4, 4, 4, 4, 4],
        [2, 2, 4, 5, 5, 5],
        [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5],
        [2, 2, 2, 2, 2, 4],
        [1, 1, 1, 1, 5, 5],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3],
        [5, 5, 5, 5, 5, 5],
    ]
)


def test_fleiss_1971_diagnoses_kappa():
    res = fleiss_kappa(FLEISS_1971, kind="ratings")
    assert (res.n_items, res.n_raters, res.n_categories) == (30, 6, 5)
    assert round(res.kappa, 3) == 0.430
    # R irr::kappam.fleiss(diagnoses) prints "Kappa = 0.43, z = 17.7, p-value = 0"
    assert round(res.z, 1) == 17.7
    assert res.p < 1e-10


# --------------------------------------------------------------------------------------
# Wikipedia, "Fleiss' kappa", worked example: 10 subjects x 14 raters x 5 categories
# --------------------------------------------------------------------------------------
WIKIPEDIA_TABLE = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def test_fleiss_wikipedia_example():
    res = fleiss_kappa(WIKIPEDIA_TABLE)
    assert (res.n_items, res.n_raters, res.n_categories) == (10, 14, 5)
    assert round(res.p_observed, 3) == 0.378
    assert round(res.p_expected, 3) == 0.213
    assert [round(p, 3) for p in res.category_proportions] == [0.143, 0.200, 0.279, 0.150, 0.229]
    assert round(res.kappa, 3) == 0.210


# --------------------------------------------------------------------------------------
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the example with
# 4 observers x 12 units and missing values.
# --------------------------------------------------------------------------------------
nan = math.nan
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
)


@pytest.mark.parametrize(
    "level, expected",
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_2011_example(level, expected):
    res = krippendorff_alpha(KRIPPENDORFF_2011, level)
    assert round(res.alpha, 3) == expected
    # unit 12 has a single value and is not pairable; n.. = 40 pairable values
    assert res.n_units == 11
    assert res.n_values == 40
    assert res.n_raters == 4


# --------------------------------------------------------------------------------------
# Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges, and the ICCs of Table 4
# --------------------------------------------------------------------------------------
SHROUT_FLEISS = np.array(
    [
        [9, 2, 5, 8],
        [6, 1, 3, 2],
        [8, 4, 6, 8],
        [7, 1, 2, 6],
        [10, 5, 6, 9],
        [6, 2, 4, 7],
    ]
)


@pytest.mark.parametrize(
    "form, expected",
    [
        ("ICC(1,1)", 0.17),
        ("ICC(2,1)", 0.29),
        ("ICC(3,1)", 0.71),
        ("ICC(1,4)", 0.44),
        ("ICC(2,4)", 0.62),
        ("ICC(3,4)", 0.91),
    ],
)
def test_shrout_fleiss_icc(form, expected):
    res = icc(SHROUT_FLEISS, form)
    assert round(res.value, 2) == expected
    assert (res.n_items, res.n_raters) == (6, 4)


def test_shrout_fleiss_anova_and_intervals():
    res = icc_all(SHROUT_FLEISS)
    # Table 3 mean squares: BMS = 11.24, WMS = 6.26, EMS = 1.02 (JMS = 32.49)
    assert res["ICC(1,1)"].F == pytest.approx(11.24 / 6.26, abs=0.01)
    assert res["ICC(3,1)"].F == pytest.approx(11.24 / 1.02, abs=0.05)
    assert (res["ICC(1,1)"].df1, res["ICC(1,1)"].df2) == (5, 18)
    assert (res["ICC(2,1)"].df1, res["ICC(2,1)"].df2) == (5, 15)
    # 95% intervals as printed (2 decimals) by pingouin.intraclass_corr / R psych::ICC
    expected_ci = {
        "ICC(1,1)": (-0.13, 0.72),
        "ICC(2,1)": (0.02, 0.76),
        "ICC(3,1)": (0.34, 0.95),
        "ICC(1,k)": (-0.88, 0.91),
        "ICC(2,k)": (0.07, 0.93),
        "ICC(3,k)": (0.68, 0.99),
    }
    for form, (lo, hi) in expected_ci.items():
        assert (round(res[form].ci_low, 2), round(res[form].ci_high, 2)) == (lo, hi), form


# --------------------------------------------------------------------------------------
# Student (1908) sleep data, R `sleep`: extra hours of sleep for 10 patients, two drugs
# --------------------------------------------------------------------------------------
SLEEP_1 = np.array([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0])
SLEEP_2 = np.array([1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])


def test_sleep_paired_t():
    # R: t.test(extra ~ group, data = sleep, paired = TRUE)
    res = paired_t_test(SLEEP_1, SLEEP_2)
    assert round(res.t, 3) == -4.062
    assert res.df == 9
    assert round(res.p, 6) == 0.002833
    assert round(res.ci_low, 6) == -2.459886
    assert round(res.ci_high, 6) == -0.700114
    assert res.mean_diff == pytest.approx(-1.58)
    assert res.method == "paired t-test, two-sided"


def test_sleep_welch_and_student():
    # R: t.test(extra ~ group, data = sleep)  (Welch)
    res = welch_t_test(SLEEP_1, SLEEP_2)
    assert round(res.t, 3) == -1.861
    assert round(res.df, 2) == 17.78
    assert round(res.p, 5) == 0.07939
    assert round(res.ci_low, 6) == -3.365483
    assert round(res.ci_high, 6) == 0.205483
    # R: t.test(extra ~ group, data = sleep, var.equal = TRUE)
    st = student_t_test(SLEEP_1, SLEEP_2)
    assert round(st.t, 3) == -1.861
    assert st.df == 18
    assert round(st.p, 5) == 0.07919


def test_sleep_one_sided_and_dz():
    less = paired_t_test(SLEEP_1, SLEEP_2, alternative="less")
    assert round(less.p, 7) == round(0.002832890 / 2, 7)
    assert less.method == "paired t-test, one-sided (less)"
    dz = cohens_dz(SLEEP_1, SLEEP_2)
    assert dz.value == pytest.approx(-4.062127683 / math.sqrt(10), rel=1e-9)


def test_hedges_correction_closed_forms():
    # J(2) = Gamma(1) / (1 * Gamma(1/2)) = 1/sqrt(pi); J(4) = sqrt(2/pi)
    assert hedges_correction(2) == pytest.approx(1 / math.sqrt(math.pi), rel=1e-12)
    assert hedges_correction(4) == pytest.approx(math.sqrt(2 / math.pi), rel=1e-12)


# --------------------------------------------------------------------------------------
# Lakens (2013), "Calculating and reporting effect sizes to facilitate cumulative
# science", Table 1: ten people rate two movies (1-10). Published: movie 1 M = 8.7,
# SD = 0.82; movie 2 M = 7.7, SD = 0.95; r = 0.726; paired t(9) = 4.74; d_z = 1.50;
# d_av = 1.13; as independent groups d_s = 1.13, Hedges' g_s = 1.08.
# --------------------------------------------------------------------------------------
LAKENS_MOVIE_1 = [9, 7, 8, 9, 8, 9, 9, 10, 9, 9]
LAKENS_MOVIE_2 = [9, 6, 7, 8, 7, 9, 8, 8, 8, 7]


def test_lakens_2013_within_subjects_effect_sizes():
    a, b = np.array(LAKENS_MOVIE_1, float), np.array(LAKENS_MOVIE_2, float)
    assert (round(a.std(ddof=1), 2), round(b.std(ddof=1), 2)) == (0.82, 0.95)
    assert round(float(np.corrcoef(a, b)[0, 1]), 3) == 0.726
    assert round(paired_t_test(a, b).t, 2) == 4.74
    assert round(cohens_dz(a, b).value, 2) == 1.50
    assert round(cohens_d_av(a, b).value, 2) == 1.13
    assert round(cohens_d_pooled(a, b).value, 2) == 1.13
    assert round(hedges_g(a, b).value, 2) == 1.08
    # d_rm (Lakens' eq. 9) from the published summary statistics, and its identity with d_z
    m, s1, s2, r = 1.0, 0.82, 0.95, 0.726
    published_rm = m / math.sqrt(s1**2 + s2**2 - 2 * r * s1 * s2) * math.sqrt(2 * (1 - r))
    d_rm = cohens_d_rm(a, b)
    assert d_rm.value == pytest.approx(published_rm, abs=0.01)
    r_exact = float(np.corrcoef(a, b)[0, 1])
    assert d_rm.value == pytest.approx(1.5 * math.sqrt(2 * (1 - r_exact)), rel=1e-12)
    assert "d_rm" in d_rm.method and "d_av" in cohens_d_av(a, b).method
