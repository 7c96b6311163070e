"""Sampling uncertainty of the incident ratio: Gamma draws of a compound count.

A month's incidents are one realisation of the zone's underlying rate: 4 incidents could
as well have been 2 or 7, and with severity weights (theft 1, assault 4) one assault more
or less moves the total by 4. The ratio observed / expected therefore carries counting
noise, which dominates in quiet zones and short bands. Each Monte Carlo draw replaces the
observed severity total S of a cell by a draw of its underlying mean:

* Compound Poisson: Var(S) = mean x E[s^2] / E[s] = c S, with c the band's severity
  "unit" (sum of squared severities / sum of severities over all its incidents; c = 1
  without weights, where this is the plain Poisson count).
* Over-dispersion (negative binomial, var = c mu + mu^2 / k): the dispersion 1/k is
  estimated per band by the method of moments across each zone's months,
  1/k = sum_z (s_z^2 - c m_z) / sum_z m_z^2 over zones with 3+ months, clipped at zero
  (zero = Poisson). Month-to-month variation beyond counting noise is then part of the
  interval; in a city whose rates really change, this is conservative.
* The draw is a Gamma with the observed total as mean and that variance: shape
  S / (c + S / k), scale c + S / k. A zero total draws Jeffreys' half an incident,
  Gamma(1/2, c).

The ratio of a draw is S* / expected, the expected severity (exposure x the city's
reference rate) being taken as exact: it pools every cell of the band. See
docs/methodology.md, "Uncertainty".
"""

from __future__ import annotations

import numpy as np

#: Zones need this many months with incident data for the dispersion to be estimated.
_MIN_MONTHS = 3


def severity_unit(severity: np.ndarray, severity_sq: np.ndarray) -> np.ndarray:
    """c = sum(s^2) / sum(s) per band, from cell totals (B, T, Z); 1 where no incidents."""
    total = np.nansum(severity, axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, np.nansum(severity_sq, axis=(1, 2)) / total, 1.0)


def dispersion(severity: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """The negative-binomial dispersion 1/k of each band (B,); 0 = Poisson.

    Args:
        severity: severity totals per cell (B, T, Z), NaN where the cell has no figure.
        unit: the severity unit c of each band.
    """
    ok = ~np.isnan(severity)
    months = ok.sum(axis=1)  # (B, Z)
    use = months >= _MIN_MONTHS
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, severity, 0.0).sum(axis=1) / np.maximum(months, 1)
        dev = np.where(ok, (severity - mean[:, None, :]) ** 2, 0.0).sum(axis=1)
        var = dev / np.maximum(months - 1, 1)
        excess = np.where(use, var - unit[:, None] * mean, 0.0).sum(axis=-1)
        scale = np.where(use, mean**2, 0.0).sum(axis=-1)
        inv_k = np.where(scale > 0, excess / scale, 0.0)
    return np.clip(inv_k, 0.0, None)


def ratio_draws(
    ratio: np.ndarray,
    severity: np.ndarray,
    expected: np.ndarray,
    unit: np.ndarray,
    inv_k: np.ndarray,
    *,
    draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draws of each cell's incident ratio, (draws, B, T, Z); fixed where it cannot vary.

    Args:
        ratio: observed incident ratio (B, T, Z), NaN where there is none.
        severity: observed severity total S (B, T, Z).
        expected: expected severity of each cell (exposure x reference rate).
        unit: severity unit c per band (B,).
        inv_k: dispersion 1/k per band (B,), 0 for Poisson.
        draws: number of draws.
        rng: seeded generator.
    """
    s = np.nan_to_num(severity)
    c = unit[:, None, None]
    # the variance is evaluated at the zone's mean over its months, a steadier plug-in
    # than the month's own total (which understates it exactly when the count is low)
    level = _zone_mean(severity)
    variance = c * level + level**2 * inv_k[:, None, None]
    shape = np.where(s > 0, s**2 / np.maximum(variance, 1e-12), 0.5)
    scale = np.where(s > 0, np.maximum(variance, 1e-12) / np.where(s > 0, s, 1.0), c)
    total = rng.gamma(np.broadcast_to(shape, (draws, *ratio.shape)), scale)
    ok = ~np.isnan(ratio) & (expected > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / np.where(ok, expected, 1.0)
    return np.where(ok, out, ratio)


def _zone_mean(severity: np.ndarray) -> np.ndarray:
    """Each zone's mean severity total over its months, (B, 1, Z); the cell's own if alone."""
    ok = ~np.isnan(severity)
    months = ok.sum(axis=1, keepdims=True)
    mean = np.where(ok, severity, 0.0).sum(axis=1, keepdims=True) / np.maximum(months, 1)
    return np.where(months >= _MIN_MONTHS, mean, np.nan_to_num(severity))
