"""Sampling uncertainty of the incident ratio: Gamma-Poisson (negative-binomial) draws.

A month's incident count is one realisation of the zone's underlying rate: 4 incidents
could as well have been 2 or 7. The ratio observed / expected therefore carries counting
noise, which dominates in quiet zones and short bands. Each Monte Carlo draw replaces the
observed count y of a cell by a draw of the underlying mean count:

* Poisson counts: a Gamma with the count's own mean and variance, Gamma(y, 1), so the
  draws are centred on the published ratio (Jeffreys' posterior Gamma(y + 1/2, 1) less its
  half-count offset); a zero count draws Jeffreys' Gamma(1/2, 1).
* Over-dispersed counts (negative binomial, var = mu + mu^2 / k): a Gamma with mean y and
  variance y + y^2 / k, i.e. shape y k / (k + y) and scale 1 + y / k. The dispersion 1/k
  is estimated per band by the method of moments across each zone's months:
  1/k = sum_z (s_z^2 - m_z) / sum_z m_z^2, clipped at zero (zero = Poisson). Month-to-month
  variation of a zone's counts beyond Poisson is then part of the interval; in a city whose
  rates really change, this is conservative.

The severity-weighted ratio of a draw is the observed ratio times draw / y (the mix of
categories is kept); a zero count gives draw x mean severity per incident / expected.
The expected severity (exposure x the city's reference rate) is taken as exact: it pools
every cell of the band. See docs/methodology.md, "Uncertainty".
"""

from __future__ import annotations

import numpy as np

#: Zones need this many months with incident data for the dispersion to be estimated.
_MIN_MONTHS = 3


def dispersion(counts: np.ndarray) -> np.ndarray:
    """The negative-binomial dispersion 1/k of each band, from counts (B, T, Z); 0 = Poisson.

    Args:
        counts: incident counts per cell, NaN where the cell has no incident figure.
    """
    ok = ~np.isnan(counts)
    months = ok.sum(axis=1)  # (B, Z)
    use = months >= _MIN_MONTHS
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, counts, 0.0).sum(axis=1) / np.maximum(months, 1)
        dev = np.where(ok, (counts - mean[:, None, :]) ** 2, 0.0).sum(axis=1)
        var = dev / np.maximum(months - 1, 1)
        excess = np.where(use, var - mean, 0.0).sum(axis=-1)
        scale = np.where(use, mean**2, 0.0).sum(axis=-1)
        inv_k = np.where(scale > 0, excess / scale, 0.0)
    return np.clip(inv_k, 0.0, None)


def ratio_draws(
    ratio: np.ndarray,
    count: np.ndarray,
    expected: np.ndarray,
    inv_k: np.ndarray,
    *,
    draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draws of each cell's incident ratio, (draws, B, T, Z); NaN where the ratio is NaN.

    Args:
        ratio: observed incident ratio (B, T, Z).
        count: observed incident count (B, T, Z).
        expected: expected severity of each cell (exposure x reference rate).
        inv_k: dispersion 1/k per band (B,), 0 for Poisson.
        draws: number of draws.
        rng: seeded generator.
    """
    y = np.nan_to_num(count)
    phi = inv_k[:, None, None]
    shape = np.where(y > 0, y / (1.0 + y * phi), 0.5)
    scale = np.where(y > 0, 1.0 + y * phi, 1.0)
    mean_count = rng.gamma(np.broadcast_to(shape, (draws, *ratio.shape)), scale)
    severity = _mean_severity(ratio, y, expected)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_count = np.where(
            y > 0, ratio / np.where(y > 0, y, 1.0), severity[:, None, None] / expected
        )
    out = mean_count * per_count
    return np.where(
        np.isnan(ratio) | ~np.isfinite(per_count), np.broadcast_to(ratio, out.shape), out
    )


def _mean_severity(ratio: np.ndarray, y: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Severity per incident of each band: total severity / total count."""
    severity = np.where(np.isnan(ratio) | np.isnan(expected), 0.0, np.nan_to_num(ratio * expected))
    counts = np.where(np.isnan(ratio), 0.0, y)
    total = counts.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, severity.sum(axis=(1, 2)) / total, 1.0)
