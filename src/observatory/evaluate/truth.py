"""The known truth of a simulated city, computed with the index's own functions.

True perception of a cell is the expected answer of its population: the mean of the
clipped answer distribution, `E[clip(N(m, sd^2), 0, 100)]`, computed exactly from the
normal distribution (the clipping of answers to the survey scale moves the mean of zones
near the ends). A PSU effect does not change it: PSU and respondent noise together are
`N(0, sd^2)`, and the population of a zone is the mean over all its PSUs.

True incident ratio of a cell is `mu / mean(mu)` over all cells of its band, mu being
the expected count: the pipeline's reference rate pools every month of a band, and with
equal populations its expectation is the band's mean mu.

The true index applies `observatory.index.aggregate.components` and `aggregate` with
`IndexConfig()` defaults to these truths. There are no sensors in a simulated city, so the
environment component is absent and the other weights are renormalised, as the method
documents (docs/methodology.md, sections 3 and 6).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from observatory.config import IndexConfig
from observatory.index.aggregate import aggregate, components, scheme_weights

SCALE = (0.0, 100.0)


def clipped_normal_mean(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Mean of `clip(X, 0, 100)` for `X ~ N(mean, sd^2)`, elementwise.

    Args:
        mean: latent means (any shape).
        sd: latent SDs (broadcast with mean, > 0).

    Returns:
        The expected clipped value, in [0, 100].
    """
    lo, hi = SCALE
    m, s = np.broadcast_arrays(np.asarray(mean, dtype=float), np.asarray(sd, dtype=float))
    a, b = (lo - m) / s, (hi - m) / s
    inside = m * (norm.cdf(b) - norm.cdf(a)) + s * (norm.pdf(a) - norm.pdf(b))
    return lo * norm.cdf(a) + inside + hi * norm.sf(b)


def incident_ratio(mu: pd.Series, band: pd.Series) -> pd.Series:
    """True standardised incident ratio: each cell's mu over the mean mu of its band.

    Args:
        mu: expected incident count of each cell (equal populations assumed).
        band: the time band of each cell, aligned with mu.

    Returns:
        The ratio per cell; its mean over the cells of a band is 1.
    """
    return mu / mu.groupby(band).transform("mean")


def true_index(
    perception: np.ndarray, ratio: np.ndarray, cfg: IndexConfig | None = None
) -> np.ndarray:
    """The index the method would give with error-free inputs and its default settings.

    Args:
        perception: true perception per cell (0-100).
        ratio: true incident ratio per cell (same shape).
        cfg: the index settings (default `IndexConfig()`: goalposts, expert weights,
            arithmetic mean).

    Returns:
        The true index per cell; the environment component is absent (no sensors).
    """
    cfg = cfg or IndexConfig()
    absent = np.full(np.shape(perception), np.nan)
    comps = components(
        {
            "perception": np.asarray(perception, dtype=float),
            "incident_ratio": np.asarray(ratio, dtype=float),
            "lux": absent,
            "footfall": absent,
            "noise_db": absent,
        },
        cfg.normalisation,
        cfg.goalposts,
    )
    weights = scheme_weights(cfg.weighting, cfg.weights)
    return aggregate(comps, weights, cfg.aggregation)
