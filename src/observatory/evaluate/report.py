"""The definition-of-done thresholds, and the table and JSON of `validate-method`.

A figure "misses" when it is on the wrong side of its threshold; a figure with nothing to
measure (n = 0: e.g. the spread ratio of a scenario whose zones barely differ) is reported
as n/a and misses nothing. The command exits 0 even when figures miss (it is a
measurement), unless `--strict`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

from observatory.evaluate.metrics import Tally
from observatory.evaluate.runner import ScenarioResult


@dataclass(frozen=True)
class Threshold:
    """A figure's definition of done.

    Attributes:
        label: short column heading.
        op: ">=", "<=" or "==".
        bound: the threshold.
        as_count: the figure is the tally's total (a count), not its rate.
    """

    label: str
    op: str
    bound: float
    as_count: bool = False

    def passes(self, value: float) -> bool:
        """Whether a value meets the threshold (NaN, i.e. n/a, always does)."""
        return math.isnan(value) or _OPS[self.op](value, self.bound)

    def value(self, tally: Tally) -> float:
        """The figure of a tally: its rate, or its total for counts (NaN when n is 0)."""
        if not tally.n:
            return math.nan
        return tally.total if self.as_count else tally.rate


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
}

THRESHOLDS: dict[str, Threshold] = {
    "perception_coverage": Threshold("P cov", ">=", 0.85),
    "index_coverage": Threshold("I cov", ">=", 0.85),
    "perception_coverage_atypical": Threshold("P atyp", ">=", 0.80),
    "index_coverage_atypical": Threshold("I atyp", ">=", 0.80),
    "false_change_rate": Threshold("false chg", "<=", 0.10),
    "trend_share": Threshold("trend", "<=", 0.10),
    "spread_ratio": Threshold("spread", ">=", 0.60),
    "zero_between_var": Threshold("A=0", "==", 0.0, as_count=True),
}
MISS = "*"
_WIDTH = 10


def figures(result: ScenarioResult) -> dict[str, dict[str, object]]:
    """A scenario's figures: value (None = n/a), n, threshold and whether it passes."""
    out: dict[str, dict[str, object]] = {}
    for name, threshold in THRESHOLDS.items():
        tally = result.tallies.get(name, Tally())
        value = threshold.value(tally)
        out[name] = {
            "value": None if math.isnan(value) else round(value, 4),
            "n": tally.n,
            "threshold": f"{threshold.op} {threshold.bound:g}",
            "passes": threshold.passes(value),
        }
    return out


def misses(results: list[ScenarioResult]) -> list[str]:
    """`scenario.figure` of every figure that misses its threshold."""
    return [
        f"{r.scenario.name}.{name}"
        for r in results
        for name, figure in figures(r).items()
        if not figure["passes"]
    ]


def as_json(results: list[ScenarioResult], quick: bool) -> dict[str, object]:
    """The whole measurement as a JSON-ready dict."""
    return {
        "quick": quick,
        "thresholds": {k: f"{t.op} {t.bound:g}" for k, t in THRESHOLDS.items()},
        "scenarios": [
            {
                "scenario": r.scenario.name,
                "description": r.scenario.description,
                "replicates": r.replicates,
                "zones": r.scenario.spec.n_zones,
                "months": r.scenario.spec.n_months,
                "seconds": round(r.seconds, 1),
                "figures": figures(r),
            }
            for r in results
        ],
        "misses": misses(results),
    }


def table(results: list[ScenarioResult], quick: bool) -> str:
    """The measurement as a text table: per scenario a row of figures and a row of n."""
    head = f"{'scenario':<20} {'reps':>4} {'secs':>6} " + " ".join(
        f"{t.label:>{_WIDTH}}" for t in THRESHOLDS.values()
    )
    dod = f"{'DoD':<20} {'':>4} {'':>6} " + " ".join(
        f"{(t.op + ' ' + format(t.bound, 'g')):>{_WIDTH}}" for t in THRESHOLDS.values()
    )
    lines = [
        f"Method validation ({'quick' if quick else 'full'}): SYNTHETIC cities with a known "
        "truth, built by the real pipeline; 90% intervals",
        head,
        dod,
    ]
    for r in results:
        figs = figures(r)
        lines.append(
            f"{r.scenario.name:<20} {r.replicates:>4} {r.seconds:>6.0f} "
            + " ".join(f"{_cell(name, f):>{_WIDTH}}" for name, f in figs.items())
        )
        lines.append(
            f"{'  n':<20} {'':>4} {'':>6} " + " ".join(f"{f['n']:>{_WIDTH}}" for f in figs.values())
        )
    missed = misses(results)
    seconds = sum(r.seconds for r in results)
    lines += [
        f"{MISS} = misses its threshold: {len(missed)} of {len(results) * len(THRESHOLDS)} "
        f"figures; {seconds:.0f} s in all.",
        "n = what a figure rests on: cells (coverage, changes), zone-band series (trend), "
        "band-month groups (spread, A=0); n/a = nothing to measure.",
    ]
    return "\n".join(lines)


def _cell(name: str, figure: dict[str, object]) -> str:
    value = figure["value"]
    if value is None:
        return "n/a"
    text = f"{value:.0f}" if THRESHOLDS[name].as_count else f"{value:.3f}"
    return text + ("" if figure["passes"] else MISS)
