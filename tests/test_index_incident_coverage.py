"""A month no incident source covers has a missing incident component, never a "safe" one:
the coverage window is inferred from the source's data or declared in its config."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from observatory import pipeline
from observatory.config import SourceConfig
from tests.test_index_fixtures import make_city, simulate_survey

MONTHS = [dt.date(2025, m, 1) for m in (1, 2, 3)]
ZONES = [f"Z{i}" for i in range(8)]


def _city(tmp_path: Path):  # noqa: ANN202
    rng = np.random.default_rng(4)
    truth = pd.DataFrame(
        [
            {"zone_id": z, "period_start": m, "n": 20, "day": 60 + i, "night": 45 + i}
            for i, z in enumerate(ZONES)
            for m in MONTHS
        ]
    )
    # incidents in January and February only: March's survey arrived first
    incidents = pd.DataFrame(
        [
            {
                "incident_id": f"I{z}{m:%m}{k}",
                "occurred_at": pd.Timestamp(m, tz="UTC") + pd.Timedelta(days=3 + k, hours=12),
                "zone_id": z,
                "category": "theft",
                "severity": 1.0,
            }
            for z in ZONES[:4]
            for m in MONTHS[:2]
            for k in range(3)
        ]
    )
    return make_city(
        tmp_path,
        pd.DataFrame({"zone_id": ZONES, "population": 5000.0}),
        simulate_survey(truth, rng),
        incidents,
        index={"uncertainty_draws": 100},
    )


def _by_month(city, cfg=None) -> pd.DataFrame:  # noqa: ANN001
    if cfg is not None:
        pipeline.build(cfg)
    return city.query(
        "select period_start, zone_id, has_incident_coverage, incident_count, incident_ratio, "
        "incidents_component, index_value, perception_component "
        "from marts.zone_index where time_band = 'day' order by period_start, zone_id"
    )


def test_a_month_after_the_source_ends_is_missing_not_safe(tmp_path: Path) -> None:
    city = _city(tmp_path)
    out = _by_month(city)
    march = out[out["period_start"].dt.date == MONTHS[2]]
    assert not march["has_incident_coverage"].any()
    assert march["incident_ratio"].isna().all() and march["incidents_component"].isna().all()
    assert march["incident_count"].isna().all()
    # the index is still published, on the components the cell has
    assert march["index_value"].notna().all()
    assert np.allclose(march["index_value"], march["perception_component"], atol=0.1)
    # inside the window, a zone without incidents is a real zero: the safest score
    feb = out[out["period_start"].dt.date == MONTHS[1]].set_index("zone_id")
    assert feb["has_incident_coverage"].all()
    assert (feb.loc[ZONES[4:], "incidents_component"] == 100.0).all()


def test_a_declared_coverage_overrides_the_inferred_one(tmp_path: Path) -> None:
    city = _city(tmp_path)
    police = SourceConfig.model_validate(
        {
            "name": "police",
            "kind": "incidents",
            "path": "police/*.csv",
            "columns": {"incident_id": "id", "occurred_at": "t", "category": "c"},
            # the police say their export covers January only (February's rows are late)
            "coverage": {"start": "2025-01-01", "end": "2025-01-31"},
        }
    )
    cfg = city.cfg.model_copy(update={"sources": [*city.cfg.sources, police]})
    out = _by_month(city, cfg)
    covered = out.groupby(out["period_start"].dt.date)["has_incident_coverage"].all()
    assert covered.to_dict() == {MONTHS[0]: True, MONTHS[1]: False, MONTHS[2]: False}
    # the reference rate pools the covered month only: January's ratios average 1 over zones
    jan = out[out["period_start"].dt.date == MONTHS[0]]
    assert abs(jan["incident_ratio"].mean() - 1.0) < 0.01


def test_rates_are_per_hour_of_the_band_so_longer_months_do_not_read_as_riskier(
    tmp_path: Path,
) -> None:
    # the same hourly risk in February (28 days) and March (31): 2 incidents a day by day
    months = [dt.date(2025, 2, 1), dt.date(2025, 3, 1)]
    rng = np.random.default_rng(9)
    truth = pd.DataFrame(
        [
            {"zone_id": z, "period_start": m, "n": 20, "day": 60.0, "night": 45.0}
            for z in ZONES
            for m in months
        ]
    )
    days = {months[0]: 28, months[1]: 31}
    incidents = pd.DataFrame(
        [
            {
                "incident_id": f"I{z}{m:%m}{d}-{h}",
                "occurred_at": pd.Timestamp(m, tz="UTC") + pd.Timedelta(days=d, hours=h),
                "zone_id": z,
                "category": "theft",
                "severity": 1.0,
            }
            for z in ZONES
            for m in months
            for d in range(days[m])
            for h in (9, 12)  # UTC: 10:00-14:00 local, inside the fixed day band
        ]
    )
    city = make_city(
        tmp_path,
        pd.DataFrame({"zone_id": ZONES, "population": 5000.0}),
        simulate_survey(truth, rng),
        incidents,
        index={"uncertainty_draws": 100, "footfall_role": "exposure"},
    )
    out = city.query(
        "select period_start, avg(incident_ratio) as ratio, any_value(incident_exposure) as basis "
        "from marts.zone_index where time_band = 'day' group by 1 order by 1"
    )
    # without footfall counters the exposure falls back to resident-hours
    assert out["basis"].tolist() == ["residents", "residents"]
    assert abs(out["ratio"].iloc[0] - out["ratio"].iloc[1]) < 0.01, out
