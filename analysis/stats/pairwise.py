"""Pairwise-preference statistics: win/tie/loss, Bradley–Terry strengths, preference tests.

Preferences are coded +1 (A preferred), -1 (B preferred), 0 (tie); labels "a"/"b"/"tie"
are accepted everywhere (see :func:`analysis.stats.significance.preference_scores`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ._base import (
    SeedLike,
    StatResult,
    make_rng,
    seed_label,
)
from .significance import (
    preference_scores,
)

__all__ = [
    "WinTieLossResult",
    "BradleyTerryResult",
    "win_tie_loss",
    "bradley_terry",
    "bt_wins_matrix",
]


@dataclasses.dataclass(frozen=True, eq=False)
class WinTieLossResult(StatResult):
    """Counts and shares of A wins / ties / B wins.

    ``share_*`` are over all ``n`` non-missing judgments (ties included, as in the
    ProsocialDialog tables); ``share_a_excl_ties = wins_a / (wins_a + wins_b)``.
    """

    wins_a: int
    ties: int
    wins_b: int
    n: int
    share_a: float
    share_tie: float
    share_b: float
    share_a_excl_ties: float
    method: str


def win_tie_loss(
    choices: ArrayLike | Sequence[object],
    *,
    a: object = "a",
    b: object = "b",
    tie: object = "tie",
) -> WinTieLossResult:
    """Win / tie / loss counts for system A against B.

    ``choices``: labels (``a``/``b``/``tie``, customisable) or signed numbers (+1/0/-1).
    Missing values (None/NaN) are dropped. Shares = count / n with n including ties;
    with n = 0 every share is NaN.
    """
    s = preference_scores(choices, a=a, b=b, tie=tie)
    s = s[~np.isnan(s)]
    wa, wt, wb = int((s > 0).sum()), int((s == 0).sum()), int((s < 0).sum())
    n = wa + wt + wb

    def share(c: int, d: int) -> float:
        return c / d if d else math.nan

    return WinTieLossResult(
        wins_a=wa,
        ties=wt,
        wins_b=wb,
        n=n,
        share_a=share(wa, n),
        share_tie=share(wt, n),
        share_b=share(wb, n),
        share_a_excl_ties=share(wa, wa + wb),
        method="win/tie/loss counts; shares over all judgments, ties explicit",
    )


# --------------------------------------------------------------------------------------
# Bradley–Terry
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class BradleyTerryResult(StatResult):
    """Bradley–Terry strengths, one entry per system (arrays in ``systems`` order).

    ``strength = exp(log_strength)`` with ``sum(log_strength) = 0`` (geometric mean 1), or
    log-strength 0 for ``reference`` when one is given, so
    ``P(i beats j) = strength_i / (strength_i + strength_j)``. Intervals are bootstrap
    percentile intervals of the strengths (``log_ci_*`` on the log scale; the same
    quantiles). ``n_degenerate``: resamples whose comparison graph was not strongly
    connected (no finite MLE); they are left out of the intervals.

    ``se``: standard errors of the log-strengths from the Fisher information of the model
    as a logistic GLM (``logit P(i beats j) = log p_i - log p_j``), under the same
    normalisation (0 for the reference). ``deviance``: ``2 sum w log(w / fitted)`` over
    ordered pairs with comparisons (ties as half wins), on ``df_residual`` = pairs compared
    - (systems - 1) degrees of freedom.
    """

    systems: tuple[object, ...]
    strength: np.ndarray
    log_strength: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    log_ci_low: np.ndarray
    log_ci_high: np.ndarray
    wins: np.ndarray
    n_comparisons: int
    n_resamples: int
    n_degenerate: int
    confidence: float
    iterations: int
    converged: bool
    seed: int | None
    method: str
    se: np.ndarray
    deviance: float
    df_residual: int
    reference: object | None = None

    def to_frame(self) -> pd.DataFrame:
        """One row per system: strength, log_strength, intervals, total wins."""
        return pd.DataFrame(
            {
                "system": list(self.systems),
                "strength": self.strength,
                "log_strength": self.log_strength,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "log_ci_low": self.log_ci_low,
                "log_ci_high": self.log_ci_high,
                "wins": self.wins.sum(axis=1),
                "se": self.se,
            }
        )

    def win_probability(self, i: object, j: object) -> float:
        """Model probability that system ``i`` beats system ``j``."""
        ii, jj = self.systems.index(i), self.systems.index(j)
        return float(self.strength[ii] / (self.strength[ii] + self.strength[jj]))


def bt_wins_matrix(
    comparisons: Sequence[tuple[object, object]],
    ties: Sequence[tuple[object, object]] = (),
    systems: Sequence[object] | None = None,
) -> tuple[np.ndarray, tuple[object, ...]]:
    """Wins matrix ``W[i, j]`` = times i beat j, each tie adding 1/2 to both W[i, j] and
    W[j, i]. Returns ``(W, systems)``; systems default to the sorted set of names."""
    names = (
        tuple(systems)
        if systems is not None
        else tuple(sorted({s for pair in [*comparisons, *ties] for s in pair}, key=str))
    )
    pos = {s: i for i, s in enumerate(names)}
    w = np.zeros((len(names), len(names)))
    for winner, loser in comparisons:
        w[pos[winner], pos[loser]] += 1.0
    for x, y in ties:
        w[pos[x], pos[y]] += 0.5
        w[pos[y], pos[x]] += 0.5
    return w, names


def _units_from_matrix(
    w: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Resampling units (i, j, weight, is_tie) from a wins matrix: floor(w_ij) whole wins
    plus one half-win unit for a fractional .5 part."""
    whole = np.floor(w + 1e-9)
    frac = w - whole
    if np.any((np.abs(frac) > 1e-9) & (np.abs(frac - 0.5) > 1e-9)):
        raise ValueError("wins must be whole numbers or halves")
    ii, jj = np.nonzero(whole)
    reps = whole[ii, jj].astype(np.intp)
    hi, hj = np.nonzero(np.abs(frac - 0.5) <= 1e-9)
    ui = np.r_[np.repeat(ii, reps), hi]
    uj = np.r_[np.repeat(jj, reps), hj]
    uw = np.r_[np.ones(int(reps.sum())), np.full(hi.size, 0.5)]
    return ui.astype(np.intp), uj.astype(np.intp), uw, np.zeros(ui.size, dtype=bool)


def _strongly_connected(w: np.ndarray) -> np.ndarray:
    """For a (B, K, K) stack of wins matrices: is the directed graph i->j (i beat j)
    strongly connected? (Ford's condition for a finite BT MLE.) Boolean closure by
    repeated squaring, vectorised over B."""
    k = w.shape[-1]
    reach = (w > 0) | np.eye(k, dtype=bool)
    for _ in range(max(1, math.ceil(math.log2(max(k, 2))))):
        reach = (reach.astype(np.float32) @ reach.astype(np.float32)) > 0
    return cast(np.ndarray, reach.all(axis=(-2, -1)))


def _bt_mm(w: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, int, np.ndarray]:
    """Hunter (2004) MM iterations on a (B, K, K) stack of wins matrices.

    ``p_i <- W_i / sum_{j != i} N_ij / (p_i + p_j)``, ``W_i = sum_j w_ij``,
    ``N_ij = w_ij + w_ji``; after each step log p is centred (sum 0). Stops when the largest
    change of log p is below ``tol`` for every matrix. Returns (log p, iterations,
    converged per matrix).
    """
    b, k, _ = w.shape
    n_pair = w + np.swapaxes(w, 1, 2)
    wins = w.sum(axis=2)
    logp = np.zeros((b, k))
    converged = np.zeros(b, dtype=bool)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - iteration count is returned
        p = np.exp(logp)
        denom = (n_pair / (p[:, :, None] + p[:, None, :])).sum(axis=2)
        with np.errstate(divide="ignore"):
            new = np.log(wins) - np.log(denom)
        new -= new.mean(axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):
            delta = np.abs(new - logp).max(axis=1)
        logp = new
        converged = delta < tol
        if converged.all():
            break
    return logp, it, converged


def _bt_glm(w: np.ndarray, logp: np.ndarray, ref: int | None) -> tuple[np.ndarray, float, int]:
    """SEs of the log-strengths (normalised like ``logp``: sum 0, or 0 at ``ref``), the
    deviance and its residual df, from the model as a logistic GLM on the pair counts."""
    k = w.shape[0]
    n_pair = w + w.T
    p = np.exp(logp)
    prob = p[:, None] / (p[:, None] + p[None, :])  # P(i beats j)
    # Fisher information: the Laplacian of the weights n_ij p_ij (1 - p_ij), i < j
    weight = np.triu(n_pair * prob * (1.0 - prob), 1)
    weight = weight + weight.T
    info = np.diag(weight.sum(axis=1)) - weight
    if ref is None:
        cov = np.linalg.pinv(info)  # the covariance of the sum-to-zero parametrisation
    else:
        keep = np.arange(k) != ref
        cov = np.zeros((k, k))
        cov[np.ix_(keep, keep)] = np.linalg.inv(info[np.ix_(keep, keep)])
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    fitted = n_pair * prob
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(w > 0, w * np.log(w / fitted), 0.0)
    np.fill_diagonal(terms, 0.0)
    pairs = int(np.count_nonzero(np.triu(n_pair, 1)))
    return se, float(2.0 * terms.sum()), pairs - (k - 1)


def bradley_terry(
    comparisons: Sequence[tuple[object, object]] | ArrayLike | None = None,
    *,
    wins: ArrayLike | None = None,
    ties: Sequence[tuple[object, object]] = (),
    systems: Sequence[object] | None = None,
    reference: object | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: SeedLike = None,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> BradleyTerryResult:
    """Bradley–Terry maximum-likelihood strengths with bootstrap intervals.

    Model: ``P(i beats j) = pi_i / (pi_i + pi_j)``. Input either ``comparisons`` as
    ``(winner, loser)`` pairs plus optional ``ties`` as ``(x, y)`` pairs, or a wins matrix
    ``wins[i, j]`` (then ``systems`` names the rows). A tie counts as half a win for each
    side. Fitted with the MM algorithm of Hunter (2004), normalised so that the
    log-strengths sum to 0 (geometric mean of strengths = 1).

    The MLE exists iff the "beats" graph is strongly connected (Ford 1957); otherwise a
    ValueError is raised. Intervals: ``n_resamples`` bootstrap resamples of the individual
    comparisons (ties included), percentile interval at ``confidence``. Resampling n
    comparisons with replacement is drawn as multinomial counts of each distinct kind of
    comparison (identical in distribution to an index matrix, much cheaper), and all
    resamples are fitted simultaneously (MM vectorised over resamples). With a wins matrix, ties cannot be told apart from wins, so
    each whole win is one resampling unit and a leftover half win is a unit of its own.
    ``n_resamples=0`` skips the bootstrap (NaN intervals). ``reference``: a system whose
    log-strength is fixed at 0 instead of the sum-to-zero normalisation (the intervals then
    describe log-strength differences from it). Standard errors and the deviance: see
    :class:`BradleyTerryResult`.
    """
    if wins is not None:
        w = np.asarray(wins, dtype=np.float64)
        if w.ndim != 2 or w.shape[0] != w.shape[1]:
            raise ValueError("wins must be a square matrix")
        names = tuple(systems) if systems is not None else tuple(range(w.shape[0]))
        if len(names) != w.shape[0]:
            raise ValueError("systems must name every row of wins")
        w = w.copy()
        np.fill_diagonal(w, 0.0)
        units = _units_from_matrix(w)
    else:
        if comparisons is None:
            raise ValueError("pass comparisons or wins")
        # Not a wins matrix: comparisons are (winner, loser) pairs, whatever holds them.
        pairs = cast(
            list[tuple[object, object]],
            [tuple(c) for c in cast(Iterable[Iterable[object]], comparisons)],
        )
        tie_pairs = cast(list[tuple[object, object]], [tuple(t) for t in ties])
        w, names = bt_wins_matrix(pairs, tie_pairs, systems)
        np.fill_diagonal(w, 0.0)
        pos = {s: i for i, s in enumerate(names)}
        ui = np.array([pos[x] for x, _ in pairs] + [pos[x] for x, _ in tie_pairs], dtype=np.intp)
        uj = np.array([pos[y] for _, y in pairs] + [pos[y] for _, y in tie_pairs], dtype=np.intp)
        uw = np.r_[np.ones(len(pairs)), np.full(len(tie_pairs), 0.5)]
        ut = np.r_[np.zeros(len(pairs), dtype=bool), np.ones(len(tie_pairs), dtype=bool)]
        keep = ui != uj
        units = (ui[keep], uj[keep], uw[keep], ut[keep])
    k = w.shape[0]
    if k < 2:
        raise ValueError("Bradley–Terry needs at least two systems")
    if not _strongly_connected(w[None])[0]:
        raise ValueError(
            "no finite Bradley–Terry MLE: some group of systems never beat (or tied) the "
            "rest (comparison graph not strongly connected)"
        )
    if reference is not None and reference not in names:
        raise ValueError(f"reference {reference!r} is not one of the systems")
    ref = None if reference is None else names.index(reference)
    logp, iters, conv = _bt_mm(w[None], tol, max_iter)
    logp = logp[0]
    if ref is not None:
        logp = logp - logp[ref]
    se, deviance, df_resid = _bt_glm(w, logp, ref)

    src_i, src_j, src_w, src_tie = units
    n_comp = int(src_i.size)

    lo = hi = np.full(k, math.nan)
    n_degenerate = 0
    n_resamples = int(n_resamples)
    if n_resamples > 0 and n_comp > 0:
        rng = make_rng(seed)
        # Resampling n comparisons with replacement only changes how often each distinct
        # kind of comparison (i, j, weight, tie) occurs: draw those counts from the
        # multinomial directly -- the same distribution as an index matrix, but O(types).
        keys = np.stack([src_i, src_j, (src_w * 2).astype(np.intp), src_tie.astype(np.intp)])
        kinds, kind_counts = np.unique(keys, axis=1, return_counts=True)
        contrib = np.zeros((kinds.shape[1], k * k))
        t_i, t_j, t_w2, t_tie = kinds
        contrib[np.arange(kinds.shape[1]), t_i * k + t_j] += t_w2 / 2.0
        tie_rows = np.nonzero(t_tie)[0]
        contrib[tie_rows, t_j[tie_rows] * k + t_i[tie_rows]] += t_w2[tie_rows] / 2.0
        draws = rng.multinomial(n_comp, kind_counts / n_comp, size=n_resamples)
        wstack = (draws @ contrib).reshape(n_resamples, k, k)
        ok = _strongly_connected(wstack)
        n_degenerate = int((~ok).sum())
        if ok.any():
            boot, _, _ = _bt_mm(wstack[ok], tol * 100, max_iter)
            if ref is not None:
                boot = boot - boot[:, ref : ref + 1]
            alpha = (1.0 - confidence) / 2.0
            lo, hi = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
    tie_note = "ties = half a win each"
    return BradleyTerryResult(
        systems=names,
        strength=np.exp(logp),
        log_strength=logp,
        ci_low=np.exp(lo),
        ci_high=np.exp(hi),
        log_ci_low=np.asarray(lo, dtype=np.float64),
        log_ci_high=np.asarray(hi, dtype=np.float64),
        wins=w,
        n_comparisons=n_comp,
        n_resamples=n_resamples,
        n_degenerate=n_degenerate,
        confidence=confidence,
        iterations=int(iters),
        converged=bool(conv[0]),
        seed=seed_label(seed),
        method=(
            "Bradley–Terry MLE (Hunter 2004 MM), "
            + ("log-strengths sum to 0" if ref is None else f"log-strength of {reference} = 0")
            + f", {tie_note}; bootstrap percentile CI over comparisons; SE from the "
            "logistic-GLM Fisher information"
        ),
        se=se,
        deviance=deviance,
        df_residual=df_resid,
        reference=reference,
    )
