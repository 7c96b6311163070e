"""The network's estimators: comparable city figures with intervals, from the members' data.

Pure functions on arrays and frames; the network build (build.py) reads the members and
writes the tables. Per city and band-month:

* **Core-item perception**: the design-weighted mean of the core item's 0-100 score over the
  city's respondents, with a percentile interval from the index's own bootstrap
  (`observatory.index.bootstrap`: Poisson over respondents, Rao-Wu over PSUs within strata
  where the survey names its clusters). One respondent's day and night answers share their
  bootstrap multiplier, so the night-minus-day gap's interval keeps their correlation.
* **Incident ratio**: the city's count of the network's incident family per resident-hour
  of the band, over the network's pooled rate in the common reference period; counts are
  drawn from their Jeffreys posterior (Gamma(count + 1/2)), and the pooled reference is
  recomputed in every draw.
* **Composite**: the two components on the network's common goalposts, weighted.
* **Ranks**: within every draw, among the cities with a published figure; the rank interval
  is the percentile interval of those ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from observatory.index.bootstrap import bootstrap_sums
from observatory.index.montecarlo import percentile_interval, ranks
from observatory.index.normalise import normalise

BANDS = ("day", "night")


@dataclass(frozen=True)
class Perception:
    """One city's core-item perception on the network grid (band x period)."""

    point: np.ndarray  # (2, P)
    draws: np.ndarray  # (R, 2, P)
    n_respondents: np.ndarray  # (2, P)
    n_effective: np.ndarray  # (2, P)


def city_perception(
    respondents: pd.DataFrame, periods: pd.DatetimeIndex, draws: int, rng: np.random.Generator
) -> Perception:
    """Design-weighted core-item perception per band-month, with bootstrap draws.

    Args:
        respondents: one row per respondent x band: `person`, `time_band`, `period_start`,
            `score` (0-100), `weight`, and optional `stratum_id` / `cluster_id`.
        periods: the network's months (the grid's period axis).
        draws: bootstrap draws.
        rng: seeded generator.
    """
    n_periods = len(periods)
    shape = (len(BANDS), n_periods)
    if respondents.empty:
        nan = np.full(shape, np.nan)
        return Perception(nan, np.full((draws, *shape), np.nan), np.zeros(shape), np.zeros(shape))
    frame = respondents.reset_index(drop=True).copy()
    band = pd.Index(BANDS).get_indexer(frame["time_band"])
    period = periods.get_indexer(pd.to_datetime(frame["period_start"]))
    keep = (band >= 0) & (period >= 0)
    frame, cell = frame[keep].reset_index(drop=True), (band * n_periods + period)[keep]
    _add_design(frame)
    sums = bootstrap_sums(frame, cell, len(BANDS) * n_periods, draws, rng)
    w = frame["weight"].to_numpy(dtype=float)
    size = len(BANDS) * n_periods
    num = np.bincount(cell, weights=w * frame["score"].to_numpy(dtype=float), minlength=size)
    den = np.bincount(cell, weights=w, minlength=size)
    den_sq = np.bincount(cell, weights=w * w, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        point = np.where(den > 0, num / den, np.nan)
        n_eff = np.where(den_sq > 0, den * den / den_sq, 0.0)
    return Perception(
        point=point.reshape(shape),
        draws=sums.means().reshape((draws, *shape)),
        n_respondents=np.bincount(cell, minlength=size).reshape(shape).astype(float),
        n_effective=n_eff.reshape(shape),
    )


def _add_design(frame: pd.DataFrame) -> None:
    """PSU and stratum columns for the Rao-Wu bootstrap, where the survey names clusters:
    strata are the survey's (else the zone) within the month, as in the city's index."""
    clusters = frame.get("cluster_id")
    if clusters is None or clusters.isna().all():
        return
    month = frame["period_start"].astype(str)
    stratum = frame.get("stratum_id", pd.Series(pd.NA, index=frame.index)).astype("string")
    frame["stratum"] = stratum.fillna(frame["zone_id"].astype("string")) + "|" + month
    own = "person:" + frame["person"].astype(str)
    frame["psu"] = frame["stratum"] + "|" + clusters.astype("string").fillna(own)


def interval(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the leading (draw) axis."""
    return percentile_interval(draws, level)


def incident_draws(counts: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of the expected counts from their Jeffreys posterior, Gamma(count + 1/2, 1)
    (NaN where the city has no coverage)."""
    covered = ~np.isnan(counts)
    shape = np.where(covered, counts, 0.0) + 0.5
    out = rng.gamma(shape[None, ...], 1.0, (draws, *counts.shape))
    return np.where(covered[None, ...], out, np.nan)


def incident_ratios(
    counts: np.ndarray, count_draws: np.ndarray, exposure: np.ndarray, in_reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each city's rate over the network's pooled reference rate, per band.

    Args:
        counts: (C, 2, P) incident counts of the network's family, NaN where not covered.
        count_draws: (R, C, 2, P) their draws.
        exposure: (C, 2, P) resident-hours of the band.
        in_reference: (P,) months of the common reference period.

    Returns:
        Point ratios (C, 2, P) and their draws (R, C, 2, P); NaN where not covered or the
        reference period has no coverage in a band.
    """
    ref_cells = ~np.isnan(counts) & in_reference[None, None, :] & (exposure > 0)

    def _ratio(c: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        pooled = np.where(ref_cells, c, 0.0).sum(axis=axes, keepdims=True)
        hours = np.where(ref_cells, exposure, 0.0).sum(axis=(0, 2), keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            reference = np.where(hours > 0, pooled / hours, np.nan)
            return np.where(exposure > 0, c / exposure, np.nan) / reference

    point = _ratio(counts, (0, 2))
    drawn = _ratio(count_draws, (1, 3))
    return point, drawn


def component(values: np.ndarray, goalposts: tuple[float, float]) -> np.ndarray:
    """An indicator on the network's common goalposts, 0-100 (the index's normalisation)."""
    return normalise(values, "goalposts", goalposts)


def composite(
    perception: np.ndarray, incidents: np.ndarray, weights: dict[str, float]
) -> np.ndarray:
    """Weighted arithmetic mean of the two components; NaN where either is missing."""
    wp, wi = weights.get("perception", 0.0), weights.get("incidents", 0.0)
    return (wp * perception + wi * incidents) / (wp + wi)


def rank_table(
    point: np.ndarray, draws: np.ndarray, published: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ranks of the cities (last axis; 1 = feels safest) at the point and their interval.

    Args:
        point: (..., C) values; draws: (R, ..., C); published: (..., C) bool.

    Returns:
        rank, rank_low, rank_high (NaN where not published) and n_ranked per cell.
    """
    at_point = ranks(point, published)
    drawn = ranks(draws, np.broadcast_to(published, draws.shape) & ~np.isnan(draws))
    drawn = np.where(published[None, ...], drawn, np.nan)
    low, high = percentile_interval(drawn, level)
    n_ranked = np.broadcast_to(published.sum(axis=-1, keepdims=True), published.shape)
    return at_point, np.floor(low), np.ceil(high), n_ranked
