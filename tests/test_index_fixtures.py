"""Helpers for the index tests: a small city warehouse built from frames, run by the pipeline.

`make_city` writes zones and validated rows straight into a real DuckDB warehouse and runs
`pipeline.build` on it, so the index tests exercise the same SQL models and Python steps as
production, without the ingest path (which has its own tests). `simulate_survey` draws
respondents around known true zone means, for the tests that need the truth.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from observatory import pipeline
from observatory.config import Config
from observatory.warehouse import connect


@dataclass
class City:
    """A built test warehouse."""

    cfg: Config
    path: Path

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a read-only query against the warehouse."""
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            return con.execute(sql, params or []).df()
        finally:
            con.close()


def config(tmp_path: Path, index: dict[str, Any] | None = None) -> Config:
    """A minimal valid project: one survey source, fixed day/night hours."""
    return Config.model_validate(
        {
            "project": {"warehouse": str(tmp_path / "warehouse.duckdb")},
            "city": {
                "id": "test_city",
                "name": "Test city (SYNTHETIC)",
                "timezone": "Europe/Rome",
                "latitude": 45.07,
                "longitude": 7.69,
                "synthetic": True,
            },
            "zones": {"path": "zones.geojson"},
            "time_bands": {"rule": "fixed"},
            "index": index or {},
            "sources": [
                {
                    "name": "survey_test",
                    "kind": "survey",
                    "path": "survey/*.csv",
                    "scale": [0, 100],
                    "columns": {"response_id": "id", "answer": "a", "surveyed_at": "t"},
                }
            ],
            "base_dir": tmp_path,
        }
    )


def make_city(
    tmp_path: Path,
    zones: pd.DataFrame,
    survey: pd.DataFrame,
    incidents: pd.DataFrame | None = None,
    index: dict[str, Any] | None = None,
) -> City:
    """Build a warehouse from frames: zones (zone_id, population), survey rows, incidents."""
    cfg = config(tmp_path, index)
    con = connect(cfg)
    try:
        frame = zones.assign(
            city_id="test_city",
            zone_name=lambda z: "Zone " + z["zone_id"],
            area_km2=0.25,
            centroid_lon=7.69,
            centroid_lat=45.07,
            geometry_geojson=None,
        )
        con.register("zones_frame", frame)
        con.execute("create or replace table ref.zones as select * from zones_frame")
        pipeline.build(cfg, con=con)  # creates the validated tables with their contract
        _insert(con, "survey", survey.assign(source_name="survey_test", batch_id="b1"))
        if incidents is not None:
            _insert(con, "incidents", incidents.assign(source_name="police", batch_id="b2"))
        pipeline.build(cfg, con=con)
    finally:
        con.close()
    return City(cfg, cfg.warehouse_path)


def _insert(con: duckdb.DuckDBPyConnection, kind: str, frame: pd.DataFrame) -> None:
    con.register("rows_frame", frame)
    con.execute(f"insert into validated.{kind} by name select * from rows_frame")
    con.unregister("rows_frame")


def simulate_survey(
    truth: pd.DataFrame, rng: np.random.Generator, sd: float = 15.0
) -> pd.DataFrame:
    """Respondents answering one day and one night item around known true means.

    Args:
        truth: one row per zone_id x period_start with n (respondents), day and night
            (the true mean score of each band).
        rng: seeded generator.
        sd: spread of individual answers around the zone's true mean.

    Returns:
        Validated-survey rows (one per respondent x item), stamped mid-month at noon UTC.
    """
    rows = []
    for zone_id, period, n, day, night in truth[
        ["zone_id", "period_start", "n", "day", "night"]
    ].itertuples(index=False):
        ids = [f"{zone_id}-{period:%Y%m}-{i}" for i in range(n)]
        at = pd.Timestamp(period + dt.timedelta(days=14), tz="UTC") + pd.Timedelta(hours=12)
        weights = rng.uniform(0.6, 1.6, n)
        for band, mean in (("day", day), ("night", night)):
            scores = mean + rng.normal(0.0, sd, n)
            rows.append(
                pd.DataFrame(
                    {
                        "response_id": ids,
                        "respondent_id": ids,
                        "zone_id": zone_id,
                        "item_id": f"safe_{band}",
                        "time_band": band,
                        "score": scores,
                        "weight": weights,
                        "surveyed_at": at,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)
