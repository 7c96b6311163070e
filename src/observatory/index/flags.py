"""Change and trend flags that control the false discovery rate.

A city of 40 zones tests about 80 month-on-month changes a month. At a 10% level each,
8 of them are flagged in a city where nothing changed. So every flag here is a p-value,
and the p-values of one city and period (all zones, both bands) are adjusted together by
Benjamini-Hochberg (scipy.stats.false_discovery_control): a flag then means "among the
flagged changes, at most q (default 10%) are expected to be noise".

* Change on the previous month: the paired Monte Carlo draws of the two months (shared
  sampling error cancels) give the change's standard error; z = change / se, two-sided
  normal p-value. (A percentile p-value from 500 draws cannot go below 0.004, too coarse
  for BH across 80 tests.)
* Trend: over the published months in the window, the seasonal Kendall test (Hirsch,
  Slack and Smith 1982) where they span at least two years, so a seasonal swing is not
  read as a trend, else the Mann-Kendall test (pymannkendall, with its tie correction);
  Sen's (Theil-Sen) slope in points per month (scipy.stats.theilslopes). Under a static
  truth with independent sampling errors, the series is exchangeable and the test is
  valid with the points' own noise, so their sampling uncertainty enters through it.

See docs/methodology.md, "Change and trend".
"""

from __future__ import annotations

import warnings
from collections.abc import Collection

import numpy as np
import pandas as pd
import pymannkendall
from scipy.stats import false_discovery_control, norm, theilslopes

MONTHS_FOR_SEASONAL = 24


def change_p_values(change: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Two-sided p-value of each change from its paired draws (axis 0); NaN if untested."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        se = np.nanstd(draws, axis=0)
        z = np.abs(change) / se
    p = 2.0 * norm.sf(z)
    return np.where(np.isnan(change) | ~(se > 0), np.where(change == 0, 1.0, np.nan), p)


def deficit_p_values(gap: np.ndarray, draws: np.ndarray, margin: float) -> np.ndarray:
    """One-sided p-value of "the gap is at least -margin", from its draws (axis 0).

    z = (gap + margin) / sd(draws), p = Phi(z): small when the gap lies clearly more than
    `margin` below zero. NaN where the gap is untested.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        se = np.nanstd(draws, axis=0)
        p = norm.cdf((gap + margin) / se)
    return np.where(np.isnan(gap) | ~(se > 0), np.nan, p)


def benjamini_hochberg(p: np.ndarray, family: np.ndarray, q: float) -> np.ndarray:
    """Which p-values are discoveries at FDR q, adjusting within each family label.

    Args:
        p: p-values (NaN = not tested, never a discovery).
        family: a label per p-value (same shape): the tests adjusted together.
        q: the false discovery rate.
    """
    p = np.asarray(p, dtype=float).ravel()
    fam = np.asarray(family).ravel()
    flagged = np.zeros(p.shape, dtype=bool)
    tested = ~np.isnan(p)
    for label in np.unique(fam[tested]):
        rows = np.flatnonzero(tested & (fam == label))
        flagged[rows] = false_discovery_control(p[rows], method="bh") <= q
    return flagged


def trend_tests(
    series: pd.DataFrame, window: int, min_periods: int, months: Collection[int] | None = None
) -> pd.DataFrame:
    """Trend test of every zone x band at every month, over the window ending there.

    Args:
        series: published values, columns zone_id, time_band, period_start, month_no
            (year * 12 + month) and value; one row per published cell.
        window: months in the window (this one and the ones before).
        min_periods: fewest published months to test.
        months: test only the windows ending in these months (`month_no`), the series
            still read in full (an incremental build's open months); None: every month.

    Returns:
        One row per input row: n_periods_in_trend, trend_test, trend_s, trend_z,
        trend_p_value (NaN if too few months, or not asked for), sen_slope_per_month.
    """
    rows: list[dict[str, object]] = []
    labels: list[object] = []
    wanted = None if months is None else set(months)
    for _, part in series.sort_values("month_no").groupby(["zone_id", "time_band"]):
        ends = part["month_no"].to_numpy()
        values = part["value"].to_numpy(dtype=float)
        for i, month in enumerate(ends):
            if wanted is not None and month not in wanted:
                continue
            keep = (ends > month - window) & (ends <= month)
            rows.append(_test(ends[keep], values[keep], min_periods))
            labels.append(part.index[i])
    tested = pd.DataFrame(rows, index=labels, columns=list(_UNTESTED)).reindex(series.index)
    # typed even when no window was tested (a month with no published cell): DuckDB
    # would read an all-missing object column as type NULL
    return tested.astype(_TYPES)


_UNTESTED: dict[str, object] = {
    "n_periods_in_trend": 0,
    "trend_test": None,
    "trend_s": np.nan,
    "trend_z": np.nan,
    "trend_p_value": np.nan,
    "sen_slope_per_month": np.nan,
}


_TYPES = {name: "string" if name == "trend_test" else "float64" for name in _UNTESTED}


def _test(months: np.ndarray, values: np.ndarray, min_periods: int) -> dict[str, object]:
    n = len(values)
    if n < min_periods:
        return {**_UNTESTED, "n_periods_in_trend": n}
    if months[-1] - months[0] + 1 >= MONTHS_FOR_SEASONAL:
        full = np.full(int(months[-1] - months[0] + 1), np.nan)
        full[months - months[0]] = values
        result, name = pymannkendall.seasonal_test(full, period=12), "seasonal_kendall"
    else:
        result, name = pymannkendall.original_test(values), "mann_kendall"
    if np.ptp(values) == 0:
        slope = 0.0
    elif name == "mann_kendall" and months[-1] - months[0] + 1 == n:
        slope = result.slope  # consecutive months: pymannkendall's Sen slope is per month
    else:
        slope = theilslopes(values, months)[0]
    return {
        "n_periods_in_trend": n,
        "trend_test": name,
        "trend_s": float(result.s),
        "trend_z": float(result.z),
        "trend_p_value": float(result.p),
        "sen_slope_per_month": float(slope),
    }
