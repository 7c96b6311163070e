"""`observatory validate-method`: the method's figures on simulated cities with a known truth.

The quick scenarios run through the real pipeline once per module (about 35 s on 2
cores) and every figure is held to its definition-of-done threshold, as printed by the
command. A figure known to miss today is an xfail(strict=True) carrying the measured
value: when the estimators are fixed the test XPASSes and fails, so the mark must go.
Thresholds are never lowered and seeds never picked to pass.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from observatory.cli import app
from observatory.evaluate import metrics, report, scenarios, truth
from observatory.evaluate.city import config
from observatory.evaluate.draws import draw_answers, draw_incidents
from observatory.evaluate.runner import ScenarioResult, run_scenarios, seed_for
from observatory.evaluate.simulate import build_simulated, simulate_city, truth_frame
from observatory.evaluate.spec import CitySpec, Clusters
from observatory.timebands import time_band_at

#: (scenario, figure) -> the figures measured for the ones that miss in the quick run (this
#: test) today, with the full run's (`make validate-method`) beside them.
KNOWN_MISSES: dict[tuple[str, str], str] = {
    ("realistic_incidents", "index_coverage_atypical"): (
        "quick 0.781 of 64 cells (standard error about 0.05); full 0.898 of 960"
    ),
}
#: Scenarios whose zones differ too little for a spread ratio (n/a by design).
NO_SPREAD = {"weak_differences", "combined"}


def _cases() -> list[object]:
    cases = []
    for scenario in scenarios.SCENARIOS:
        for figure in report.THRESHOLDS:
            reason = KNOWN_MISSES.get((scenario.name, figure))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(
                pytest.param(scenario.name, figure, marks=marks, id=f"{scenario.name}-{figure}")
            )
    return cases


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ScenarioResult]:
    """Every quick scenario, QUICK_REPLICATES replicates each, built by the pipeline."""
    chosen = scenarios.select(quick_run=True)
    results = run_scenarios(chosen, scenarios.QUICK_REPLICATES, tmp_path_factory.mktemp("vm"))
    return {r.scenario.name: r for r in results}


@pytest.mark.parametrize(("scenario", "figure"), _cases())
def test_quick_scenario_meets_the_threshold(
    quick_results: dict[str, ScenarioResult], scenario: str, figure: str
) -> None:
    measured = report.figures(quick_results[scenario])[figure]
    assert measured["passes"], (
        f"{scenario}.{figure} = {measured['value']} on {measured['n']}, DoD {measured['threshold']}"
    )


def test_every_figure_rests_on_data(quick_results: dict[str, ScenarioResult]) -> None:
    # n/a passes a threshold, so a figure that silently measured nothing must fail here
    for name, result in quick_results.items():
        empty = {f for f, v in report.figures(result).items() if v["n"] == 0}
        assert empty == ({"spread_ratio"} if name in NO_SPREAD else set()), name


def test_true_incident_ratio_averages_one_per_band() -> None:
    spec = CitySpec(n_zones=12, n_months=3, incident_zone_sd=1.0)
    cells = truth_frame(spec, np.random.default_rng(0))
    means = cells.groupby("time_band")["true_incident_ratio"].mean()
    assert np.allclose(means, 1.0)
    mu = pd.Series([1.0, 3.0, 10.0, 10.0])
    band = pd.Series(["day", "day", "night", "night"])
    assert truth.incident_ratio(mu, band).tolist() == [0.5, 1.5, 1.0, 1.0]


def test_true_perception_is_the_mean_of_clipped_answers() -> None:
    assert truth.clipped_normal_mean(np.array(50.0), np.array(10.0)) == pytest.approx(50.0)
    # at the top of the scale half the answers are clipped: 100 - sd * phi(0)
    assert truth.clipped_normal_mean(np.array(100.0), np.array(15.0)) == pytest.approx(
        100.0 - 15.0 / np.sqrt(2.0 * np.pi)
    )
    draws = np.clip(np.random.default_rng(1).normal(90.0, 20.0, 400_000), 0.0, 100.0)
    assert truth.clipped_normal_mean(np.array(90.0), np.array(20.0)) == pytest.approx(
        draws.mean(), abs=0.05
    )


def test_true_index_applies_the_default_method() -> None:
    # goalposts: perception 60 -> 60, ratio 1 -> 66.7; expert 0.5 / 0.25 without environment
    value = truth.true_index(np.array([60.0]), np.array([1.0]))
    assert value[0] == pytest.approx((0.5 * 60.0 + 0.25 * 200.0 / 3.0) / 0.75)


def test_coverage_allows_the_rounding_of_published_ends() -> None:
    cells = pd.DataFrame(
        {
            "true": [50.0, 50.04, 50.06, 49.0],
            "low": [49.0, 49.0, 49.0, np.nan],
            "high": [51.0, 50.0, 50.0, np.nan],
        }
    )
    assert metrics.coverage(cells, "true", "low", "high") == metrics.Tally(2.0, 3)


def test_false_changes_count_flags_on_no_change_or_the_wrong_sign() -> None:
    trends = pd.DataFrame(
        {
            "change_vs_previous": [2.0, -2.0, 3.0, 1.0, np.nan],
            "is_change_significant": [True, True, True, False, True],
            "true_change": [0.0, 1.5, 1.5, 0.0, 0.0],
        }
    )
    # row 1: no true change; row 2: the wrong sign; row 3: right; row 4: not flagged
    assert metrics.false_changes(trends) == metrics.Tally(2.0, 4)


def test_zero_between_var_counts_collapsed_groups_of_three_zones() -> None:
    groups = pd.DataFrame(
        {
            "time_band": ["day"] * 3 + ["night"] * 3 + ["day"] * 2,
            "period_start": [1] * 6 + [2] * 2,
            "between_var": [0.0] * 3 + [4.0] * 3 + [0.0] * 2,
            "perception_raw": [50.0] * 8,
        }
    )
    assert metrics.zero_between_var(groups) == metrics.Tally(1.0, 2)


def test_atypical_zones_are_the_furthest_from_the_mean() -> None:
    cells = pd.DataFrame(
        {
            "zone_id": [f"Z{i}" for i in range(10)] * 2,
            "time_band": ["day"] * 10 + ["night"] * 10,
            "true_perception": [50.0] * 9 + [80.0] + [40.0] + [50.0] * 9,
        }
    )
    picked = metrics.atypical(cells)
    assert sorted(map(tuple, picked.to_numpy())) == [("Z0", "night"), ("Z9", "day")]


def test_incidents_fall_in_the_band_and_month_they_are_drawn_for(tmp_path: Path) -> None:
    project = config(tmp_path)
    for band in ("day", "night"):
        for month in ("2024-03-01", "2024-10-01"):  # the months of both DST changes
            cells = pd.DataFrame(
                {"zone_id": ["Z0"], "time_band": [band], "period_start": [month], "mu": [200.0]}
            )
            rows = draw_incidents(
                cells, np.random.default_rng(2), None, project.city.timezone, project.time_bands
            )
            assert len(rows) > 100
            at = rows["occurred_at"]
            assert {time_band_at(project.city, project.time_bands, t) for t in at} == {band}
            local = at.dt.tz_convert(project.city.timezone)
            assert set(local.dt.strftime("%Y-%m-01")) == {month}


def test_cluster_answers_carry_their_psu_and_split_evenly() -> None:
    cells = pd.DataFrame(
        {
            "zone_id": ["Z0"],
            "period_start": [dt.date(2024, 1, 1)],
            "n": [10],
            "day": [60.0],
            "night": [50.0],
            "sd": [15.0],
        }
    )
    rows = draw_answers(cells, np.random.default_rng(3), Clusters(psus_per_cell=4, icc=0.14))
    day = rows[rows["time_band"] == "day"]
    assert sorted(day["cluster_id"].value_counts().tolist()) == [2, 2, 3, 3]
    assert (rows["stratum_id"] == "Z0").all() and rows["score"].between(0, 100).all()


def test_a_rerun_replaces_the_warehouse_of_a_relative_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = CitySpec(n_zones=4, n_months=2, clusters=Clusters(psus_per_cell=2, icc=0.1))
    sim = simulate_city(spec, seed_for("tiny", 0), config(Path("rel")))
    for _ in range(2):
        city = build_simulated(sim, Path("rel"))
    assert city.path == tmp_path / "rel" / "warehouse.duckdb"
    (rows,) = city.query("select count(*) as n from validated.survey")["n"]
    assert rows == len(sim.survey)


def test_cli_prints_json_and_exits_nonzero_only_when_strict(tmp_path: Path) -> None:
    args = ["validate-method", "--quick", "--scenario", "few_zones", "--replicates", "1"]
    args += ["--dir", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert [s["scenario"] for s in figures["scenarios"]] == ["few_zones"]
    strict = CliRunner().invoke(app, [*args, "--strict"])
    assert strict.exit_code == (1 if figures["misses"] else 0)
    assert "DoD" in strict.stdout
    unknown = CliRunner().invoke(app, ["validate-method", "--scenario", "nope"])
    assert unknown.exit_code == 2
