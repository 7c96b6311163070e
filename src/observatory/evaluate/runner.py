"""Run the scenarios: simulate, build through the real pipeline, read the marts, measure.

One DuckDB warehouse per scenario and replicate, in `<dir>/<scenario>/r<NN>/`; re-running
replaces it. The seed of a replicate is fixed by the scenario's name and the replicate's
number, so every run draws the same cities; seeds are never tuned.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from observatory.config import IndexConfig
from observatory.evaluate import metrics
from observatory.evaluate.city import City, config
from observatory.evaluate.metrics import Tally
from observatory.evaluate.scenarios import Scenario
from observatory.evaluate.simulate import SimulatedCity, build_simulated, simulate_city

log = logging.getLogger(__name__)

KEYS = ["zone_id", "time_band", "period_start"]
_ZONE_INDEX = (
    "zone_id, time_band, period_start, n_respondents, is_suppressed, is_modelled, "
    "perception_score, perception_ci_low, perception_ci_high, index_value, index_ci_low, "
    "index_ci_high, shrinkage_weight"
)
_TRENDS = (
    "zone_id, time_band, period_start, index_value, change_vs_previous, "
    "is_change_significant, is_trend_significant"
)


@dataclass
class ScenarioResult:
    """A scenario's figures summed over its replicates."""

    scenario: Scenario
    replicates: int = 0
    seconds: float = 0.0
    tallies: dict[str, Tally] = field(default_factory=dict)

    def add(self, tallies: dict[str, Tally], seconds: float) -> None:
        """Add one replicate's tallies."""
        self.replicates += 1
        self.seconds += seconds
        for name, tally in tallies.items():
            self.tallies[name] = self.tallies.get(name, Tally()) + tally


def seed_for(name: str, replicate: int) -> np.random.SeedSequence:
    """The fixed seed of a scenario's replicate (a CRC of its name, and its number)."""
    return np.random.SeedSequence([zlib.crc32(name.encode("utf-8")), replicate])


def read_published(city: City) -> dict[str, pd.DataFrame]:
    """The published figures a replicate is judged on.

    Returns:
        "cells" (marts.zone_index), "trends" (marts.zone_trends) and "groups"
        (idx.idx_perception_eb: between_var per cell; empty if the column is gone).
    """
    eb = city.query("select * from idx.idx_perception_eb limit 0").columns
    groups_sql = (
        "select time_band, period_start, between_var, perception_raw from idx.idx_perception_eb"
        if "between_var" in eb
        else "select time_band, period_start, null::double as between_var, "
        "null::double as perception_raw from idx.idx_perception_eb where false"
    )
    frames = {
        "cells": city.query(f"select {_ZONE_INDEX} from marts.zone_index"),  # noqa: S608 (column lists are constants in this module)
        "trends": city.query(f"select {_TRENDS} from marts.zone_trends"),  # noqa: S608 (column lists are constants in this module)
        "groups": city.query(groups_sql),
    }
    for frame in frames.values():
        frame["period_start"] = pd.to_datetime(frame["period_start"])
    return frames


def measure(sim: SimulatedCity, tables: dict[str, pd.DataFrame]) -> dict[str, Tally]:
    """Every figure of one replicate, from its published tables and its truth."""
    truth = sim.truth[[*KEYS, "true_perception", "true_index"]]
    cells = metrics.published(tables["cells"].merge(truth, on=KEYS, how="inner"))
    odd = cells.merge(metrics.atypical(sim.truth), on=["zone_id", "time_band"])
    trends = tables["trends"].merge(metrics.true_changes(sim.truth), on=KEYS, how="inner")
    perception = ("true_perception", "perception_ci_low", "perception_ci_high")
    index = ("true_index", "index_ci_low", "index_ci_high")
    return {
        "perception_coverage": metrics.coverage(cells, *perception),
        "index_coverage": metrics.coverage(cells, *index),
        "perception_coverage_atypical": metrics.coverage(odd, *perception),
        "index_coverage_atypical": metrics.coverage(odd, *index),
        "false_change_rate": metrics.false_changes(trends),
        "trend_share": metrics.trend_share(trends, IndexConfig().trend_min_periods),
        "spread_ratio": metrics.spread_ratios(cells),
        "zero_between_var": metrics.zero_between_var(tables["groups"]),
    }


def run_replicate(
    scenario: Scenario, replicate: int, directory: Path, index: dict[str, object] | None = None
) -> dict[str, Tally]:
    """Simulate, build and measure one replicate of a scenario.

    Args:
        scenario: the scenario.
        replicate: its number (0, 1, ...), which fixes the seed.
        directory: the root folder of the warehouses.
        index: `[index]` settings (default: the method's defaults).

    Returns:
        The replicate's tallies.
    """
    folder = directory / scenario.name / f"r{replicate:02d}"
    sim = simulate_city(scenario.spec, seed_for(scenario.name, replicate), config(folder))
    city = build_simulated(sim, folder, index)
    return measure(sim, read_published(city))


def run_scenarios(
    scenarios: list[Scenario],
    replicates: int,
    directory: Path,
    progress: Callable[[str], None] | None = None,
    index: dict[str, object] | None = None,
) -> list[ScenarioResult]:
    """Run every replicate of every scenario, in order.

    Args:
        scenarios: the scenarios (see `scenarios.select`).
        replicates: replicates per scenario.
        directory: the root folder of the warehouses.
        progress: called with one line after each replicate (e.g. to echo it).
        index: `[index]` settings (default: the method's defaults).

    Returns:
        One result per scenario.
    """
    results = []
    for scenario in scenarios:
        result = ScenarioResult(scenario)
        for replicate in range(replicates):
            started = time.perf_counter()
            tallies = run_replicate(scenario, replicate, directory, index)
            seconds = time.perf_counter() - started
            result.add(tallies, seconds)
            line = f"{scenario.name} replicate {replicate + 1}/{replicates}: {seconds:.1f} s"
            log.info(line)
            if progress:
                progress(line)
        results.append(result)
    return results
