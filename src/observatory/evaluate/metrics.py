"""The figures of `validate-method`, computed from one replicate's published tables.

Every figure is a `Tally` (a total over a count), so replicates add up before the rate is
taken and the count each rate rests on is kept, for readers to judge its binomial error.
Published values are rounded to 0.1, so an interval "contains" the truth within
`TOLERANCE` of its ends. Frames are those `runner.read_published` returns, with the truth
merged in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

TOLERANCE = 0.05
#: The most atypical zones: this share of the zones of each band (at least one).
ATYPICAL_SHARE = 0.10
#: Spread ratio: only cells with this many respondents, groups whose truth spreads this much.
SPREAD_MIN_RESPONDENTS = 30
SPREAD_MIN_TRUE_SD = 5.0
#: The trend share looks at the series' final months.
TREND_MONTHS = 12
#: Fay-Herriot's A needs this many zones with data in a band-month.
MIN_ZONES = 3
_EXACT = 1e-9


@dataclass(frozen=True)
class Tally:
    """A total over a count: a rate's hits over its cells, or a sum of ratios."""

    total: float = 0.0
    n: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.total + other.total, self.n + other.n)

    @property
    def rate(self) -> float:
        """total / n (NaN when n is 0)."""
        return self.total / self.n if self.n else math.nan


def published(cells: pd.DataFrame) -> pd.DataFrame:
    """Published cells with a survey-based perception (not suppressed, not modelled)."""
    keep = ~cells["is_suppressed"].astype(bool) & ~cells["is_modelled"].astype(bool)
    return cells[keep & cells["perception_score"].notna()]


def coverage(cells: pd.DataFrame, truth: str, low: str, high: str) -> Tally:
    """Cells whose interval [low, high] contains the truth (within TOLERANCE), of those with one."""
    rows = cells.dropna(subset=[low, high])
    hit = rows[truth].between(rows[low] - TOLERANCE, rows[high] + TOLERANCE)
    return Tally(float(hit.sum()), len(rows))


def atypical(truth: pd.DataFrame, share: float = ATYPICAL_SHARE) -> pd.DataFrame:
    """Per band, the zones whose mean true perception is furthest from the zones' mean.

    Args:
        truth: zone_id, time_band, true_perception (any number of periods).
        share: the share of zones to keep (rounded up, at least one).

    Returns:
        zone_id, time_band of the atypical zones.
    """
    zone = truth.groupby(["time_band", "zone_id"])["true_perception"].mean().reset_index()
    zone["distance"] = (
        zone["true_perception"] - zone.groupby("time_band")["true_perception"].transform("mean")
    ).abs()
    keep = max(1, math.ceil(share * zone["zone_id"].nunique()))
    top = zone.sort_values(["time_band", "distance", "zone_id"], ascending=[True, False, True])
    return top.groupby("time_band").head(keep)[["zone_id", "time_band"]]


def true_changes(truth: pd.DataFrame) -> pd.DataFrame:
    """true_change: each cell's true index minus that of the calendar month before."""
    out = truth.sort_values(["zone_id", "time_band", "period_start"]).copy()
    previous = out.groupby(["zone_id", "time_band"])["true_index"].shift()
    gap = out.groupby(["zone_id", "time_band"])["period_start"].diff()
    out["true_change"] = previous.where(gap.dt.days.between(28, 31)).rsub(out["true_index"])
    return out[["zone_id", "time_band", "period_start", "true_change"]]


def false_changes(trends: pd.DataFrame) -> Tally:
    """Changes flagged significant where the truth did not change, or changed the other way.

    Args:
        trends: zone_trends rows with change_vs_previous, is_change_significant and
            true_change.

    Returns:
        False flags over the cells with a published change.
    """
    rows = trends[trends["change_vs_previous"].notna()]
    no_change = rows["true_change"].abs() < _EXACT
    wrong_sign = np.sign(rows["change_vs_previous"]) != np.sign(rows["true_change"])
    false = rows["is_change_significant"].astype(bool) & (no_change | wrong_sign)
    return Tally(float(false.sum()), len(rows))


def trend_share(trends: pd.DataFrame, min_periods: int) -> Tally:
    """Zone-band series flagged trending in any of their final `TREND_MONTHS` months.

    Args:
        trends: zone_trends rows (zone_id, time_band, period_start, index_value,
            is_trend_significant).
        min_periods: a series counts when it has this many published months in the
            window (the trend test's own minimum).

    Returns:
        Flagged series over the series that could be tested.
    """
    last = trends["period_start"].max()
    window = trends[trends["period_start"] > last - pd.DateOffset(months=TREND_MONTHS)]
    series = window.groupby(["zone_id", "time_band"]).agg(
        months=("index_value", "count"), flagged=("is_trend_significant", "any")
    )
    series = series[series["months"] >= min_periods]
    return Tally(float(series["flagged"].sum()), len(series))


def spread_ratios(cells: pd.DataFrame) -> Tally:
    """Sum and count of per band-month ratios SD(published perception) / SD(truth).

    Only published cells with at least `SPREAD_MIN_RESPONDENTS` respondents count, and
    only groups of 3+ such zones whose true SD is at least `SPREAD_MIN_TRUE_SD` (below
    that the ratio divides by noise).
    """
    rows = published(cells)
    rows = rows[rows["n_respondents"] >= SPREAD_MIN_RESPONDENTS]
    sd = rows.groupby(["time_band", "period_start"]).agg(
        zones=("zone_id", "count"),
        published=("perception_score", "std"),
        truth=("true_perception", "std"),
    )
    sd = sd[(sd["zones"] >= MIN_ZONES) & (sd["truth"] >= SPREAD_MIN_TRUE_SD)]
    return Tally(float((sd["published"] / sd["truth"]).sum()), len(sd))


def zero_between_var(groups: pd.DataFrame) -> Tally:
    """Band-month groups of 3+ zones with data whose between-zone variance A is 0 or null.

    Args:
        groups: one row per cell of idx.idx_perception_eb: time_band, period_start,
            between_var, perception_raw.
    """
    by = groups.groupby(["time_band", "period_start"]).agg(
        zones=("perception_raw", "count"), between_var=("between_var", "max")
    )
    by = by[by["zones"] >= MIN_ZONES]
    collapsed = by["between_var"].isna() | (by["between_var"] == 0.0)
    return Tally(float(collapsed.sum()), len(by))
