"""Pure statistics core for the evalsite analysis (numpy / pandas / scipy / statsmodels; no Django).

See ``analysis/stats/README.md`` for every function, its formula and its variant.
"""

from ._base import CHUNK_BYTES, StatResult
from .agreement import (
    KrippendorffAlphaResult,
    alpha_from_value_counts,
    krippendorff_alpha,
    ratings_matrix_from_long,
    slot_matrix_from_long,
)
from .diagnostics import (
    AnnotatorQualityResult,
    LengthBiasResult,
    PositionEffectResult,
    annotator_quality,
    length_bias,
    position_effect,
)
from .effects import (
    BootstrapResult,
    EffectSizeResult,
    MeanCIResult,
    bootstrap_ci,
    cohens_d_av,
    cohens_d_pooled,
    cohens_d_rm,
    cohens_dz,
    hedges_correction,
    hedges_g,
    mean_ci,
)
from .icc import (
    ICC_FORMS,
    ICCResult,
    VarianceComponentsICCResult,
    icc,
    icc_all,
    icc_variance_components,
)
from .kappa import (
    CohensKappaResult,
    FleissKappaResult,
    FreeMarginalKappaResult,
    cohens_kappa,
    fleiss_kappa,
    fleiss_table_from_long,
    fleiss_table_from_ratings,
    free_marginal_kappa,
)
from .normalize import per_annotator_zscores
from .pairwise import (
    BradleyTerryResult,
    WinTieLossResult,
    bradley_terry,
    bt_wins_matrix,
    win_tie_loss,
)
from .permutation import (
    TWO_SIDED_RULES,
    PermutationTestResult,
    TwoSidedRule,
    paired_permutation_test,
    paired_permutation_tests,
    preference_permutation_test,
    preference_permutation_tests,
    two_sample_permutation_test,
    two_sample_permutation_tests,
)
from .significance import (
    BinomialTestResult,
    CorrectionResult,
    SignTestResult,
    TTestResult,
    binomial_test,
    bonferroni,
    holm,
    paired_t_test,
    preference_scores,
    sign_test,
    sign_test_counts,
    student_t_test,
    two_sample_t_test,
    welch_t_test,
)

__all__ = [
    "CHUNK_BYTES",
    "StatResult",
    # agreement
    "ICC_FORMS",
    "CohensKappaResult",
    "FleissKappaResult",
    "ICCResult",
    "KrippendorffAlphaResult",
    "cohens_kappa",
    "fleiss_kappa",
    "fleiss_table_from_long",
    "fleiss_table_from_ratings",
    "FreeMarginalKappaResult",
    "free_marginal_kappa",
    "VarianceComponentsICCResult",
    "icc_variance_components",
    "icc",
    "icc_all",
    "krippendorff_alpha",
    "alpha_from_value_counts",
    "ratings_matrix_from_long",
    "slot_matrix_from_long",
    # diagnostics
    "AnnotatorQualityResult",
    "LengthBiasResult",
    "PositionEffectResult",
    "annotator_quality",
    "length_bias",
    "position_effect",
    # effects
    "BootstrapResult",
    "EffectSizeResult",
    "MeanCIResult",
    "bootstrap_ci",
    "cohens_d_pooled",
    "cohens_dz",
    "cohens_d_av",
    "cohens_d_rm",
    "hedges_correction",
    "hedges_g",
    "mean_ci",
    # normalize
    "per_annotator_zscores",
    # pairwise
    "BradleyTerryResult",
    "WinTieLossResult",
    "bradley_terry",
    "bt_wins_matrix",
    "preference_permutation_test",
    "preference_permutation_tests",
    "TWO_SIDED_RULES",
    "TwoSidedRule",
    "win_tie_loss",
    # significance
    "BinomialTestResult",
    "CorrectionResult",
    "PermutationTestResult",
    "SignTestResult",
    "TTestResult",
    "binomial_test",
    "bonferroni",
    "holm",
    "paired_permutation_test",
    "paired_permutation_tests",
    "paired_t_test",
    "preference_scores",
    "sign_test",
    "sign_test_counts",
    "student_t_test",
    "two_sample_permutation_test",
    "two_sample_permutation_tests",
    "two_sample_t_test",
    "welch_t_test",
]
