"""A city warehouse built from frames: zones and validated rows, then the real pipeline.

`build_city` writes `ref.zones` and rows straight into `validated.survey` and
`validated.incidents` of a fresh DuckDB warehouse and runs `pipeline.build` on it: the
same SQL models and Python steps as production, without the ingest path (which has its
own tests). The index tests and `observatory validate-method` both build their cities here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from observatory import pipeline
from observatory.config import Config
from observatory.warehouse import connect

log = logging.getLogger(__name__)

CITY_ID = "test_city"
#: Survey design columns written only when the warehouse's validated.survey has them.
DESIGN_COLUMNS = ("cluster_id", "stratum_id")


@dataclass
class City:
    """A built warehouse."""

    cfg: Config
    path: Path

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a read-only query against the warehouse.

        Args:
            sql: the query.
            params: its positional parameters.

        Returns:
            The whole result.
        """
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            return con.execute(sql, params or []).df()
        finally:
            con.close()


def config(
    directory: Path,
    index: dict[str, Any] | None = None,
    time_bands: dict[str, Any] | None = None,
) -> Config:
    """A minimal valid project in `directory`: one survey source, fixed day/night hours.

    Args:
        directory: the project folder; the warehouse is `directory/warehouse.duckdb`.
        index: settings of the `[index]` table (default: the method's defaults).
        time_bands: the `[time_bands]` table (default: fixed hours).

    Returns:
        The validated project configuration.
    """
    directory = directory.absolute()  # the warehouse path is resolved against base_dir
    return Config.model_validate(
        {
            "project": {"warehouse": str(directory / "warehouse.duckdb")},
            "city": {
                "id": CITY_ID,
                "name": "Test city (SYNTHETIC)",
                "timezone": "Europe/Rome",
                "latitude": 45.07,
                "longitude": 7.69,
                "synthetic": True,
            },
            "zones": {"path": "zones.geojson"},
            "time_bands": time_bands or {"rule": "fixed"},
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
            "base_dir": directory,
        }
    )


def build_city(
    directory: Path,
    zones: pd.DataFrame,
    survey: pd.DataFrame,
    incidents: pd.DataFrame | None = None,
    index: dict[str, Any] | None = None,
    *,
    time_bands: dict[str, Any] | None = None,
) -> City:
    """Build a warehouse from frames and run the pipeline on it.

    Args:
        directory: project folder (the warehouse file goes there; an existing one is
            written into, so pass a fresh folder or remove the file first).
        zones: one row per zone: zone_id, population.
        survey: validated-survey rows (response_id, respondent_id, zone_id, item_id,
            time_band, score, weight, surveyed_at; optionally cluster_id, stratum_id,
            which are dropped, with a log line, if the warehouse has no such columns).
        incidents: validated-incident rows (incident_id, zone_id, occurred_at, category,
            severity), or None for a city without an incident source.
        index: `[index]` settings.
        time_bands: `[time_bands]` settings (default: fixed hours).

    Returns:
        The built city.
    """
    cfg = config(directory, index, time_bands)
    con = connect(cfg)
    try:
        frame = zones.assign(
            city_id=CITY_ID,
            zone_name=lambda z: "Zone " + z["zone_id"],
            area_km2=0.25,
            centroid_lon=7.69,
            centroid_lat=45.07,
            geometry_geojson=None,
        )
        con.register("zones_frame", frame)
        con.execute("create or replace table ref.zones as select * from zones_frame")
        con.unregister("zones_frame")
        pipeline.build(cfg, con=con)  # creates the validated tables with their contract
        survey = _known_design_columns(con, survey)
        _insert(con, "survey", survey.assign(source_name="survey_test", batch_id="b1"))
        if incidents is not None:
            _insert(con, "incidents", incidents.assign(source_name="police", batch_id="b2"))
        pipeline.build(cfg, con=con)
    finally:
        con.close()
    return City(cfg, cfg.warehouse_path)


def survey_columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The column names of validated.survey (`describe`)."""
    return {row[0] for row in con.execute("describe validated.survey").fetchall()}


def _known_design_columns(con: duckdb.DuckDBPyConnection, survey: pd.DataFrame) -> pd.DataFrame:
    wanted = [c for c in DESIGN_COLUMNS if c in survey.columns]
    missing = [c for c in wanted if c not in survey_columns(con)]
    if missing:
        log.info("validated.survey has no %s: survey design columns not written", missing)
    return survey.drop(columns=missing)


def _insert(con: duckdb.DuckDBPyConnection, kind: str, frame: pd.DataFrame) -> None:
    con.register("rows_frame", frame)
    con.execute(f"insert into validated.{kind} by name select * from rows_frame")  # noqa: S608 (kind from the code's own calls above)
    con.unregister("rows_frame")
