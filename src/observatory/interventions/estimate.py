"""Did it work? One intervention x outcome x band: a difference-in-differences against
comparison zones and an event study, with pyfixest (docs/interventions.md).

Each intervention is its own comparison: its treated zones, all starting in its start month,
against comparison zones that are untreated throughout the window (never treated, or not
yet treated: a later intervention's zones before their own start). With one start and clean
comparisons there is no "forbidden comparison" of treated against already-treated zones, the
problem behind staggered-adoption bias.

- The effect is Gardner's two-stage estimator (`pyfixest.did2s`: zone and month effects
  fitted on untreated cells, then the treated cells' residuals averaged), with its
  cluster-robust standard error by zone (GMM-corrected for the first stage), valid under
  staggered adoption. With fewer zones than `wild_bootstrap_below_zones` the cluster-robust
  interval is too narrow (few clusters, and fewer treated ones): the effect then comes from
  the two-way fixed-effects regression (on a single start and clean comparisons the same
  average effect) and its interval from inverting the wild cluster restricted bootstrap test
  (`Feols.wildboottest`, Webb weights): every effect the test does not reject at 10%.
- The event study is the dynamic two-way fixed-effects regression with one indicator per
  month relative to the start, month -1 the reference: with one start and clean
  comparisons it is Sun and Abraham's interaction-weighted estimator. Its leads test
  parallel pre-trends (a joint Wald test).

Only the cells a caller passes are used: perception of withheld cells never reaches here.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from observatory.interventions.wildboot import WildBootstrapTest

log = logging.getLogger(__name__)

#: Bisection steps of the bootstrap interval's inversion (each halves the bracket: 9 steps
#: give the end to 1/128 of a standard error).
_INVERSION_STEPS = 9
#: The first bracket of the inversion: this many cluster-robust standard errors from the
#: estimate, tripled up to this many times while the test does not reject there.
_BRACKET_SES = 4.0
_BRACKET_WIDENINGS = 4


@dataclass(frozen=True)
class Design:
    """The settings of one evaluation (from `[evaluation]` and `[index]`)."""

    confidence: float = 0.90
    min_pre_periods: int = 3
    min_post_periods: int = 1
    min_comparison_zones: int = 5
    wild_bootstrap_below_zones: int = 50
    matched_zones: int = 0
    bootstrap_reps: int = 999
    seed: int = 20251
    #: False: the estimate and its p-value only (no interval, event study or pre-trend
    #: check), for the placebo runs, which need only whether "no effect" is rejected.
    full: bool = True

    @property
    def alpha(self) -> float:
        """The two-sided test level (0.10 for 90% intervals)."""
        return 1.0 - self.confidence


@dataclass
class Evaluation:
    """The effect row and the event-study rows of one intervention x outcome x band."""

    effect: dict[str, Any]
    event_study: pd.DataFrame


def evaluate(
    panel: pd.DataFrame, treated: set[str], start: int, end: int | None, design: Design
) -> Evaluation:
    """The effect of one intervention on one outcome in one band.

    Args:
        panel: cells (zone_id, t, y) of the treated zones and the eligible comparison zones;
            `t` counts months (year * 12 + month - 1), `y` is the published outcome.
        treated: the intervention's zones.
        start: the month (`t`) the intervention started.
        end: the month it ended (later months are left out), or None.
        design: the evaluation's settings.

    Returns:
        The effect (status `ok` with an estimate, or a status and reason instead) and the
        event study (empty unless the status is `ok`).
    """
    cells = panel.dropna(subset=["y"])
    if end is not None:
        cells = cells[cells["t"] <= end]
    cells = cells.assign(is_treated_zone=cells["zone_id"].isin(treated))
    info = _describe(cells, start)
    reason = _unsupported(info, cells, design)
    if reason:
        return Evaluation({**info, "status": reason[0], "reason": reason[1]}, pd.DataFrame())
    cells, matching = _matched(cells, start, design)
    info = {**_describe(cells, start), "matching": matching}
    cells = cells.assign(
        zone=pd.factorize(cells["zone_id"])[0],
        is_post=(cells["is_treated_zone"] & (cells["t"] >= start)),
        rel=np.where(cells["is_treated_zone"], cells["t"] - start, -1),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        effect = _effect(cells, design)
        if not design.full:
            return Evaluation({**info, **effect, "status": "ok", "reason": None}, pd.DataFrame())
        events = _event_study(cells, design)
        slope, pre_trend_p = _pre_trend(cells, start, design)
    row = {
        **info,
        **effect,
        "pre_trend_slope": slope,
        "pre_trend_p_value": pre_trend_p,
        "is_pre_trend_detected": bool(pre_trend_p < design.alpha),
        "status": "ok",
        "reason": None,
    }
    return Evaluation(row, events)


def _describe(cells: pd.DataFrame, start: int) -> dict[str, Any]:
    """The periods and zones of a comparison (before any status check)."""
    treated = cells[cells["is_treated_zone"]]
    pre, post = treated[treated["t"] < start], treated[treated["t"] >= start]
    comparison = cells[~cells["is_treated_zone"]]
    # a comparison zone helps only with cells on both sides of the start
    sides = comparison.groupby("zone_id")["t"].agg(["min", "max"])
    useful = sorted(sides.index[(sides["min"] < start) & (sides["max"] >= start)])
    return {
        "pre_start": int(pre["t"].min()) if len(pre) else None,
        "pre_end": int(pre["t"].max()) if len(pre) else None,
        "post_start": int(post["t"].min()) if len(post) else None,
        "post_end": int(post["t"].max()) if len(post) else None,
        "n_pre_periods": int(pre["t"].nunique()),
        "n_post_periods": int(post["t"].nunique()),
        "n_treated_zones": int(treated["zone_id"].nunique()),
        "comparison_zone_ids": useful,
        "n_comparison_zones": len(useful),
        "n_cells": len(cells),
        "treated_pre_mean": float(pre["y"].mean()) if len(pre) else None,
        "matching": "none",
    }


def _unsupported(info: dict[str, Any], cells: pd.DataFrame, design: Design) -> tuple | None:
    """(status, reason) when the design cannot support an estimate, else None."""
    if info["n_treated_zones"] == 0:
        return ("not_measured", "no published value of this outcome in the treated zones")
    if cells["is_treated_zone"].all():
        return ("treated_everywhere", "every zone with this outcome is treated: nothing to compare")
    if info["n_pre_periods"] < design.min_pre_periods:
        return (
            "too_few_pre_periods",
            f"{info['n_pre_periods']} published month(s) before the start in the treated "
            f"zones; at least {design.min_pre_periods} are needed to check pre-trends",
        )
    if info["n_post_periods"] < design.min_post_periods:
        return (
            "too_few_post_periods",
            f"{info['n_post_periods']} published month(s) since the start; at least "
            f"{design.min_post_periods} needed",
        )
    if info["n_comparison_zones"] < design.min_comparison_zones:
        return (
            "too_few_comparison_zones",
            f"{info['n_comparison_zones']} comparison zone(s) with this outcome before and "
            f"after the start; at least {design.min_comparison_zones} are needed",
        )
    return None


def _matched(cells: pd.DataFrame, start: int, design: Design) -> tuple[pd.DataFrame, str]:
    """Keep the `matched_zones` comparison zones nearest the treated pre-period level."""
    comparison = cells[~cells["is_treated_zone"]]
    if not design.matched_zones or comparison["zone_id"].nunique() <= design.matched_zones:
        return cells, "none"
    pre = cells[cells["t"] < start]
    target = pre.loc[pre["is_treated_zone"], "y"].mean()
    level = pre[~pre["is_treated_zone"]].groupby("zone_id")["y"].mean()
    keep = (level - target).abs().sort_values(kind="stable").index[: design.matched_zones]
    kept = cells["is_treated_zone"] | cells["zone_id"].isin(keep)
    return cells[kept], "pre_period_mean"


def _estimable(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells did2s can use: every zone and month kept has an untreated cell (the first
    stage learns their effects from those), and none is seen only once (its fixed effect
    absorbs its one cell, so it tells the estimate nothing; pyfixest drops such singletons
    from the fit but not from did2s' variance, whose shapes then disagree: found on the
    benchmark city, where two zones had one month with an outcome). Repeated until stable."""
    sample = cells[cells["y"].notna()]
    while True:
        untreated = sample[sample["is_post"] == 0]
        keep = (
            sample["zone"].isin(untreated["zone"])
            & sample["t"].isin(untreated["t"])
            & sample.groupby("zone")["t"].transform("size").gt(1)
            & sample.groupby("t")["zone"].transform("size").gt(1)
        )
        if keep.all():
            return sample
        sample = sample[keep]


def _effect_many_zones(pf: Any, cells: pd.DataFrame, design: Design) -> dict[str, Any]:
    """Gardner's two-stage estimate (pyfixest did2s) with cluster-robust errors.

    The first stage learns zone and month effects from untreated cells only, so every zone
    and month of the sample must have one (else did2s' variance has rows the first stage
    never saw: found on the 200-zone benchmark city), see `_estimable`. Should did2s still
    fail, the two-way fixed-effects estimate with zone-clustered errors is used: with one
    start date per intervention it is the same difference in differences (the
    staggered-adoption bias did2s guards against needs several start dates)."""
    sample = _estimable(cells)
    try:
        fit = pf.did2s(
            sample,
            yname="y",
            first_stage="~ 0 | zone + t",
            second_stage="~ 0 + is_post",
            treatment="is_post",
            cluster="zone",
        )
        estimator = "did2s"
    except (ValueError, np.linalg.LinAlgError) as exc:
        log.warning("did2s failed (%s): two-way fixed effects instead", exc)
        fit = pf.feols("y ~ is_post | zone + t", sample, vcov={"CRV1": "zone"})
        estimator = "twfe"
    low, high = fit.confint(alpha=design.alpha).iloc[0]
    return {
        "estimate": float(fit.coef().iloc[0]),
        "ci_low": float(low),
        "ci_high": float(high),
        "std_error": float(fit.se().iloc[0]),
        "p_value": float(fit.pvalue().iloc[0]),
        "estimator": estimator,
        "inference": "cluster_robust",
    }


def _effect(cells: pd.DataFrame, design: Design) -> dict[str, Any]:
    """The average effect on the treated, its interval and p-value (module docstring)."""
    import pyfixest as pf  # noqa: PLC0415  (heavy: imported when an evaluation runs)

    n_zones = int(cells["zone"].nunique())
    if n_zones >= design.wild_bootstrap_below_zones:
        return _effect_many_zones(pf, cells, design)
    fit = pf.feols("y ~ is_post | zone + t", cells, vcov={"CRV1": "zone"})
    estimate, se = float(fit.coef().iloc[0]), float(fit.se().iloc[0])

    p_at = WildBootstrapTest(cells, "is_post", design.bootstrap_reps, design.seed).p_value
    if not design.full:
        return {"estimate": estimate, "std_error": se, "p_value": p_at(0.0)}
    low = _invert(p_at, estimate, estimate - _BRACKET_SES * se, design.alpha)
    high = _invert(p_at, estimate, estimate + _BRACKET_SES * se, design.alpha)
    return {
        "estimate": estimate,
        "ci_low": low,
        "ci_high": high,
        "std_error": se,
        "p_value": p_at(0.0),
        "estimator": "twfe",
        "inference": "wild_cluster_bootstrap",
    }


def _invert(p_at: Any, inside: float, outside: float, alpha: float) -> float:
    """The interval's end between the estimate and a far value: where the bootstrap test
    of "the effect equals this value" starts to reject at `alpha` (bisection). The far
    value moves out (doubling its distance) until the test rejects there."""
    for _ in range(_BRACKET_WIDENINGS):
        if p_at(outside) < alpha:
            break
        inside, outside = outside, outside + 2.0 * (outside - inside)
    else:
        return float("nan")  # not rejected even far away: no finite interval end
    for _ in range(_INVERSION_STEPS):
        middle = (inside + outside) / 2.0
        if p_at(middle) >= alpha:
            inside = middle
        else:
            outside = middle
    return (inside + outside) / 2.0


def _event_study(cells: pd.DataFrame, design: Design) -> pd.DataFrame:
    """Per month relative to the start: estimate and cluster-robust interval (month -1 is
    the reference, 0 by construction)."""
    import pyfixest as pf  # noqa: PLC0415

    fit = pf.feols("y ~ i(rel, ref=-1) | zone + t", cells, vcov={"CRV1": "zone"})
    tidy = fit.tidy(alpha=design.alpha)
    rel = (
        pd.Series(tidy.index)
        .str.extract(r"(-?\d+)(?:\.0)?\]?$", expand=False)
        .astype(int)
        .to_numpy()
    )
    ci = [c for c in tidy.columns if c.endswith("%")]
    frame = pd.DataFrame(
        {
            "relative_month": rel,
            "estimate": tidy["Estimate"].to_numpy(),
            "std_error": tidy["Std. Error"].to_numpy(),
            "ci_low": tidy[ci[0]].to_numpy(),
            "ci_high": tidy[ci[1]].to_numpy(),
            "is_reference": False,
        }
    )
    reference = {"relative_month": -1, "estimate": 0.0, "std_error": 0.0}
    reference |= {"ci_low": 0.0, "ci_high": 0.0, "is_reference": True}
    frame = pd.concat([frame, pd.DataFrame([reference])], ignore_index=True)
    treated = cells[cells["is_treated_zone"]]
    frame["n_treated_cells"] = frame["relative_month"].map(treated.groupby("rel").size())
    frame["n_treated_cells"] = frame["n_treated_cells"].fillna(0).astype(int)
    return frame.sort_values("relative_month").reset_index(drop=True)


def _pre_trend(cells: pd.DataFrame, start: int, design: Design) -> tuple[float, float]:
    """The pre-trend check: before the start, the treated zones' trend against the
    comparison zones' (points per month, a linear differential trend with zone and month
    effects) and the p-value of "no differential trend", by the wild cluster bootstrap
    when zones are few. A joint test of the event study's leads would be the usual check,
    but with few treated zones its cluster-robust covariance is nearly singular and the
    test rejects almost always."""
    import pyfixest as pf  # noqa: PLC0415

    pre = cells[cells["t"] < start]
    pre = pre.assign(
        zone=pd.factorize(pre["zone_id"])[0],
        trend_gap=np.where(pre["is_treated_zone"], pre["t"] - start, 0).astype(float),
    )
    fit = pf.feols("y ~ trend_gap | zone + t", pre, vcov={"CRV1": "zone"})
    slope = float(fit.coef().iloc[0])
    if pre["zone"].nunique() >= design.wild_bootstrap_below_zones:
        return slope, float(fit.pvalue().iloc[0])
    test = WildBootstrapTest(pre, "trend_gap", design.bootstrap_reps, design.seed)
    return slope, test.p_value(0.0)
