"""Random draws of validated rows around a known truth: survey answers and incidents.

Survey: each respondent of a zone x month answers one day item and one night item, with a
design weight U(0.6, 1.6) shared by both answers. An answer is the band's latent mean, plus
the effect of the respondent's PSU (cluster designs only; drawn afresh for each band),
plus their own normal noise, clipped to the 0-100 scale. Incidents: a Poisson or
negative-binomial count per zone x band x month, each incident stamped at a random local
time of that band and month (fixed day/night hours).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from observatory.config import TimeBandsConfig
from observatory.evaluate.spec import Clusters
from observatory.evaluate.truth import SCALE

BANDS = ("day", "night")
WEIGHTS = (0.6, 1.6)
#: Incidents keep this far from a band boundary (DST and rounding cannot move them across).
_MARGIN = dt.timedelta(minutes=30)


def draw_answers(
    cells: pd.DataFrame,
    rng: np.random.Generator,
    clusters: Clusters | None = None,
    clip: bool = True,
) -> pd.DataFrame:
    """Respondents answering one day and one night item around known latent means.

    Args:
        cells: one row per zone_id x period_start with n (respondents), day and night
            (latent mean of each band) and sd (SD of an answer).
        rng: seeded generator; cells are drawn in order (weights, then day, then night).
        clusters: the cluster design, or None for a simple random sample.
        clip: clip answers to 0-100 (the survey scale).

    Returns:
        Validated-survey rows (one per respondent x item), stamped mid-month at noon UTC;
        with clusters, also cluster_id (the PSU) and stratum_id (the zone).
    """
    columns = ("response_id", "zone_id", "time_band", "score", "weight", "surveyed_at")
    parts: dict[str, list[np.ndarray]] = {c: [] for c in (*columns, "cluster_id")}
    for zone_id, period, n, day, night, sd in cells[
        ["zone_id", "period_start", "n", "day", "night", "sd"]
    ].itertuples(index=False):
        ids = np.array([f"{zone_id}-{period:%Y%m}-{i}" for i in range(n)], dtype=object)
        at = pd.Timestamp(period + dt.timedelta(days=14), tz="UTC") + pd.Timedelta(hours=12)
        weights = rng.uniform(*WEIGHTS, n)
        psu = np.arange(n) % clusters.psus_per_cell if clusters else np.zeros(n, dtype=int)
        for band, mean in zip(BANDS, (day, night), strict=True):
            parts["score"].append(mean + _errors(rng, n, sd, psu, clusters))
            parts["response_id"].append(ids)
            parts["zone_id"].append(np.full(n, zone_id, dtype=object))
            parts["time_band"].append(np.full(n, band, dtype=object))
            parts["weight"].append(weights)
            parts["surveyed_at"].append(np.full(n, at, dtype=object))
            parts["cluster_id"].append(psu)
    frame = pd.DataFrame({c: np.concatenate(parts[c]) if len(cells) else [] for c in columns})
    frame.insert(1, "respondent_id", frame["response_id"])
    frame.insert(3, "item_id", "safe_" + frame["time_band"].astype(str))
    frame["surveyed_at"] = pd.to_datetime(frame["surveyed_at"], utc=True)
    if clip:
        frame["score"] = frame["score"].clip(*SCALE)
    if clusters:
        psu = pd.Series(np.concatenate(parts["cluster_id"]), index=frame.index).astype(str)
        frame["cluster_id"] = frame["response_id"].str.rsplit("-", n=1).str[0] + "-p" + psu
        frame["stratum_id"] = frame["zone_id"]
    return frame


def _errors(
    rng: np.random.Generator, n: int, sd: float, psu: np.ndarray, clusters: Clusters | None
) -> np.ndarray:
    """An answer's deviation from the latent mean: PSU effect + own noise, total SD `sd`."""
    if clusters is None:
        return rng.normal(0.0, sd, n)
    effects = rng.normal(0.0, np.sqrt(clusters.icc) * sd, clusters.psus_per_cell)
    return effects[psu] + rng.normal(0.0, np.sqrt(1.0 - clusters.icc) * sd, n)


def draw_counts(mu: np.ndarray, rng: np.random.Generator, k: float | None) -> np.ndarray:
    """Incident counts with mean mu: Poisson (k None) or negative binomial (var mu + mu^2/k)."""
    if k is None:
        return rng.poisson(mu)
    return rng.negative_binomial(k, k / (k + np.asarray(mu, dtype=float)))


def draw_incidents(
    cells: pd.DataFrame,
    rng: np.random.Generator,
    k: float | None,
    timezone: str,
    bands: TimeBandsConfig,
) -> pd.DataFrame:
    """One validated row per incident, at a random local time of its band and month.

    Args:
        cells: one row per zone_id x time_band x period_start with mu (expected count).
        rng: seeded generator.
        k: negative-binomial size, or None for Poisson counts.
        timezone: the city's IANA time zone (incident times are local in it).
        bands: the fixed-hours rule: day is [day_starts, night_starts) local time; night
            incidents fall between night_starts and midnight.

    Returns:
        Rows with incident_id, zone_id, occurred_at (UTC), category, severity (1).
    """
    if bands.rule != "fixed":
        raise ValueError("incidents are placed by fixed day/night hours: use rule = 'fixed'")
    counts = draw_counts(cells["mu"].to_numpy(), rng, k)
    rows = cells.loc[cells.index.repeat(counts), ["zone_id", "time_band", "period_start"]]
    n = len(rows)
    day_from = _seconds(bands.day_starts) + _MARGIN.seconds
    day_to = _seconds(bands.night_starts) - _MARGIN.seconds
    night_from, night_to = _seconds(bands.night_starts) + _MARGIN.seconds, 24 * 3600 - 60
    is_day = (rows["time_band"] == "day").to_numpy()
    second = np.where(
        is_day, rng.uniform(day_from, day_to, n), rng.uniform(night_from, night_to, n)
    )
    local = (
        pd.to_datetime(rows["period_start"]).to_numpy()
        + pd.to_timedelta(rng.integers(0, 28, n), unit="D").to_numpy()
        + pd.to_timedelta(np.floor(second), unit="s").to_numpy()
    )
    occurred = pd.DatetimeIndex(local).tz_localize(timezone).tz_convert("UTC")
    return pd.DataFrame(
        {
            "incident_id": [f"I{i:07d}" for i in range(n)],
            "zone_id": rows["zone_id"].to_numpy(),
            "occurred_at": occurred,
            "category": "theft",
            "severity": 1.0,
        }
    )


def _seconds(moment: dt.time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second
