"""Incident sources of different scope are never pooled into one rate (issue 13, item 1).

A city with crime reports and road incidents: each family has its own coverage and
reference rate (`marts.incident_families`), the index takes the family the config names,
and a config that leaves the choice open is refused with one plain line.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from observatory import pipeline
from observatory.config import ConfigError, SourceConfig, load_config
from tests.test_index_fixtures import make_city, simulate_survey

MONTHS = [dt.date(2025, m, 1) for m in (1, 2, 3)]
ZONES = [f"Z{i}" for i in range(8)]
COLUMNS = {"incident_id": "id", "occurred_at": "ts", "zone_code": "zone", "category": "cat"}


def _incidents(source: str, per_zone_month: int, months: list[dt.date]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "source_name": source,
                "batch_id": f"{source}:b",
                "incident_id": f"{source}-{z}-{m:%m}-{k}",
                "occurred_at": pd.Timestamp(m, tz="UTC") + pd.Timedelta(days=2 + k % 20, hours=10),
                "zone_id": z,
                "category": "x",
                "severity": 1.0,
            }
            for i, z in enumerate(ZONES)
            for m in months
            for k in range(per_zone_month * (1 + i % 2))  # odd zones: twice the rate
        ]
    )


def _source(name: str, family: str | None) -> SourceConfig:
    return SourceConfig(
        name=name, kind="incidents", path=f"{name}/*.csv", columns=COLUMNS, family=family
    )


@pytest.fixture
def city(tmp_path: Path):  # noqa: ANN201
    rng = np.random.default_rng(3)
    truth = pd.DataFrame(
        [
            {"zone_id": z, "period_start": m, "n": 20, "day": 60.0, "night": 45.0}
            for z in ZONES
            for m in MONTHS
        ]
    )
    crime = _incidents("police", 4, MONTHS)
    built = make_city(
        tmp_path,
        pd.DataFrame({"zone_id": ZONES, "population": 5000.0}),
        simulate_survey(truth, rng),
        crime.drop(columns=["source_name", "batch_id"]),
        index={"uncertainty_draws": 100},
    )
    return built, built.query(
        "select zone_id, time_band, period_start, incident_ratio from marts.zone_index order by all"
    )


def test_a_second_family_is_its_own_indicator_and_leaves_the_index_alone(city) -> None:  # noqa: ANN001
    built, crime_only = city
    # road incidents: 20 times the crime rate, and only from February
    with duckdb.connect(str(built.cfg.warehouse_path)) as con:
        road = _incidents("roads", 80, MONTHS[1:])
        con.register("road_frame", road)
        con.execute("insert into validated.incidents by name select * from road_frame")
    cfg = built.cfg.model_copy(
        update={
            "sources": [*built.cfg.sources, _source("police", "crime"), _source("roads", "road")],
            "index": built.cfg.index.model_copy(update={"incident_family": "crime"}),
        }
    )
    pipeline.build(cfg)
    both = built.query(
        "select zone_id, time_band, period_start, incident_ratio from marts.zone_index order by all"
    )
    # the index's incident ratio is the crime family's alone, to the last digit
    pd.testing.assert_frame_equal(crime_only, both)
    families = built.query(
        "select incident_family, is_in_index, period_start, has_incident_coverage, "
        "avg(incident_ratio) as ratio, sum(incident_count) as n "
        "from marts.incident_families where time_band = 'day' group by all order by all"
    )
    crime = families[families["incident_family"] == "crime"]
    road = families[families["incident_family"] == "road"]
    assert crime["is_in_index"].all() and not road["is_in_index"].any()
    assert crime["has_incident_coverage"].all()
    # road covers February and March only: January is missing for it, not "safe"
    assert road["has_incident_coverage"].tolist() == [False, True, True]
    assert road["ratio"].iloc[0] != road["ratio"].iloc[0]  # NaN
    # each family against its own reference (all incidents fall by day here): both average
    # about 1, not road 20x crime
    assert road["ratio"].iloc[1:].between(0.9, 1.1).all()
    assert crime["ratio"].between(0.9, 1.1).all()
    assert road["n"].iloc[1] == 20 * crime["n"].iloc[1]


def test_families_left_open_are_refused_in_plain_words(tmp_path: Path) -> None:
    project = tmp_path / "observatory.toml"
    sources = "".join(
        f'\n[[sources]]\nname = "{name}"\nkind = "incidents"\npath = "{name}/*.csv"\n'
        f"{family}"
        '[sources.columns]\nincident_id = "id"\noccurred_at = "ts"\nzone_code = "zone"\n'
        'category = "cat"\n'
        for name, family in (("police", ""), ("roads", ""))
    )
    head = (
        '[city]\nid = "t"\nname = "T"\ntimezone = "Europe/Rome"\nlatitude = 45.0\n'
        'longitude = 7.6\n\n[zones]\npath = "zones.geojson"\n'
    )
    project.write_text(head + sources, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(project)
    lines = [line for line in str(err.value).splitlines() if "incident_family" in line]
    assert len(lines) == 1 and "['police', 'roads']" in lines[0] and "family" in lines[0]
    # naming the family that makes the index settles it; a name no source has does not
    ok = load_config(project, {"index": {"incident_family": "police"}})
    assert ok.index.incident_family == "police"
    with pytest.raises(ConfigError, match="'crime' is not the family of any incident source"):
        load_config(project, {"index": {"incident_family": "crime"}})
