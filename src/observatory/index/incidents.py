"""Sampling uncertainty of the incident ratio: posterior draws of a compound count.

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
* The draw is from the posterior of the mean count mu given the month's total, with the
  negative-binomial (or Poisson) likelihood and Jeffreys' prior mu^(-1/2), tabulated per
  cell on a log grid and sampled by inverting its CDF. For Poisson counts that is
  Gamma(y + 1/2, 1); with over-dispersion its upper tail is heavy, as it must be: one
  quiet month in a zone whose counts swing by a factor of two says little about its rate.

Totals are counted in incidents of unit size, y = S / c, with 1/k scaled to c / k. The ratio
of a draw is c mu* / expected, the expected severity (exposure x the city's
reference rate) being taken as exact: it pools every cell of the band. See
docs/methodology.md, "Uncertainty".
"""

from __future__ import annotations

import numpy as np

from observatory.index.streams import MonthStreams

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
    rng: np.random.Generator | MonthStreams,
) -> np.ndarray:
    """Draws of each cell's incident ratio, (draws, B, T, Z); fixed where it cannot vary.

    Args:
        ratio: observed incident ratio (B, T, Z), NaN where there is none.
        severity: observed severity total S (B, T, Z).
        expected: expected severity of each cell (exposure x reference rate).
        unit: severity unit c per band (B,).
        inv_k: dispersion 1/k per band (B,), 0 for Poisson.
        draws: number of draws.
        rng: seeded generator, or the month-by-month streams (streams.py): then each
            cell's uniforms come from its month's stream.
    """
    ok = ~np.isnan(ratio) & (expected > 0) & ~np.isnan(severity)
    c = np.broadcast_to(unit[:, None, None], ratio.shape)
    y = np.where(ok, np.nan_to_num(severity) / c, 0.0)  # the total in incidents of unit size
    shape = np.broadcast_to((inv_k * unit)[:, None, None], ratio.shape)  # 1/k in those units
    if isinstance(rng, MonthStreams):
        u = rng.uniform("incidents", draws, np.nonzero(ok)[1])
    else:
        u = rng.random((draws, int(ok.sum())))
    mean = _posterior_draws(y[ok], shape[ok], u)  # (draws, cells)
    out = np.broadcast_to(ratio, (draws, *ratio.shape)).copy()
    out[:, ok] = mean * c[ok] / expected[ok]
    return out


#: Grid of mean / scale on which each cell's posterior is tabulated (log-spaced).
_GRID = np.logspace(-4.0, 3.0, 241)
#: Draws x cells sampled at once (issue 18: five years of 200 zones took 300 MB at once).
_CHUNK_ENTRIES = 1_000_000


def _posterior_draws(y: np.ndarray, inv_k: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Draws of the mean count mu given one count y, per cell: (draws, cells).

    Likelihood negative binomial in mu (Poisson where 1/k = 0), prior Jeffreys' mu^(-1/2);
    the posterior is tabulated on a log grid and sampled by inverting its CDF at the
    uniforms `u` (draws, cells).
    """
    draws = u.shape[0]
    if y.size == 0:
        return np.zeros((draws, 0))
    # The (cells x grid) tables are the step's largest arrays after the draws themselves
    # (the 5-year run's peak RSS is reached here): each is let go as soon as the next one
    # is made, with the same operations in the same order, so the same figures.
    scale = np.maximum(y, 1.0)[:, None]
    mu = scale * _GRID[None, :]
    log_mu = np.log(mu)
    phi = inv_k[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(phi > 0, 1.0 / np.where(phi > 0, phi, 1.0), np.inf)
        loglik = np.where(
            phi > 0,
            y[:, None] * log_mu - (y[:, None] + k) * np.log1p(mu / k),  # negative binomial
            y[:, None] * log_mu - mu,  # Poisson
        )
    del mu
    # density per unit of log(mu): likelihood x prior mu^(-1/2) x Jacobian mu
    loglik += 0.5 * log_mu
    loglik -= loglik.max(axis=1, keepdims=True)
    cdf = np.cumsum(np.exp(loglik, out=loglik), axis=1, out=loglik)
    cdf /= cdf[:, -1:]
    out = np.empty_like(u)
    # cells a chunk at a time (the same figures: each cell's draws read only its own CDF
    # and uniforms), so the temporaries stay (draws x chunk) whatever the months x zones
    step = max(1, _CHUNK_ENTRIES // max(draws, 1))
    for start in range(0, len(y), step):
        part = slice(start, min(start + step, len(y)))
        cells = np.arange(part.start, part.stop)[None, :]
        local = cells - part.start
        flat = (cdf[part] + cells.T).ravel()  # each cell's CDF, shifted into [i, i + 1]
        pos = np.searchsorted(flat, u[:, part] + cells) - local * len(_GRID)
        col = np.clip(pos, 1, len(_GRID) - 1)
        lo_cdf, hi_cdf = cdf[cells, col - 1], cdf[cells, col]
        frac = np.clip((u[:, part] - lo_cdf) / np.maximum(hi_cdf - lo_cdf, 1e-300), 0.0, 1.0)
        lo_mu, hi_mu = log_mu[cells, col - 1], log_mu[cells, col]
        out[:, part] = np.exp(lo_mu + frac * (hi_mu - lo_mu))
    return out
