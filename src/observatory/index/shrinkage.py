"""Empirical-Bayes (Fay-Herriot) shrinkage of perception toward the city mean of the band.

A zone's raw mean from 6 respondents is noisy; the city mean of the same band and month is
stable but says nothing about the zone. The Fay-Herriot model weighs the two by their
precision: shrunk = gamma * raw + (1 - gamma) * city mean, with gamma = A / (A + D), where
D is the raw mean's sampling variance and A the variance of true zone means around the
city mean. Zones with many respondents keep their own value (gamma near 1); zones with
few are pulled toward the city. Details: docs/methodology.md, "Small samples".

Arrays have zones on the last axis; every leading axis is a separate group (band, period).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A group needs this many zones with data to estimate A; fewer -> no shrinkage.
MIN_ZONES = 3
_BISECTIONS = 60


@dataclass(frozen=True)
class FayHerriot:
    """The fitted model of each group and the shrunk estimate of each cell."""

    mean: np.ndarray  # (groups,) precision-weighted city mean
    mean_var: np.ndarray  # (groups,) its variance
    between_var: np.ndarray  # (groups,) A
    gamma: np.ndarray  # (groups, zones) weight on the zone's own mean
    shrunk: np.ndarray  # (groups, zones)
    mse: np.ndarray  # (groups, zones) g1 + g2 (Prasad-Rao), ignoring the O(1/m) g3 term


def sampling_variance(within_var: np.ndarray, n_effective: np.ndarray) -> np.ndarray:
    """Sampling variance D of each raw mean, from the within-cell variance pooled per group.

    A cell's own variance is unstable when it has few respondents (two identical answers
    give zero), so D = pooled variance of the group / Kish effective sample size. Groups
    with no cell of 2+ respondents borrow the variance pooled over all groups.
    """
    dof = np.where(np.isnan(within_var), 0.0, np.maximum(n_effective - 1.0, 0.0))
    ss = np.nansum(np.where(dof > 0, within_var * dof, 0.0), axis=-1, keepdims=True)
    dof_sum = dof.sum(axis=-1, keepdims=True)
    overall = ss.sum() / dof.sum() if dof.sum() > 0 else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.where(dof_sum > 0, ss / dof_sum, overall)
        return np.where(n_effective > 0, pooled / n_effective, np.nan)


def fay_herriot(direct: np.ndarray, variance: np.ndarray) -> FayHerriot:
    """Fit the Fay-Herriot model (intercept only) per group and shrink each cell.

    Args:
        direct: raw means (groups, zones), NaN where a zone has no respondents.
        variance: their sampling variances D (same shape).

    Returns:
        The fitted model; cells without a raw mean are NaN. A is the Fay-Herriot (1979)
        moment estimator, the root of sum((d - mu)^2 / (A + D)) = m - 1, found by bisection.
    """
    d = np.asarray(direct, dtype=float)
    var = np.asarray(variance, dtype=float)
    valid = ~np.isnan(d) & ~np.isnan(var) & (var > 0)
    m = valid.sum(axis=-1)
    spread = np.where(valid, (d - _mean(d, valid, np.ones_like(d))[..., None]) ** 2, 0.0).sum(-1)
    lo, hi = np.zeros(m.shape), 10.0 * spread + 1.0
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2.0
        too_small = _moment_gap(d, var, valid, mid, m) > 0
        lo, hi = np.where(too_small, mid, lo), np.where(too_small, hi, mid)
    between = np.where(_moment_gap(d, var, valid, np.zeros(m.shape), m) > 0, (lo + hi) / 2.0, 0.0)
    fitted = m >= MIN_ZONES
    w = np.where(valid, 1.0 / (between[..., None] + np.where(valid, var, 1.0)), 0.0)
    mean = np.where(fitted, _mean(d, valid, w), _mean(d, valid, np.ones_like(d)))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_var = np.where(fitted, 1.0 / w.sum(axis=-1), np.nan)
        gamma = between[..., None] / (between[..., None] + var)
    gamma = np.where(fitted[..., None], np.nan_to_num(gamma, nan=1.0), 1.0)
    gamma = np.where(np.isnan(d), np.nan, gamma)
    pull = np.where(gamma < 1.0, (1.0 - gamma) * mean[..., None], 0.0)
    shrunk = gamma * d + pull
    mse = gamma * var + np.where(gamma < 1.0, (1.0 - gamma) ** 2 * mean_var[..., None], 0.0)
    return FayHerriot(mean, mean_var, np.where(fitted, between, np.nan), gamma, shrunk, mse)


def _mean(d: np.ndarray, valid: np.ndarray, w: np.ndarray) -> np.ndarray:
    wv = np.where(valid, w, 0.0)
    total = wv.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (wv * np.where(valid, d, 0.0)).sum(axis=-1) / total, np.nan)


def _moment_gap(
    d: np.ndarray, var: np.ndarray, valid: np.ndarray, between: np.ndarray, m: np.ndarray
) -> np.ndarray:
    w = np.where(valid, 1.0 / (between[..., None] + np.where(valid, var, 1.0)), 0.0)
    mu = _mean(d, valid, w)
    resid = np.where(valid, d - np.nan_to_num(mu)[..., None], 0.0)
    return (w * resid**2).sum(axis=-1) - (m - 1)


def no_shrinkage(direct: np.ndarray, variance: np.ndarray) -> FayHerriot:
    """The raw means unchanged (`shrinkage = "none"`), in the same shape as a fit."""
    d = np.asarray(direct, dtype=float)
    valid = ~np.isnan(d)
    mean = _mean(d, valid, np.ones_like(d))
    nan = np.full(mean.shape, np.nan)
    return FayHerriot(
        mean, nan, nan, np.where(valid, 1.0, np.nan), d, np.asarray(variance, dtype=float)
    )
