"""Empirical-Bayes (Fay-Herriot) shrinkage of perception toward the city mean of the band.

A zone's raw mean from 6 respondents is noisy; the city mean of the same band and month is
stable but says nothing about the zone. The Fay-Herriot model weighs the two by their
precision: shrunk = gamma * raw + (1 - gamma) * city mean, with gamma = A / (A + D), where
D is the raw mean's sampling variance and A the variance of true zone means around the
city mean. Zones with many respondents keep their own value (gamma near 1); zones with
few are pulled toward the city.

A is estimated by *adjusted* residual maximum likelihood (Yoshimori and Lahiri 2014 by
default, Li and Lahiri 2010 as an option): the residual likelihood times an adjustment
factor that is zero at A = 0, so the estimate is always positive. The moment or plain
REML estimators are truncated at zero whenever the zones' spread looks no larger than
sampling noise, and a zero A declares every zone identical to the city with a narrow
interval: the collapse this module exists to prevent. The mean squared error carries the
g3 term for the estimation of A (Datta and Lahiri 2000: g1 + g2 + 2 g3). Details:
docs/methodology.md, "Small samples".

No maintained Python library implements adjusted-likelihood Fay-Herriot estimators
(samplics and statsmodels fit ML/REML only, truncated at zero), hence this module; the
tests check the optimiser against scipy's on the same likelihood.

Arrays have zones on the last axis; every leading axis is a separate group (band, period).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

#: A group needs this many zones with data to estimate A; fewer -> no shrinkage.
MIN_ZONES = 3
Estimator = Literal["yoshimori_lahiri", "li_lahiri"]
#: Grid of A / scale (log-spaced) searched before a golden-section refinement.
_GRID = np.logspace(-5.0, 3.0, 161)
_GOLDEN_STEPS = 40


@dataclass(frozen=True)
class FayHerriot:
    """The fitted model of each group and the shrunk estimate of each cell."""

    mean: np.ndarray  # (groups,) precision-weighted city mean
    mean_var: np.ndarray  # (groups,) its variance
    between_var: np.ndarray  # (groups,) A
    gamma: np.ndarray  # (groups, zones) weight on the zone's own mean
    shrunk: np.ndarray  # (groups, zones)
    mse: np.ndarray  # (groups, zones) g1 + g2 + 2 g3 (Datta-Lahiri)
    target: np.ndarray | None = None  # (groups, zones) what each cell is shrunk toward
    target_var: np.ndarray | None = None  # (groups, zones) its variance x' Cov(beta) x


def sampling_variance(
    within_var: np.ndarray,
    n_effective: np.ndarray,
    prior_df: float = 4.0,
    design_effect: np.ndarray | float = 1.0,
    pool_from: np.ndarray | None = None,
) -> np.ndarray:
    """Sampling variance D of each raw mean: the zone's own variance, floored for small cells.

    D = deff * s~^2 / n_eff, where s~^2 is the cell's own within-cell variance moderated
    toward the variance pooled over the zones of its band-month, with `prior_df` degrees
    of freedom: s~^2 = (df s^2 + prior_df s_pooled^2) / (df + prior_df), df = n_eff - 1.
    Large cells keep their own spread; a cell of three people cannot claim a tiny
    variance because its answers happened to agree. Cells without a variance of their
    own (one respondent, pre-aggregated rows) take the pooled one; groups with no cell of
    2+ respondents borrow the variance pooled over all groups.

    Args:
        within_var: within-cell variance of the answers (groups, zones), NaN if none.
        n_effective: Kish effective sample size of each cell.
        prior_df: weight of the pooled variance, in degrees of freedom (0: own only).
        design_effect: design effect of each cell or group (1 for simple random samples).
        pool_from: the cells whose spread informs the pooled variance (default: all).
            Withheld cells are left out: their answers' spread would otherwise move the
            sampling variances, and so the shrinkage, of published cells.
    """
    own = ~np.isnan(within_var)
    dof = np.where(own, np.maximum(n_effective - 1.0, 0.0), 0.0)
    ss = np.where(dof > 0, np.nan_to_num(within_var) * dof, 0.0)
    informs = np.ones(ss.shape, dtype=bool) if pool_from is None else pool_from
    ss_pool, dof_pool = np.where(informs, ss, 0.0), np.where(informs, dof, 0.0)
    ss_group = ss_pool.sum(axis=-1, keepdims=True)
    dof_group = dof_pool.sum(axis=-1, keepdims=True)
    overall = ss_pool.sum() / dof_pool.sum() if dof_pool.sum() > 0 else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.where(dof_group > 0, ss_group / dof_group, overall)
        moderated = np.where(
            dof > 0, (ss + prior_df * pooled) / (dof + prior_df), np.broadcast_to(pooled, ss.shape)
        )
        return np.where(n_effective > 0, design_effect * moderated / n_effective, np.nan)


def fay_herriot(
    direct: np.ndarray,
    variance: np.ndarray,
    estimator: Estimator = "yoshimori_lahiri",
    *,
    pool: np.ndarray | None = None,
    design: np.ndarray | None = None,
    fit: np.ndarray | None = None,
) -> FayHerriot:
    """Fit the Fay-Herriot model (intercept only) per group and shrink each cell.

    Args:
        direct: raw means (groups, zones), NaN where a zone has no respondents.
        variance: their sampling variances D (same shape).
        estimator: the adjusted-likelihood estimator of the between-zone variance A.
        pool: optional (T, T) matrix over the second-last axis (months) of a (B, T, Z)
            input: 1 where month s's zones also inform month t's A. A is then estimated
            from the pooled likelihood of those months, each keeping its own city mean
            (borrowing strength across months when a city has few zones).
        design: optional covariates (groups, zones, p), first column the intercept; cells
            are then shrunk toward the regression x' beta instead of the mean. None: the
            intercept alone.
        fit: the cells that inform the fit (A, the mean or beta); default every cell with
            a raw mean. The others are shrunk with it but do not shape it: withheld cells,
            so that no published figure depends on what their respondents answered.

    Returns:
        The fitted model; cells without a raw mean are NaN; groups with fewer than
        MIN_ZONES zones are not shrunk (gamma 1, A NaN).
    """
    d = np.asarray(direct, dtype=float)
    var = np.asarray(variance, dtype=float)
    valid = ~np.isnan(d) & ~np.isnan(var) & (var > 0)
    if fit is not None:
        valid &= np.asarray(fit, dtype=bool)
    x = np.ones((*d.shape, 1)) if design is None else np.asarray(design, dtype=float)
    m = valid.sum(axis=-1)
    fitted = m >= MIN_ZONES + x.shape[-1] - 1
    if pool is None:
        between = np.where(fitted, _adjusted_reml(d, var, valid, estimator, x), 0.0)
    else:
        between = np.where(fitted, _pooled_reml(d, var, valid, estimator, pool, x=x), 0.0)
    w = np.where(valid, 1.0 / (between[..., None] + np.where(valid, var, 1.0)), 0.0)
    mean = np.where(fitted, _mean(d, valid, w), _mean(d, valid, np.ones_like(d)))
    beta, cov = _regression(w, d, valid, x)
    target = np.einsum("...zp,...p->...z", x, beta)
    target_var = np.einsum("...zp,...pq,...zq->...z", x, cov, x)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_var = np.where(fitted, 1.0 / w.sum(axis=-1), np.nan)
        gamma = between[..., None] / (between[..., None] + var)
        info = (w**2).sum(axis=-1)
        if pool is not None:  # the information of every month in the window
            parts = _expanded_parts(between[..., None], d, var, valid, x)
            info = _pooled(pool, parts[2])[..., 0]
        var_a = 2.0 / info  # inverse information of the residual likelihood
    gamma = np.where(fitted[..., None], np.nan_to_num(gamma, nan=1.0), 1.0)
    gamma = np.where(np.isnan(d), np.nan, gamma)
    a = between[..., None]
    g1 = gamma * var
    g2 = (1.0 - gamma) ** 2 * target_var
    g3 = var**2 / (a + var) ** 3 * var_a[..., None]
    # Datta-Lahiri's g1 + g2 + 2 g3. The adjusted estimators' own second-order correction
    # subtracts bias(A) x dg1/dA; near A = 0 that removes more than g3 adds (the MSE would
    # fall below g1 + g2 of a known A), so it is left out: the estimate is conservative.
    mse = np.where(fitted[..., None], g1 + g2 + 2.0 * g3, var)
    shrunk = np.where(fitted[..., None], gamma * d + (1.0 - gamma) * target, d)
    return FayHerriot(
        mean,
        mean_var,
        np.where(fitted, between, np.nan),
        gamma,
        shrunk,
        mse,
        np.where(fitted[..., None], target, np.nan),
        np.where(fitted[..., None], target_var, np.nan),
    )


#: Added to X' W X so that groups without data (or a covariate constant over zones) solve.
_RIDGE = 1e-9


def _regression(
    w: np.ndarray, d: np.ndarray, valid: np.ndarray, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares per group: beta (..., p) and its covariance (X' W X)^-1."""
    xx = np.where(valid[..., None], x, 0.0)
    xtwx = np.einsum("...z,...zp,...zq->...pq", w, xx, xx) + _RIDGE * np.eye(x.shape[-1])
    xtwd = np.einsum("...z,...zp,...z->...p", w, xx, np.where(valid, d, 0.0))
    cov = np.linalg.inv(xtwx)
    return np.einsum("...pq,...q->...p", cov, xtwd), cov


def adjusted_log_likelihood(
    between: np.ndarray,
    d: np.ndarray,
    var: np.ndarray,
    valid: np.ndarray,
    estimator: Estimator,
    *,
    x: np.ndarray | None = None,
) -> np.ndarray:
    """Residual log-likelihood of A plus the log adjustment factor, per group.

    Args:
        between: candidate values of A, shape (groups, k).
        d, var, valid: raw means, their variances and which are usable, (groups, zones).
        estimator: which adjustment: Yoshimori-Lahiri h(A) = atan(tr(I - B))^(1/m), or
            Li-Lahiri h(A) = A.
        x: covariates (groups, zones, p); None for the intercept alone.

    Returns:
        (groups, k) values; -inf at A = 0 (the adjustment vanishes there).
    """
    x = np.ones((*d.shape, 1)) if x is None else x
    loglik, trace, _ = _parts(between, d, var, valid, x)
    return _adjust(loglik, trace, valid.sum(axis=-1)[..., None], between, estimator)


def _parts(
    between: np.ndarray, d: np.ndarray, var: np.ndarray, valid: np.ndarray, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At candidates A (groups, k): the residual log-likelihood, tr(I - B) = sum A / (A + D)
    and the information sum 1 / (A + D)^2, per group and candidate.

    The residual likelihood of the regression d = X beta + u + e:
    -1/2 [sum log(A + D) + log det(X' W X) + sum w (d - X beta_A)^2], W = diag(1 / (A + D)).
    """
    a = between[..., None]
    dd, vv, ok = d[..., None, :], var[..., None, :], valid[..., None, :]
    xx = np.where(ok[..., None], x[..., None, :, :], 0.0)  # (..., k, zones, p)
    w = np.where(ok, 1.0 / (a + np.where(ok, vv, 1.0)), 0.0)
    xtwx = np.einsum("...z,...zp,...zq->...pq", w, xx, xx) + _RIDGE * np.eye(x.shape[-1])
    xtwd = np.einsum("...z,...zp,...z->...p", w, xx, np.where(ok, dd, 0.0))
    beta = np.linalg.solve(xtwx, xtwd[..., None])[..., 0]
    resid = np.where(ok, dd - np.einsum("...zp,...p->...z", xx, beta), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        loglik = 0.5 * (np.log(np.where(ok, w, 1.0)).sum(axis=-1) - np.linalg.slogdet(xtwx)[1])
    loglik -= 0.5 * (w * resid**2).sum(axis=-1)
    has = ok.any(axis=-1)
    return np.where(has, loglik, 0.0), (a * w).sum(axis=-1), (w**2).sum(axis=-1)


def _adjust(
    loglik: np.ndarray, trace: np.ndarray, m: np.ndarray, a: np.ndarray, estimator: Estimator
) -> np.ndarray:
    with np.errstate(divide="ignore"):
        if estimator == "li_lahiri":
            return loglik + np.log(a)
        return loglik + np.log(np.arctan(trace)) / np.maximum(m, 1)


def _pooled(pool: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sum (B, S, T, k) values of months s over each target month t's window -> (B, T, k)."""
    return np.einsum("ts,bstk->btk", pool, values)


def _expanded_parts(
    candidates: np.ndarray, d: np.ndarray, var: np.ndarray, valid: np.ndarray, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every month s's parts at every target month t's candidates: (B, S, T, k) each."""
    b, t, k = candidates.shape
    z = d.shape[-1]
    shape = (b, t, t, z)
    return _parts(
        np.broadcast_to(candidates[:, None, :, :], (b, t, t, k)),
        np.broadcast_to(d[:, :, None, :], shape),
        np.broadcast_to(var[:, :, None, :], shape),
        np.broadcast_to(valid[:, :, None, :], shape),
        np.broadcast_to(x[:, :, None, :, :], (*shape, x.shape[-1])),
    )


def _pooled_reml(
    d: np.ndarray,
    var: np.ndarray,
    valid: np.ndarray,
    estimator: Estimator,
    pool: np.ndarray,
    *,
    x: np.ndarray,
) -> np.ndarray:
    """A per (band, month) from the adjusted likelihood pooled over each month's window."""
    if d.size == 0:
        return np.zeros(d.shape[:-1])
    m = np.einsum("ts,bs->bt", pool, valid.sum(axis=-1))[..., None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanvar(np.where(valid, d, np.nan), axis=-1)
        typical = np.nanmean(np.where(valid, var, np.nan), axis=-1)
        scale = np.nan_to_num(np.nanmax(np.fmax(spread, typical), axis=-1), nan=1.0) + 1e-9
    grid = np.broadcast_to(scale[:, None, None] * _GRID, (*d.shape[:2], len(_GRID)))
    loglik, trace, _ = _parts(grid, d, var, valid, x)  # (B, T, K), one grid per band
    values = _adjust(
        np.einsum("ts,bsk->btk", pool, loglik),
        np.einsum("ts,bsk->btk", pool, trace),
        m,
        grid,
        estimator,
    )
    best = np.nanargmax(np.where(np.isnan(values), -np.inf, values), axis=-1)
    lo = np.log(np.take_along_axis(grid, np.maximum(best - 1, 0)[..., None], -1)[..., 0])
    hi = np.log(
        np.take_along_axis(grid, np.minimum(best + 1, len(_GRID) - 1)[..., None], -1)[..., 0]
    )
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(_GOLDEN_STEPS):
        x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        cand = np.exp(np.stack([x1, x2], -1))
        ll, tr, _ = _expanded_parts(cand, d, var, valid, x)
        f = _adjust(_pooled(pool, ll), _pooled(pool, tr), m, cand, estimator)
        left = f[..., 0] >= f[..., 1]
        lo, hi = np.where(left, lo, x1), np.where(left, x2, hi)
    return np.exp((lo + hi) / 2.0)


def _adjusted_reml(
    d: np.ndarray, var: np.ndarray, valid: np.ndarray, estimator: Estimator, x: np.ndarray
) -> np.ndarray:
    """Maximise the adjusted likelihood per group: a log grid, then golden sections."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # groups without data: NaN
        spread = np.nanvar(np.where(valid, d, np.nan), axis=-1)
        typical = np.nanmean(np.where(valid, var, np.nan), axis=-1)
    scale = np.nan_to_num(np.maximum(spread, typical), nan=1.0) + 1e-9
    grid = scale[..., None] * _GRID
    values = adjusted_log_likelihood(grid, d, var, valid, estimator, x=x)
    best = np.nanargmax(np.where(np.isnan(values), -np.inf, values), axis=-1)
    lo = np.log(np.take_along_axis(grid, np.maximum(best - 1, 0)[..., None], -1)[..., 0])
    hi = np.log(
        np.take_along_axis(grid, np.minimum(best + 1, len(_GRID) - 1)[..., None], -1)[..., 0]
    )
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(_GOLDEN_STEPS):
        x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        f = adjusted_log_likelihood(np.exp(np.stack([x1, x2], -1)), d, var, valid, estimator, x=x)
        left = f[..., 0] >= f[..., 1]
        lo, hi = np.where(left, lo, x1), np.where(left, x2, hi)
    return np.exp((lo + hi) / 2.0)


def _mean(d: np.ndarray, valid: np.ndarray, w: np.ndarray) -> np.ndarray:
    wv = np.where(valid, w, 0.0)
    total = wv.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (wv * np.where(valid, d, 0.0)).sum(axis=-1) / total, np.nan)


def no_shrinkage(direct: np.ndarray, variance: np.ndarray) -> FayHerriot:
    """The raw means unchanged (`shrinkage = "none"`), in the same shape as a fit."""
    d = np.asarray(direct, dtype=float)
    valid = ~np.isnan(d)
    mean = _mean(d, valid, np.ones_like(d))
    nan = np.full(mean.shape, np.nan)
    return FayHerriot(
        mean, nan, nan, np.where(valid, 1.0, np.nan), d, np.asarray(variance, dtype=float)
    )
