"""Normalisation, weighting and aggregation against hand-computed fixtures, and the
pipeline run end to end with non-default method choices."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from observatory.index.aggregate import aggregate, components, pca_weights, scheme_weights
from observatory.index.normalise import normalise
from tests.test_index_fixtures import make_city, simulate_survey

NAN = np.nan
# Two groups (band-months) of four zones; the last zone of the first group has no value.
VALUES = np.array([[10.0, 20.0, 40.0, NAN], [5.0, 5.0, 5.0, 5.0]])


@pytest.mark.parametrize(
    ("method", "goalposts", "expected"),
    [
        # 100 * (x - 0) / (50 - 0), clipped to 0-100
        ("goalposts", (0.0, 50.0), [[20.0, 40.0, 80.0, NAN], [10.0, 10.0, 10.0, 10.0]]),
        # worst 50, best 0: lower is safer
        ("goalposts", (50.0, 0.0), [[80.0, 60.0, 20.0, NAN], [90.0, 90.0, 90.0, 90.0]]),
        # (x - 10) / (40 - 10); a group with no spread is neutral (50)
        ("minmax", (0.0, 50.0), [[0.0, 100 / 3, 100.0, NAN], [50.0, 50.0, 50.0, 50.0]]),
        ("minmax", (50.0, 0.0), [[100.0, 200 / 3, 0.0, NAN], [50.0, 50.0, 50.0, 50.0]]),
        # mean 23.333, sd (n-1) 15.2753: 50 + 10 z
        ("zscore", (0.0, 50.0), [[41.2713, 47.8178, 60.9109, NAN], [50.0] * 4]),
        ("zscore", (50.0, 0.0), [[58.7287, 52.1822, 39.0891, NAN], [50.0] * 4]),
        # percentile ranks 100 (r - 1) / (n - 1); ties share the average rank
        ("rank", (0.0, 50.0), [[0.0, 50.0, 100.0, NAN], [50.0] * 4]),
        ("rank", (50.0, 0.0), [[100.0, 50.0, 0.0, NAN], [50.0] * 4]),
    ],
)
def test_normalisation_matches_hand_computed_scores(
    method: str, goalposts: tuple[float, float], expected: list[list[float]]
) -> None:
    got = normalise(VALUES, method, goalposts)  # type: ignore[arg-type]
    np.testing.assert_allclose(got, np.array(expected), atol=1e-4)


def test_rank_normalisation_averages_ties() -> None:
    got = normalise(np.array([10.0, 10.0, 40.0]), "rank", (0.0, 1.0))
    np.testing.assert_allclose(got, [25.0, 25.0, 100.0])


def test_goalposts_clip_outside_values() -> None:
    got = normalise(np.array([-10.0, 120.0]), "goalposts", (0.0, 100.0))
    np.testing.assert_allclose(got, [0.0, 100.0])


COMPS = np.array(
    [
        [80.0, 60.0, 40.0],  # all three components
        [80.0, 60.0, NAN],  # no sensors: environment missing
        [NAN, 60.0, 40.0],  # no perception: no index
        [0.0, 50.0, 50.0],  # a zero component
    ]
)
WEIGHTS = np.array([0.5, 0.25, 0.25])


def test_arithmetic_aggregation_matches_hand_computed_index() -> None:
    got = aggregate(COMPS, WEIGHTS, "arithmetic")
    # .5*80 + .25*60 + .25*40 = 65; (.5*80 + .25*60) / .75 = 73.333; .5*0 + .25*50*2 = 25
    np.testing.assert_allclose(got, [65.0, 220 / 3, NAN, 25.0], atol=1e-9)


def test_geometric_aggregation_matches_hand_computed_index() -> None:
    got = aggregate(COMPS, WEIGHTS, "geometric")
    # 80^.5 60^.25 40^.25 = 62.6034; 80^(2/3) 60^(1/3) = 72.6848; 1^.5 50^.5 (floor 1) = 7.0711
    np.testing.assert_allclose(got, [62.6034, 72.6848, NAN, 7.0711], atol=1e-4)


def test_components_average_the_environment_indicators_a_cell_has() -> None:
    goalposts = {
        "perception": (0.0, 100.0),
        "incident_ratio": (3.0, 0.0),
        "lux": (0.0, 30.0),
        "footfall": (0.0, 200.0),
        "noise_db": (85.0, 45.0),
    }
    indicators = {
        "perception": np.array([70.0, 55.0]),
        "incident_ratio": np.array([1.5, 0.0]),
        "lux": np.array([15.0, NAN]),  # no lux meter in the second zone
        "footfall": np.array([100.0, 50.0]),
        "noise_db": np.array([65.0, NAN]),
    }
    got = components(indicators, "goalposts", goalposts)
    # incidents 100 (3 - 1.5) / 3 = 50; environment mean(50, 50, 50) = 50 and 25 (footfall only)
    np.testing.assert_allclose(got, [[70.0, 50.0, 50.0], [55.0, 100.0, 25.0]])


def test_weight_schemes() -> None:
    expert = {"perception": 2.0, "incidents": 1.0, "environment": 1.0}
    np.testing.assert_allclose(scheme_weights("equal", expert), [1 / 3] * 3)
    np.testing.assert_allclose(scheme_weights("expert", expert), [0.5, 0.25, 0.25])


def test_pca_weights_are_equal_for_equally_correlated_components() -> None:
    rng = np.random.default_rng(3)
    common = rng.normal(size=2000)
    comps = np.column_stack([common + rng.normal(size=2000) for _ in range(3)])
    # one factor (eigenvalue 2) with equal loadings: each component 1/3
    np.testing.assert_allclose(pca_weights(comps), [1 / 3] * 3, atol=0.02)


def test_pca_weights_give_an_independent_component_its_own_factor() -> None:
    rng = np.random.default_rng(4)
    common = rng.normal(size=4000)
    comps = np.column_stack(
        [
            common + 0.3 * rng.normal(size=4000),
            rng.normal(size=4000),
            common + 0.3 * rng.normal(size=4000),
        ]
    )
    w = pca_weights(comps)
    # two factors kept (eigenvalues ~1.9 and ~1.0): perception and environment share the
    # first, incidents is the second, weighted by the variance each factor explains
    assert w.sum() == pytest.approx(1.0)
    assert w[0] == pytest.approx(w[2], abs=0.02)
    assert 0.2 < w[1] < 0.5


def test_pca_weights_leave_out_a_component_the_city_has_no_data_for() -> None:
    rng = np.random.default_rng(5)
    common = rng.normal(size=500)
    no_sensors = np.full(500, np.nan)
    comps = np.column_stack(
        [common + rng.normal(size=500), common + rng.normal(size=500), no_sensors]
    )
    np.testing.assert_allclose(pca_weights(comps), [0.5, 0.5, 0.0], atol=1e-9)


@pytest.mark.parametrize(
    "method",
    [
        {"normalisation": "rank", "weighting": "pca", "aggregation": "geometric"},
        {"normalisation": "zscore", "weighting": "equal", "aggregation": "arithmetic"},
        {"normalisation": "minmax", "shrinkage": "none", "mc_normalisations": ["minmax"]},
        {
            "normalisation": "goalposts",
            "between_var_estimator": "li_lahiri",
            "between_var_months": 3,
            "perception_interval": "model",
        },
        {"normalisation": "goalposts", "shrinkage_covariates": ["incident_ratio"]},
    ],
)
def test_pipeline_runs_with_each_method_choice(tmp_path: Path, method: dict[str, object]) -> None:
    rng = np.random.default_rng(11)
    zones = [f"Z{i}" for i in range(12)]
    truth = pd.DataFrame(
        {
            "zone_id": zones,
            "period_start": dt.date(2025, 3, 1),
            "n": 20,
            "day": np.linspace(50, 80, 12),
            "night": np.linspace(30, 60, 12),
        }
    )
    incidents = pd.DataFrame(
        {
            "incident_id": [f"I{i}" for i in range(24)],
            "occurred_at": pd.Timestamp("2025-03-10 12:00", tz="UTC"),
            "zone_id": np.repeat(zones[:6], 4),
            "category": "theft",
            "severity": 1.0,
        }
    )
    city = make_city(
        tmp_path,
        pd.DataFrame({"zone_id": zones, "population": 4000.0}),
        simulate_survey(truth, rng),
        incidents,
        index={"uncertainty_draws": 100, **method},
    )
    out = city.query("select * from marts.zone_index")
    assert len(out) == 24
    assert out["index_value"].between(0, 100).all()
    assert (out["index_ci_low"] <= out["index_ci_high"]).all()
    assert set(out["normalisation"]) == {method["normalisation"]}
    # zones with incidents (the first six) score lower on the incident component
    day = out[out["time_band"] == "day"].set_index("zone_id")
    assert (
        day.loc[zones[:6], "incidents_component"].max()
        < day.loc[zones[6:], "incidents_component"].min()
    )


def test_ranks_in_chunks_are_the_ranks_of_every_band_month_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 18: ranks are computed a few thousand band-month rows at a time to bound
    rankdata's temporaries; each row is ranked on its own, so chunking changes no rank
    (withheld cells and missing draws are NaN, ties take the lowest rank)."""
    from scipy.stats import rankdata  # noqa: PLC0415

    from observatory.index import montecarlo  # noqa: PLC0415

    rng = np.random.default_rng(11)
    index = rng.integers(0, 40, size=(60, 2, 7, 30)).astype(float)  # ties on purpose
    index[rng.random(index.shape) < 0.05] = np.nan
    published = rng.random(index.shape[1:]) < 0.8
    whole = rankdata(np.where(published, -index, np.nan), axis=-1, method="min", nan_policy="omit")
    monkeypatch.setattr(montecarlo, "_RANK_ROWS", 37)  # 840 rows: 23 chunks, the last short
    chunked = montecarlo.ranks(index, published)
    assert np.array_equal(chunked, whole, equal_nan=True)
    assert np.isnan(chunked[:, ~published]).all() and np.nanmin(chunked) == 1
