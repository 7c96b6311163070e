"""The benchmark's baseline: what a user might write instead, with pandas and GX DataFrames.

Per landing file: read with pandas, map onto the contract, assign zones, validate with the
same GX suites on the pandas engine, split accepted rows with boolean masks; then the
day/night band from the same sun table, and a zone x band x month aggregation written to
DuckDB. It is deliberately straightforward, not a straw man: vectorised pandas throughout,
no Python loop over rows. Used only by `observatory bench` (phase d).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from observatory.config import Config, load_config
from observatory.timebands import band_bounds
from observatory.validation import gx_engine
from observatory.validation.suites import load_suite, suite_parameters
from observatory.zones import load_zones

NOW = dt.datetime.now(dt.UTC)


def _validate(frame: pd.DataFrame, cfg: Config, kind: str, extent: tuple) -> None:
    src = next(s for s in cfg.sources if s.kind == kind)
    params = suite_parameters(src, extent, NOW)
    params["now"] = pd.Timestamp(NOW)  # pandas compares datetimes with a Timestamp, not text
    gx_engine.validate_dataframe(frame, load_suite(src, params, cfg))


def _common(frame: pd.DataFrame) -> pd.DataFrame:
    frame["in_scope"] = True
    frame["prior_batch_id"] = None
    frame["copy_number"] = frame.groupby("record_id").cumcount() + 1
    return frame


def _survey(cfg: Config, zones: set[str], extent: tuple) -> pd.DataFrame:
    src = next(s for s in cfg.sources if s.kind == "survey")
    labels = {k.lower(): v for k, v in src.labels["answer"].items()}
    out = []
    for path in sorted((cfg.base_dir / "landing" / "survey").glob("*.csv")):
        raw = pd.read_csv(path, sep=";", dtype=str)
        long = raw.melt(
            id_vars=["id_risposta", "id_rispondente", "data_compilazione", "quartiere", "peso"],
            value_vars=["sicurezza_giorno", "sicurezza_notte"],
            var_name="item_id",
            value_name="label",
        )
        answer = long["label"].str.lower().map(labels)
        answer = answer.fillna(pd.to_numeric(long["label"], errors="coerce"))
        codes = {c.strip().lower() for c in src.non_response}
        is_non_response = long["label"].str.strip().str.lower().isin(codes)
        local = pd.to_datetime(long["data_compilazione"], format="%d/%m/%Y %H:%M", errors="coerce")
        frame = pd.DataFrame(
            {
                "record_id": long["id_risposta"] + "|" + long["item_id"],
                "response_id": long["id_risposta"],
                "zone_id": long["quartiere"].where(long["quartiere"].isin(zones)),
                "item_id": long["item_id"],
                "time_band": long["item_id"].map(
                    {"sicurezza_giorno": "day", "sicurezza_notte": "night"}
                ),
                "answer": answer,
                "score": (answer - 1) / 4 * 100,
                "weight": pd.to_numeric(long["peso"], errors="coerce").fillna(1.0),
                "surveyed_at": local.dt.tz_localize(
                    cfg.city.timezone, ambiguous="NaT", nonexistent="NaT"
                ).dt.tz_convert("UTC"),
                "is_non_response": is_non_response,
                "dst_issue": _dst_issue(local, cfg.city.timezone),
            }
        )
        frame = _common(frame)
        _validate(frame, cfg, "survey", extent)
        ok = (
            ~frame["is_non_response"]
            & frame["dst_issue"].isna()
            & frame["zone_id"].notna()
            & frame["score"].between(0, 100)
            & (frame["weight"] > 0)
            & frame["surveyed_at"].notna()
            & (frame["copy_number"] == 1)
        )
        out.append(frame.loc[ok, ["zone_id", "time_band", "score", "weight", "surveyed_at"]])
    return pd.concat(out, ignore_index=True)


def _dst_issue(local: pd.Series, tz: str) -> pd.Series:
    """'nonexistent' or 'ambiguous' where a local time cannot be read at a daylight-saving
    change (as the suite's `dst_issue` checks), else None."""
    read = local.notna()
    gap = read & local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").isna()
    nonexistent = (
        read
        & local.dt.tz_localize(
            tz, ambiguous=np.zeros(len(local), dtype=bool), nonexistent="NaT"
        ).isna()
    )
    issue = np.select([nonexistent, gap], ["nonexistent", "ambiguous"], default="")
    return pd.Series(issue, index=local.index).replace("", None)


def _incidents(cfg: Config, extent: tuple) -> pd.DataFrame:
    src = next(s for s in cfg.sources if s.kind == "incidents")
    zones = load_zones(cfg)
    out = []
    for path in sorted((cfg.base_dir / "landing" / "incidents").glob("*.csv")):
        raw = pd.read_csv(path, dtype=str)
        lat = pd.to_numeric(raw["lat"], errors="coerce")
        lon = pd.to_numeric(raw["lon"], errors="coerce")
        frame = pd.DataFrame(
            {
                "record_id": raw["incident_id"],
                "occurred_at": pd.to_datetime(raw["occurred_at"], utc=True, errors="coerce"),
                "latitude": lat,
                "longitude": lon,
                "zone_id": zones.assign(lon.to_numpy(), lat.to_numpy()),
                "category": raw["category"],
                "severity": raw["category"].map(src.severity),
                "dst_issue": None,  # UTC timestamps: no local time to misread
            }
        )
        frame = _common(frame)
        _validate(frame, cfg, "incidents", extent)
        ok = (
            frame["record_id"].notna()
            & frame["occurred_at"].notna()
            & (frame["occurred_at"] <= NOW)
            & frame["zone_id"].notna()
            & frame["severity"].notna()
            & (frame["copy_number"] == 1)
        )
        out.append(frame.loc[ok, ["zone_id", "occurred_at", "severity"]])
    return pd.concat(out, ignore_index=True)


def _sensors(cfg: Config, extent: tuple) -> pd.DataFrame:
    src = next(s for s in cfg.sources if s.kind == "sensors")
    zones = load_zones(cfg)
    sites = pd.read_csv(
        cfg.base_dir / "landing" / "sensors" / "sensor_locations.csv", dtype={"sensor_id": str}
    )
    sites["zone_id"] = zones.assign(sites["lon"].to_numpy(), sites["lat"].to_numpy())
    out = []
    for path in sorted((cfg.base_dir / "landing" / "sensors" / "readings").glob("*.csv")):
        raw = pd.read_csv(path, dtype=str)
        value = pd.to_numeric(
            raw["value"].where(~raw["value"].isin(src.missing_values)), errors="coerce"
        )
        frame = pd.DataFrame(
            {
                "record_id": raw["sensor_id"] + "|" + raw["timestamp"] + "|" + raw["metric"],
                "sensor_id": raw["sensor_id"],
                "measured_at": pd.to_datetime(
                    raw["timestamp"], utc=True, errors="coerce", format="ISO8601"
                ),
                "metric": raw["metric"],
                "value": value,
                "dst_issue": None,  # UTC timestamps: no local time to misread
            }
        ).merge(sites[["sensor_id", "zone_id"]], on="sensor_id", how="left")
        frame = _common(frame)
        _validate(frame, cfg, "sensors", extent)
        bad_range = ((frame["metric"] != "noise_db") & (frame["value"] < 0)) | (
            (frame["metric"] == "noise_db") & ((frame["value"] < 0) | (frame["value"] > 140))
        )
        ok = (
            frame["zone_id"].notna()
            & frame["value"].notna()
            & frame["measured_at"].notna()
            & ~bad_range
            & (frame["copy_number"] == 1)
        )
        out.append(frame.loc[ok, ["zone_id", "measured_at", "metric", "value"]])
    return pd.concat(out, ignore_index=True)


def _band(cfg: Config, moments: pd.Series) -> pd.Series:
    local = moments.dt.tz_convert(cfg.city.timezone)
    dates = local.dt.date
    table = {d: band_bounds(cfg.city, cfg.time_bands, d) for d in dates.dropna().unique()}
    start = dates.map(lambda d: table[d][0]).astype("datetime64[ns, UTC]")
    end = dates.map(lambda d: table[d][1]).astype("datetime64[ns, UTC]")
    return pd.Series(
        np.where((moments >= start) & (moments < end), "day", "night"), index=moments.index
    )


def run_baseline(root: Path) -> int:
    """Run the baseline on the demo project at `root`; return the rows read."""
    cfg = load_config(root / "observatory.toml")
    zones = load_zones(cfg)
    extent = zones.extent
    survey = _survey(cfg, set(zones.ids), extent)
    incidents = _incidents(cfg, extent)
    sensors = _sensors(cfg, extent)
    incidents["time_band"] = _band(cfg, incidents["occurred_at"])
    sensors["time_band"] = _band(cfg, sensors["measured_at"])
    month = lambda s: s.dt.tz_convert(cfg.city.timezone).dt.tz_localize(None).dt.to_period("M")  # noqa: E731
    survey["weighted"] = survey["score"] * survey["weight"]
    perception = (
        survey.assign(period=month(survey["surveyed_at"]))
        .groupby(["zone_id", "time_band", "period"])[["weighted", "weight"]]
        .sum()
    )
    perception["perception_score"] = perception["weighted"] / perception["weight"]
    incident_counts = (
        incidents.assign(period=month(incidents["occurred_at"]))
        .groupby(["zone_id", "time_band", "period"])["severity"]
        .agg(["count", "sum"])
    )
    environment = sensors.assign(period=month(sensors["measured_at"])).pivot_table(
        index=["zone_id", "time_band", "period"], columns="metric", values="value", aggfunc="mean"
    )
    result = (
        perception[["perception_score"]]
        .join(incident_counts, how="outer")
        .join(environment, how="outer")
    )
    result = result.reset_index()
    result["period"] = result["period"].astype(str)
    con = duckdb.connect(str(root / "baseline.duckdb"))
    con.register("result", result)
    con.execute("create or replace table zone_index as select * from result")
    con.close()
    return int(len(survey) + len(incidents) + len(sensors))
