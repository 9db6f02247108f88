"""Mixed-effects and clustered models of a rating study's judgments, with system contrasts.

Pure (numpy / scipy / pandas / statsmodels, no Django). Three models, one per kind of
dimension, each labelled in its table rows and in the methods text (see ``mixed.md``):

* slider: linear mixed model ``score ~ system + (1 | annotator) + (1 | context) +
  (1 | context:system)`` fitted by REML (:func:`fit_crossed_lmm`); contrasts are t tests
  with Satterthwaite degrees of freedom (as lmerTest reports them; z where they cannot be
  computed, said in the row's note).
* Likert: cumulative-link (proportional-odds logit) model, statsmodels ``OrderedModel``,
  system as fixed effects, standard errors clustered by context (OrderedModel has no
  random effects).
* checkbox: logistic GEE, statsmodels ``GEE`` (binomial, exchangeable within context,
  robust sandwich standard errors): population-averaged log-odds ratios, not a binomial
  mixed model.

Why the linear mixed model is fitted here and not by statsmodels' MixedLM: crossed random
effects go into MixedLM as variance components of one all-covering group, and MixedLM then
works with dense matrices of the whole study. Measured at EmPO size (2,025 ratings of one
dimension, 135 annotators, 135 contexts, 675 items) one fit took 35 s; the profiled REML
criterion below (Bates, Mächler, Bolker & Walker 2015, "Fitting linear mixed-effects
models using lme4", section 3) works with the sparse random-effects cross-products and
takes a fraction of a second for the same fit. The tests check it against MixedLM on
small studies (same estimates, standard errors and variance components) and against a
simulation with known variance components (coverage of the 95% interval).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import linalg, optimize, sparse
from scipy import stats as sps
from scipy.sparse.linalg import splu

from .corrections import correct_p_values
from .formatting import confidence_level
from .options import AnalysisOptions

__all__ = [
    "MIXED_COLUMNS",
    "MODEL_LABELS",
    "MODEL_SHORT",
    "LMMFit",
    "fit_crossed_lmm",
    "slider_model",
    "mixed_model_table",
    "mixed_methods",
]

#: what each model is, as the tables and the methods text name it
MODEL_LABELS = {
    "slider": "linear mixed model (REML): score ~ system + (1|annotator) + (1|context) + "
    "(1|context:system); Satterthwaite t",
    "likert": "cumulative logit (proportional odds, statsmodels OrderedModel): score ~ system; "
    "SE clustered by context",
    "checkbox": "logistic GEE (statsmodels, exchangeable within context, robust SE): "
    "Yes ~ system; population-averaged",
}
#: the model's short name, as the readable tables show it (the full label is in methods)
MODEL_SHORT = {
    MODEL_LABELS["slider"]: "LMM (REML), Satterthwaite t",
    MODEL_LABELS["likert"]: "cumulative logit, clustered SE",
    MODEL_LABELS["checkbox"]: "logistic GEE, robust SE",
}
#: the scale of a row's estimate
ESTIMATE_SCALES = {
    "slider": "scale points",
    "likert": "log cumulative odds ratio",
    "checkbox": "log odds ratio",
}
RANDOM_FACTORS = ("annotator", "context", "item")
DENSE_MAX = 300  # random-effect levels up to which a dense Cholesky beats the sparse LU (measured)

MIXED_COLUMNS = [
    "dimension",
    "system_a",
    "system_b",
    "model",
    "alternative",
    "estimate",
    "se",
    "statistic",
    "df",
    "p_value",
    "p_holm",
    "p_bonferroni",
    "ci_low",
    "ci_high",
    "scale",
    "n_judgments",
    "n_annotators",
    "n_contexts",
    "sd_annotator",
    "sd_context",
    "sd_item",
    "sd_residual",
    "note",
]


@dataclasses.dataclass(frozen=True)
class LMMFit:
    """A REML fit: fixed effects, their covariance, and the random-effect SDs."""

    beta: np.ndarray
    cov_beta: np.ndarray
    sd_random: dict[str, float]
    sd_residual: float
    reml_deviance: float
    converged: bool
    n_obs: int
    # what satterthwaite_df needs: the cross-products and (sigma_1^2 .. sigma_m^2, sigma^2)
    crossed: _Crossed | None = dataclasses.field(default=None, repr=False, compare=False)
    variances: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)

    def satterthwaite_df(self, contrasts: np.ndarray) -> np.ndarray:
        """Satterthwaite degrees of freedom of each contrast c'beta (rows of ``contrasts``):
        df = 2 (c'Σc)² / (g' W g), g the gradient of c'Σc in the variance components and W
        their asymptotic covariance (twice the inverse Hessian of the REML deviance), both by
        central differences (as lmerTest computes them, Kuznetsova et al. 2017). Components
        estimated at 0 are held there. NaN when the Hessian is not positive definite."""
        assert self.crossed is not None and self.variances is not None
        return _satterthwaite(self.crossed, self.variances, np.atleast_2d(contrasts))


class _Crossed:
    """The sufficient cross-products of y, X and the sparse indicator matrix Z."""

    def __init__(self, y: np.ndarray, X: np.ndarray, codes: Sequence[np.ndarray]) -> None:
        n = y.size
        blocks, self.sizes = [], []
        for c in codes:
            q = int(c.max()) + 1 if c.size else 0
            blocks.append(sparse.csr_matrix((np.ones(n), (np.arange(n), c)), shape=(n, q)))
            self.sizes.append(q)
        Z = sparse.hstack(blocks, format="csc")
        self.n, self.p = n, X.shape[1]
        self.ZtZ = (Z.T @ Z).tocsc()
        self.ZtX = np.asarray(Z.T @ X)
        self.Zty = np.asarray(Z.T @ y).ravel()
        self.XtX, self.Xty, self.yty = X.T @ X, X.T @ y, float(y @ y)
        q = self.ZtZ.shape[0]
        # a small study: dense Cholesky (the sparse LU costs more in overhead than it saves)
        self.dense = self.ZtZ.toarray() if q <= DENSE_MAX else None
        self.eye = sparse.identity(q, format="csc")

    def solve(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
        """log|A|, the GLS beta, (X' V*^-1 X) and the penalised residual sum of squares r²,
        with V* = I + Z Λ Λ Z' and A = Λ Z'Z Λ + I (the determinant lemma gives |V*| = |A|)."""
        lam = np.repeat(theta, self.sizes)
        B, b = lam[:, None] * self.ZtX, lam * self.Zty
        if self.dense is not None:
            A = lam[:, None] * self.dense * lam[None, :]
            A[np.diag_indices_from(A)] += 1.0
            chol = linalg.cho_factor(A, lower=True, check_finite=False)
            logdet = 2.0 * float(np.sum(np.log(np.diag(chol[0]))))
            AiB = linalg.cho_solve(chol, B, check_finite=False)
            Aib = linalg.cho_solve(chol, b, check_finite=False)
        else:
            L = sparse.diags(lam)
            lu = splu(
                (L @ self.ZtZ @ L + self.eye).tocsc(),
                permc_spec="MMD_AT_PLUS_A",
                diag_pivot_thresh=0.0,
            )
            logdet = float(np.sum(np.log(np.abs(lu.U.diagonal()))))
            AiB, Aib = lu.solve(B), lu.solve(b)
        xvx = self.XtX - B.T @ AiB
        xvy = self.Xty - B.T @ Aib
        yvy = self.yty - b @ Aib
        beta = np.linalg.solve(xvx, xvy)
        r2 = max(float(yvy - beta @ xvy), 1e-300)
        return logdet, beta, xvx, r2

    def deviance(self, theta: np.ndarray) -> float:
        """The profiled REML criterion -2 l_R(theta) (Bates et al. 2015, eq. 41)."""
        logdet, _, xvx, r2 = self.solve(theta)
        dof = self.n - self.p
        _, logdet_x = np.linalg.slogdet(xvx)
        return logdet + float(logdet_x) + dof * (1.0 + np.log(2.0 * np.pi * r2 / dof))


def _theta(psi: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(psi[:-1], 0.0) / psi[-1])


def _full_deviance(crossed: _Crossed, psi: np.ndarray) -> float:
    """-2 l_R at variance components psi = (sigma_1^2 .. sigma_m^2, sigma^2), not profiled:
    (n - p) log sigma^2 + log|A| + log|X' V*^-1 X| + r² / sigma^2 (constants dropped)."""
    logdet, _, xvx, r2 = crossed.solve(_theta(psi))
    _, logdet_x = np.linalg.slogdet(xvx)
    return float((crossed.n - crossed.p) * np.log(psi[-1]) + logdet + logdet_x + r2 / psi[-1])


def _cov_at(crossed: _Crossed, psi: np.ndarray) -> np.ndarray:
    _, _, xvx, _ = crossed.solve(_theta(psi))
    return psi[-1] * np.linalg.inv(xvx)


def _satterthwaite(crossed: _Crossed, psi: np.ndarray, C: np.ndarray) -> np.ndarray:
    active = np.flatnonzero(np.r_[psi[:-1] > 1e-8 * psi[-1], True])
    h = 1e-3 * psi[active]

    def dev(steps: dict[int, float]) -> float:
        q = psi.copy()
        for i, s in steps.items():
            q[active[i]] += s
        return _full_deviance(crossed, q)

    k = active.size
    f0 = dev({})
    H = np.empty((k, k))
    for i in range(k):
        H[i, i] = (dev({i: h[i]}) - 2 * f0 + dev({i: -h[i]})) / h[i] ** 2
        for j in range(i):
            H[i, j] = H[j, i] = (
                dev({i: h[i], j: h[j]})
                - dev({i: h[i], j: -h[j]})
                - dev({i: -h[i], j: h[j]})
                + dev({i: -h[i], j: -h[j]})
            ) / (4 * h[i] * h[j])
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return np.full(len(C), np.nan)
    W = 2.0 * np.linalg.inv(H)
    grads = np.empty((len(C), k))
    for i in range(k):
        up, down = psi.copy(), psi.copy()
        up[active[i]] += h[i]
        down[active[i]] -= h[i]
        s_up, s_down = _cov_at(crossed, up), _cov_at(crossed, down)
        grads[:, i] = (
            np.einsum("ij,jk,ik->i", C, s_up, C) - np.einsum("ij,jk,ik->i", C, s_down, C)
        ) / (2 * h[i])
    var = np.einsum("ij,jk,ik->i", C, _cov_at(crossed, psi), C)
    return 2.0 * var**2 / np.einsum("ij,jk,ik->i", grads, W, grads)


def fit_crossed_lmm(
    y: np.ndarray,
    X: np.ndarray,
    factors: dict[str, np.ndarray],
) -> LMMFit:
    """REML fit of ``y = X beta + sum_j Z_j u_j + e`` with independent random intercepts
    ``u_j ~ N(0, sigma_j^2)`` per level of each factor (integer codes 0..q_j-1, crossed or
    nested) and ``e ~ N(0, sigma^2)``. The relative SDs ``theta_j = sigma_j / sigma`` are
    optimised (SLSQP, bounded at 0: as accurate as L-BFGS-B here and three times faster);
    beta and sigma are profiled out."""
    y = np.asarray(y, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if not np.isfinite(y).all():
        raise ValueError("ratings must be finite numbers")
    names = list(factors)
    codes = [np.unique(np.asarray(factors[k]), return_inverse=True)[1] for k in names]
    crossed = _Crossed(y, X, codes)
    m = len(names)
    best = optimize.minimize(crossed.deviance, np.ones(m), method="SLSQP", bounds=[(0.0, None)] * m)
    theta = np.asarray(best.x, dtype=np.float64)
    _, beta, xvx, r2 = crossed.solve(theta)
    sigma2 = r2 / (crossed.n - crossed.p)
    if not (np.isfinite(beta).all() and np.isfinite(sigma2) and sigma2 > 0):
        raise ValueError("the REML fit gave no finite estimates (no residual variation?)")
    variances = np.r_[theta**2 * sigma2, sigma2]
    return LMMFit(
        beta=beta,
        cov_beta=sigma2 * np.linalg.inv(xvx),
        sd_random={k: float(theta[i] * np.sqrt(sigma2)) for i, k in enumerate(names)},
        sd_residual=float(np.sqrt(sigma2)),
        reml_deviance=float(best.fun),
        converged=bool(best.success),
        n_obs=int(y.size),
        crossed=crossed,
        variances=variances,
    )


def _indicator(values: pd.Series, systems: Sequence[str]) -> np.ndarray:
    """Cell-means coding: one column per system (no intercept), so a contrast of systems a
    and b is beta_a - beta_b."""
    return (values.to_numpy()[:, None] == np.asarray(systems, dtype=object)[None, :]).astype(
        np.float64
    )


def slider_model(frame: pd.DataFrame, systems: Sequence[str]) -> LMMFit:
    """The slider model on one dimension's judgments (columns annotator, context, system,
    value): cell-means fixed effects, random intercepts for annotator, context and item."""
    X = _indicator(frame["system"], systems)
    item = frame["context"].astype(str) + "\x1f" + frame["system"].astype(str)
    return fit_crossed_lmm(
        frame["value"].to_numpy(np.float64),
        X,
        {
            "annotator": frame["annotator"].astype(str).to_numpy(),
            "context": frame["context"].astype(str).to_numpy(),
            "item": item.to_numpy(),
        },
    )


def _ordinal_fit(frame: pd.DataFrame, systems: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative-logit coefficients (0 for the first system) and their clustered covariance."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    X = _indicator(frame["system"], systems)[:, 1:]
    levels = np.sort(frame["value"].unique())
    y = pd.Categorical(frame["value"], categories=levels, ordered=True)
    model = OrderedModel(y, X, distr="logit")
    groups = pd.factorize(frame["context"].astype(str))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(
            method="bfgs",
            disp=False,
            maxiter=500,
            cov_type="cluster",
            cov_kwds={"groups": groups},
        )
    k = X.shape[1]
    beta = np.concatenate([[0.0], np.asarray(res.params)[:k]])
    cov = np.zeros((k + 1, k + 1))
    cov[1:, 1:] = np.asarray(res.cov_params())[:k, :k]
    return beta, cov


def _gee_fit(frame: pd.DataFrame, systems: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Logistic GEE (exchangeable within context) coefficients per system, robust covariance."""
    import statsmodels.api as sm

    X = _indicator(frame["system"], systems)
    groups = pd.factorize(frame["context"].astype(str))[0]
    order = np.argsort(groups, kind="stable")
    model = sm.GEE(
        frame["value"].to_numpy(np.float64)[order],
        X[order],
        groups=groups[order],
        family=sm.families.Binomial(),
        cov_struct=sm.cov_struct.Exchangeable(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(maxiter=200)
    return np.asarray(res.params), np.asarray(res.cov_params())


def _p_value(z: float, alternative: str, df: float = np.inf) -> float:
    """p of a z (df = inf) or t statistic."""
    dist = sps.norm if not np.isfinite(df) else sps.t(df)
    if alternative == "greater":
        return float(dist.sf(z))
    if alternative == "less":
        return float(dist.cdf(z))
    return float(2.0 * dist.sf(abs(z)))


def _pairs(n: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def _contrast_matrix(n: int) -> np.ndarray:
    C = np.zeros((len(_pairs(n)), n))
    for row, (i, j) in enumerate(_pairs(n)):
        C[row, i], C[row, j] = 1.0, -1.0
    return C


def _contrast_rows(
    dim: dict,
    systems: Sequence[str],
    beta: np.ndarray,
    cov: np.ndarray,
    options: AnalysisOptions,
    base: dict,
    dfs: np.ndarray | None = None,
) -> list[dict]:
    """One row per pair; ``dfs`` (one per pair, in ``_pairs`` order) makes the test a t test
    with those degrees of freedom, else (or where NaN) a z test."""
    rows = []
    for row, (i, j) in enumerate(_pairs(len(systems))):
        c = np.zeros(len(systems))
        c[i], c[j] = 1.0, -1.0
        est = float(c @ beta)
        se = float(np.sqrt(max(c @ cov @ c, 0.0)))
        stat = est / se if se > 0 else np.nan
        df = float(dfs[row]) if dfs is not None and np.isfinite(dfs[row]) else np.inf
        q = 0.5 + options.confidence / 2.0
        crit = float(sps.norm.ppf(q) if not np.isfinite(df) else sps.t.ppf(q, df))
        rows.append(
            {
                **base,
                "dimension": dim["key"],
                "system_a": systems[i],
                "system_b": systems[j],
                "alternative": options.alternative,
                "estimate": est,
                "se": se,
                "statistic": stat,
                "df": df if np.isfinite(df) else np.nan,
                "p_value": _p_value(stat, options.alternative, df) if se > 0 else np.nan,
                "ci_low": est - crit * se,
                "ci_high": est + crit * se,
            }
        )
    return rows


def _dimension_rows(
    data: pd.DataFrame, dim: dict, systems: Sequence[str], options: AnalysisOptions
) -> list[dict]:
    kind = dim["type"]
    present = [s for s in systems if (data["system"] == s).any()]
    base = {
        "model": MODEL_LABELS[kind],
        "scale": ESTIMATE_SCALES[kind],
        "n_judgments": int(len(data)),
        "n_annotators": int(data["annotator"].nunique()),
        "n_contexts": int(data["context"].nunique()),
        "sd_annotator": np.nan,
        "sd_context": np.nan,
        "sd_item": np.nan,
        "sd_residual": np.nan,
        "note": "",
    }
    if len(present) < 2 or data["value"].nunique() < 2:
        return []
    dfs = None
    try:
        if kind == "slider":
            fit = slider_model(data, present)
            beta, cov = fit.beta, fit.cov_beta
            base.update(
                {f"sd_{k}": v for k, v in fit.sd_random.items()}, sd_residual=fit.sd_residual
            )
            dfs = fit.satterthwaite_df(_contrast_matrix(len(present)))
            notes = []
            if not fit.converged:
                notes.append("REML optimiser did not report convergence")
            if not np.isfinite(dfs).all():
                notes.append("no Satterthwaite df (REML Hessian not positive definite): z test")
            base["note"] = "; ".join(notes)
        elif kind == "likert":
            beta, cov = _ordinal_fit(data, present)
        else:
            beta, cov = _gee_fit(data, present)
    except (np.linalg.LinAlgError, ValueError, RuntimeError) as exc:
        base["note"] = f"model could not be fitted: {exc}"
        beta = np.full(len(present), np.nan)
        cov = np.full((len(present), len(present)), np.nan)
    return _contrast_rows(dim, present, beta, cov, options, base, dfs)


def mixed_model_table(
    judgments: pd.DataFrame,
    dims: Sequence[dict],
    systems: Sequence[str],
    options: AnalysisOptions,
) -> pd.DataFrame:
    """One row per dimension x pair of systems (in the order given): the model's contrast
    system_a - system_b with its CI and p-value, Holm / Bonferroni within the same
    families as the t-tests. ``judgments`` is the analysed frame (no attention checks)."""
    rows: list[dict] = []
    for dim in dims:
        if dim["type"] not in MODEL_LABELS:
            continue
        data = judgments.loc[
            (judgments["dimension"] == dim["key"]) & judgments["value"].notna(),
            ["annotator", "context", "system", "value"],
        ]
        rows += _dimension_rows(data, dim, systems, options)
    frame = pd.DataFrame(rows).reindex(columns=MIXED_COLUMNS)
    if not rows:
        return frame
    correct_p_values(frame, "p_value", "p_holm", "p_bonferroni", options, [])
    return frame


def mixed_methods(table: pd.DataFrame, options: AnalysisOptions) -> list[str]:
    """The methods sentences for the mixed-model table."""
    if table.empty:
        return []
    out = []
    kinds = {label: kind for kind, label in MODEL_LABELS.items()}
    for label in dict.fromkeys(table["model"]):
        kind = kinds.get(label, "")
        reference = (
            "the t distribution with Satterthwaite degrees of freedom (variance components' "
            "covariance from the REML Hessian, by central differences)"
            if kind == "slider"
            else "the normal distribution (Wald z)"
        )
        out.append(
            f"Model-based comparisons ({kind} dimensions): {label}; estimates in "
            f"{ESTIMATE_SCALES.get(kind, '')}, {confidence_level(options.confidence)} intervals and "
            f"{options.alternative} p-values from {reference}, Holm and Bonferroni within "
            "the same families as the t-tests; fitted on the raw ratings (annotator "
            "differences enter the model instead of z-scores)."
        )
    return out
