"""Does the evaluation tell the truth? Placebos and planted effects on the demo city
(`observatory validate-interventions`, docs/interventions.md "How good is it").

- Placebos: interventions that never happened, on zones no intervention treats, with a
  random start. The share whose interval excludes zero is the false-alarm rate; at 90%
  intervals it should be about 10%.
- Planted effects: the demo generator plants three interventions with known effects
  (`landing/_synthetic_interventions.csv`); coverage is the share of the build's
  intervals (status `ok`) that hold the planted average effect over their post-period.
- The minimum detectable effect at 80% power for the demo's design: (t(0.95) + t(0.80))
  x the spread (SD) of the placebo estimates, the design's real standard error.

Placebos on one city share its data, so they are not independent draws: the rejection
rate's binomial interval printed with it is optimistic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import beta, t

from observatory.config import Config
from observatory.interventions.estimate import evaluate
from observatory.interventions.step import _CELLS, OUTCOMES, design_of, month_number

#: The placebo outcomes: the survey's perception per band (what interventions aim at).
PLACEBO_OUTCOMES = (("perception", "night"), ("perception", "day"))
#: Outcomes the demo plants (or leaves at zero) and whose truth is known.
PLANTED_OUTCOMES = (
    ("perception", "day"),
    ("perception", "night"),
    ("lux", "night"),
    ("incident_ratio", "day"),
    ("incident_ratio", "night"),
)


@dataclass
class PlaceboReport:
    """What the placebo run measured."""

    n_placebos: int
    rejection: dict[str, float]  # outcome_band -> share of placebos rejecting "no effect"
    rejection_ci: dict[str, tuple[float, float]]
    mde: dict[str, float]  # outcome_band -> minimum detectable effect at 80% power
    coverage: float | None
    planted: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "n_placebos": self.n_placebos,
            "rejection_rate": self.rejection,
            "rejection_rate_ci": {k: list(v) for k, v in self.rejection_ci.items()},
            "mde_80": self.mde,
            "coverage_of_planted": self.coverage,
            "planted": self.planted,
        }


def _placebo_designs(
    zones: list[str], months: list[int], n: int, k: int, *, min_pre: int, rng: np.random.Generator
) -> list[tuple[set[str], int]]:
    """`n` placebo interventions: `k` untreated zones each and a start with at least
    `min_pre` months before it and one after."""
    starts = months[min_pre:]
    return [
        (set(rng.choice(zones, size=k, replace=False)), int(rng.choice(starts))) for _ in range(n)
    ]


def run_placebos(
    cells: pd.DataFrame,
    register: pd.DataFrame,
    cfg: Config,
    n: int,
    *,
    seed: int,
    outcomes: tuple[tuple[str, str], ...] = PLACEBO_OUTCOMES,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Estimates and p-values of `n` placebo interventions (with an estimate) per outcome."""
    treated = {z for zones in register["zone_ids"] for z in zones}
    cells = cells[~cells["zone_id"].isin(treated)]
    cells = cells.assign(t=pd.to_datetime(cells["period_start"]).map(month_number))
    design = replace(design_of(cfg.evaluation, cfg.index), full=False)
    sizes = [len(z) for z in register["zone_ids"]] or [3]
    rng = np.random.default_rng(seed)
    zones = sorted(cells["zone_id"].unique())
    months = sorted(cells["t"].unique())
    k = int(np.median(sizes))
    # more plans than needed: a placebo on withheld cells has no estimate and is replaced
    plans = _placebo_designs(zones, months, 2 * n, k, min_pre=design.min_pre_periods, rng=rng)
    estimates, p_values = {}, {}
    for outcome, band in outcomes:
        column = OUTCOMES[outcome][0]
        panel = cells.loc[cells["time_band"] == band, ["zone_id", "t", column]]
        panel = panel.rename(columns={column: "y"})
        est, pv = [], []
        for placebo_zones, start in plans:
            row = evaluate(panel, placebo_zones, start, None, design).effect
            if row["status"] == "ok":
                est.append(row["estimate"])
                pv.append(row["p_value"])
            if len(est) == n:
                break
        estimates[f"{outcome}_{band}"] = np.array(est)
        p_values[f"{outcome}_{band}"] = np.array(pv)
    return estimates, p_values


def planted_coverage(con: duckdb.DuckDBPyConnection, landing: Path) -> list[dict[str, Any]]:
    """The build's estimates of the demo's planted interventions against their truth."""
    truth = pd.read_csv(landing / "_synthetic_interventions.csv", parse_dates=["period_start"])
    effects = con.execute(
        "select intervention_id, outcome, time_band, status, estimate, ci_low, ci_high, "
        "post_period_start, post_period_end from marts.intervention_effects"
    ).df()
    rows = []
    for e in effects.itertuples():
        if (e.outcome, e.time_band) not in PLANTED_OUTCOMES or e.status != "ok":
            continue
        mine = truth[
            (truth["intervention_id"] == e.intervention_id)
            & (truth["outcome"] == e.outcome)
            & (truth["time_band"] == e.time_band)
            & (truth["period_start"] >= pd.Timestamp(e.post_period_start))
            & (truth["period_start"] <= pd.Timestamp(e.post_period_end))
        ]
        planted = float(mine["effect"].mean()) if len(mine) else 0.0
        covered = bool(e.ci_low <= planted <= e.ci_high) if pd.notna(e.ci_low) else False
        rows.append(
            {
                "intervention_id": e.intervention_id,
                "outcome": e.outcome,
                "time_band": e.time_band,
                "planted": round(planted, 3),
                "estimate": e.estimate,
                "ci_low": e.ci_low,
                "ci_high": e.ci_high,
                "is_covered": covered,
            }
        )
    return rows


def _clopper_pearson(hits: int, n: int, level: float = 0.90) -> tuple[float, float]:
    a = (1 - level) / 2
    low = beta.ppf(a, hits, n - hits + 1) if hits else 0.0
    high = beta.ppf(1 - a, hits + 1, n - hits) if hits < n else 1.0
    return float(low), float(high)


def validate(
    cfg: Config,
    n_placebos: int,
    seed: int,
    outcomes: tuple[tuple[str, str], ...] = PLACEBO_OUTCOMES,
) -> PlaceboReport:
    """Placebos, planted effects and the MDE on a built demo city's warehouse."""
    alpha = 1 - cfg.index.confidence
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        cells = con.execute(_CELLS).df()
        register = con.execute("select * from ref.interventions").df()
        planted = planted_coverage(con, cfg.resolve("landing"))
    estimates, p_values = run_placebos(
        cells, register, cfg, n_placebos, seed=seed, outcomes=outcomes
    )
    rejection, rejection_ci, mde = {}, {}, {}
    n_zones = cells["zone_id"].nunique() - len({z for zs in register["zone_ids"] for z in zs})
    critical = t.ppf(1 - alpha / 2, n_zones - 1) + t.ppf(0.80, n_zones - 1)
    for key, pv in p_values.items():
        hits = int((pv < alpha).sum())
        rejection[key] = hits / len(pv) if len(pv) else float("nan")
        rejection_ci[key] = _clopper_pearson(hits, len(pv))
        mde[key] = float(critical * np.std(estimates[key], ddof=1))
    n = min(len(v) for v in p_values.values())
    coverage = float(np.mean([r["is_covered"] for r in planted])) if planted else None
    return PlaceboReport(n, rejection, rejection_ci, mde, coverage, planted)


def table(report: PlaceboReport, scale: str, started: dt.datetime) -> str:
    """The report as printed by `observatory validate-interventions`."""
    lines = [
        f"Intervention evaluation on the {scale} demo city (SYNTHETIC), "
        f"{report.n_placebos} placebos per outcome, 90% intervals:",
        "",
        "  placebo outcome       rejects 'no effect'  (90% CI)          MDE at 80% power",
    ]
    for key, rate in report.rejection.items():
        low, high = report.rejection_ci[key]
        lines.append(
            f"  {key:<21} {rate:>6.1%}              ({low:.1%}-{high:.1%})"
            f"{report.mde[key]:>14.1f} points"
        )
    lines += ["", "  planted effects (build's estimates vs truth):"]
    for r in report.planted:
        mark = "covered" if r["is_covered"] else "MISSED"
        lines.append(
            f"  {r['intervention_id']:<18} {r['outcome']:<15} {r['time_band']:<6}"
            f" planted {r['planted']:>7.2f}  estimate {r['estimate']:>7.2f}"
            f"  [{r['ci_low']:.2f}, {r['ci_high']:.2f}]  {mark}"
        )
    if report.coverage is not None:
        lines.append(
            f"  coverage of planted effects: {report.coverage:.0%} of {len(report.planted)}"
        )
    lines.append(f"  ({(dt.datetime.now(dt.UTC) - started).total_seconds():.0f} s)")
    return "\n".join(lines)
