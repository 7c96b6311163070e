"""Small-cell suppression: which cells' survey-based figures must not be published.

Primary suppression withholds every cell with 1 to k-1 respondents. Complementary
suppression then makes sure no withheld value can be worked out from what is published:

* across bands: if one band of a zone-month is withheld, the other band (usually answered
  by the same people) is withheld too, so a both-band figure such as the night-minus-day
  gap cannot give it away;
* across zones: subtracting the published zones from a band-month's published city total
  gives the pooled mean of its withheld cells, so they must be at least two and hold at
  least k respondents together; the published cell with the fewest respondents is withheld
  with them until they do. When no such partner exists, the band-month's city total is
  withheld instead. A city may choose to withhold the city total of every band-month with
  a withheld cell instead (`city_total = "withheld_with_cells"`): then no cell needs
  withholding across zones.

  Where the cells' answer sums are given, a protection interval is also required: from
  the pooled mean, the 0-100 scale and the pooled spread (the most the city total's
  interval could tell), each primary-withheld cell's mean must still be free to lie
  anywhere in a range at least 2 x `protection_points` wide; else a partner is added too.
  (Pooled answers near an end of the scale, or nearly all alike, pin each cell.)

A cell is also withheld when nearly all its respondents gave the same answer (the share of
the most common answer at or above `homogeneity_threshold`): its mean would then tell
what each of them answered, however many they are.

The two rules are applied until nothing changes. Cells with no respondents hold no survey
data and are never suppressed (their perception, if any, is modelled).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

PRIMARY = "primary: fewer than k respondents"
HOMOGENEOUS = "primary: nearly everyone gave the same answer"
ACROSS_BANDS = "complementary: other band of the zone-month withheld"
ACROSS_ZONES = "complementary: protects a withheld cell from the city total"
#: The answer sums a protection interval needs: sum(w), sum(w y), sum(w y^2) per cell.
SUMS = ("sum_w", "sum_wy", "sum_wyy")
#: The survey scale every score is on.
SCALE = (0.0, 100.0)


def suppress(
    cells: pd.DataFrame,
    k: int,
    homogeneity_threshold: float = 1.01,
    protection_points: float = 0.0,
    city_total: str = "published",
) -> pd.DataFrame:
    """Flag the cells to withhold.

    Args:
        cells: one row per zone_id x time_band x period_start with n_respondents, and
            optionally modal_share (share of respondents giving the most common answer)
            and the design-weighted answer sums sum_w, sum_wy, sum_wyy (for the
            protection interval).
        k: the minimum number of respondents for a cell to be published.
        homogeneity_threshold: withhold cells whose modal_share is at least this (above 1:
            never).
        protection_points: half the width of the range each primary-withheld cell's mean
            must stay free to lie in, given what the city total and its interval reveal
            (0: no protection interval; needs the answer sums).
        city_total: "published": the band-month's city total is published, so cells are
            withheld to protect the withheld ones from it (and the total only when no
            cell can be); "withheld_with_cells": the total of every band-month with a
            withheld cell is withheld, and no cell is withheld across zones.

    Returns:
        The keys and n_respondents with is_suppressed, suppression_reason (null when
        published) and is_total_suppressed (the band-month's city total is withheld).
    """
    columns = ["zone_id", "time_band", "period_start", "n_respondents"]
    extra = [c for c in ("modal_share", *SUMS) if c in cells]
    out = cells[columns + extra].copy()
    out = out.sort_values(["period_start", "time_band", "n_respondents", "zone_id"]).reset_index(
        drop=True
    )
    has_data = out["n_respondents"] > 0
    reason = pd.Series(pd.NA, index=out.index, dtype="object")
    if "modal_share" in out:
        reason[has_data & (out["modal_share"] >= homogeneity_threshold)] = HOMOGENEOUS
    reason[has_data & (out["n_respondents"] < k)] = PRIMARY
    total_withheld = pd.Series(False, index=out.index)
    for _ in range(1000):
        before = reason.notna().sum()
        reason = _across_bands(out, reason, has_data)
        if city_total == "published":
            reason, total_withheld = _across_zones(out, reason, has_data, k, protection_points)
        if reason.notna().sum() == before:
            break
    if city_total == "withheld_with_cells":
        group = [out["period_start"], out["time_band"]]
        total_withheld = (reason.notna() & has_data).groupby(group).transform("any")
    elif city_total != "published":
        raise ValueError(f"city_total must be 'published' or 'withheld_with_cells': {city_total!r}")
    out["is_suppressed"] = reason.notna()
    out["suppression_reason"] = reason
    out["is_total_suppressed"] = total_withheld
    out = out.drop(columns=extra)
    log.info(
        "suppression: %d primary, %d complementary of %d cells",
        reason.isin([PRIMARY, HOMOGENEOUS]).sum(),
        (reason.notna() & ~reason.isin([PRIMARY, HOMOGENEOUS])).sum(),
        len(out),
    )
    return out


def _across_bands(out: pd.DataFrame, reason: pd.Series, has_data: pd.Series) -> pd.Series:
    withheld_any = reason.notna().groupby([out["zone_id"], out["period_start"]]).transform("any")
    reason = reason.copy()
    reason[withheld_any & reason.isna() & has_data] = ACROSS_BANDS
    return reason


def _across_zones(
    out: pd.DataFrame, reason: pd.Series, has_data: pd.Series, k: int, protection: float
) -> tuple[pd.Series, pd.Series]:
    group = [out["period_start"], out["time_band"]]
    withheld = reason.notna() & has_data
    n_withheld = withheld.groupby(group).transform("sum")
    people = out["n_respondents"].where(withheld, 0).groupby(group).transform("sum")
    exposed = (n_withheld == 1) | ((n_withheld >= 1) & (people < k))
    if protection > 0 and all(c in out for c in SUMS):
        primary = withheld & reason.isin([PRIMARY, HOMOGENEOUS])
        pinned = primary & (feasible_width(out, withheld, group) < 2.0 * protection)
        exposed |= pinned.groupby(group).transform("any")
    candidate = has_data & ~withheld & exposed
    # Rows are sorted by n_respondents then zone_id, so the first candidate is the smallest.
    first = candidate & (candidate.groupby(group).cumsum() == 1)
    reason = reason.copy()
    reason[first] = ACROSS_ZONES
    has_partner = candidate.groupby(group).transform("any")
    total_withheld = exposed & ~has_partner
    return reason, total_withheld


def feasible_width(out: pd.DataFrame, withheld: pd.Series, group: list[pd.Series]) -> pd.Series:
    """How wide a range each withheld cell's mean could lie in, to an attacker who knows
    the pooled mean of its band-month's withheld cells (the city total minus the published
    cells), the 0-100 scale and the pooled spread of their answers about that mean (the
    most the city total's interval could tell).

    With W the withheld cells' total weight, M their pooled mean and s^2 the spread of
    their answers about it, cell i (weight W_i, mean m_i) satisfies
    W_i m_i = W M - (the others' total), the others' means in 0-100, so
    m_i in [(W M - 100 (W - W_i)) / W_i, W M / W_i]; and, as the cells' deviations from
    M weigh at most W s^2 together, |m_i - M| <= s sqrt((W - W_i) / W_i). The width of
    the intersection (with 0-100) is returned; NaN for published cells.
    """
    lo, hi = SCALE
    w = out["sum_w"].where(withheld, 0.0)
    big_w = w.groupby(group).transform("sum")
    pooled = out["sum_wy"].where(withheld, 0.0).groupby(group).transform("sum")
    squares = out["sum_wyy"].where(withheld, 0.0).groupby(group).transform("sum")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = pooled / big_w
        spread = np.sqrt(np.clip(squares / big_w - mean**2, 0.0, None))
        rest = big_w - w
        bound = spread * np.sqrt(rest / w)
        low = np.maximum.reduce([np.full(len(out), lo), (pooled - hi * rest) / w, mean - bound])
        high = np.minimum.reduce([np.full(len(out), hi), (pooled - lo * rest) / w, mean + bound])
    return pd.Series(np.clip(high - low, 0.0, None), index=out.index).where(withheld & (w > 0))
