"""Normalisation: indicators in their own units -> scores 0-100, higher = safer.

Each method works across the zones of one band and period: the last axis of the array is
the zone axis, every leading axis (draw, band, period) is a separate group. Missing values
(NaN) stay missing and are ignored by the group statistics. Formulas and the reasons for
the default are in docs/methodology.md, "Normalisation".
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.stats import rankdata

Method = Literal["goalposts", "minmax", "zscore", "rank"]
METHODS: tuple[Method, ...] = ("goalposts", "minmax", "zscore", "rank")
#: Score given when a group cannot tell zones apart (one zone, or all equal).
NEUTRAL = 50.0


def normalise(
    values: np.ndarray,
    method: Method,
    goalposts: tuple[float, float],
) -> np.ndarray:
    """Rescale an indicator to 0-100 (higher = safer) within each group of zones.

    Args:
        values: indicator values; the last axis is the zones of one group.
        method: "goalposts" (fixed worst/best), "minmax", "zscore" (T-score 50 + 10 z,
            clipped to 0-100) or "rank" (percentile rank).
        goalposts: (worst, best) in the indicator's unit. Their order also gives the
            direction for the other methods: worst > best means lower values are safer.

    Returns:
        An array of the same shape, NaN where the input is NaN.
    """
    worst, best = goalposts
    x = np.asarray(values, dtype=float)
    if method == "goalposts":
        return np.clip(100.0 * (x - worst) / (best - worst), 0.0, 100.0)
    direction = 1.0 if best > worst else -1.0
    oriented = direction * x
    if method == "minmax":
        return _minmax(oriented)
    if method == "zscore":
        return _tscore(oriented)
    if method == "rank":
        return _percentile_rank(oriented)
    raise ValueError(f"unknown normalisation {method!r}; choose one of {METHODS}")


def _minmax(x: np.ndarray) -> np.ndarray:
    valid = ~np.isnan(x)
    lo = np.min(np.where(valid, x, np.inf), axis=-1, keepdims=True, initial=np.inf)
    hi = np.max(np.where(valid, x, -np.inf), axis=-1, keepdims=True, initial=-np.inf)
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = 100.0 * (x - lo) / span
    return np.where(valid & (span > 0), scaled, np.where(valid, NEUTRAL, np.nan))


def _tscore(x: np.ndarray) -> np.ndarray:
    valid = ~np.isnan(x)
    n = valid.sum(axis=-1, keepdims=True)
    mean = np.where(valid, x, 0.0).sum(axis=-1, keepdims=True) / np.maximum(n, 1)
    ss = np.where(valid, (x - mean) ** 2, 0.0).sum(axis=-1, keepdims=True)
    sd = np.sqrt(ss / np.maximum(n - 1, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.clip(50.0 + 10.0 * (x - mean) / sd, 0.0, 100.0)
    return np.where(valid & (sd > 0), score, np.where(valid, NEUTRAL, np.nan))


def _percentile_rank(x: np.ndarray) -> np.ndarray:
    valid = ~np.isnan(x)
    n = valid.sum(axis=-1, keepdims=True)
    ranks = rankdata(x, axis=-1, method="average", nan_policy="omit")
    with np.errstate(invalid="ignore", divide="ignore"):
        score = 100.0 * (ranks - 1.0) / (n - 1.0)
    return np.where(valid & (n > 1), score, np.where(valid, NEUTRAL, np.nan))
