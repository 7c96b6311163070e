"""Publish the marts as files a city department can open: Parquet, CSV and GeoJSON.

Every mart becomes `<mart>.parquet` and `<mart>.csv`; the zones with their latest index
become `zones_latest.geojson` (RFC 7946: WGS84 lon/lat, flat properties per band) for the
map layers of BI tools (docs/dashboards.md).

An export is all or nothing: its files are written into a new folder
`<exports>.builds/<build_id>.<time>/`, with `_export.json` (the build and every file's
SHA-256) written last, and the exports path is a symbolic link swapped to that folder in
one rename. A reader of `<exports>/...` sees the whole previous export or the whole new
one, never files of two builds side by side, whenever the export is killed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import shutil
from contextlib import closing
from pathlib import Path
from typing import Any

import duckdb
import shapely

from observatory import progress
from observatory.config import Config
from observatory.pipeline import MART_MODELS
from observatory.sql_util import literal
from observatory.warehouse import connect, table_exists

GEOJSON_NAME = "zones_latest.geojson"
#: Written last into an export folder: its build and the SHA-256 of every file.
MANIFEST_NAME = "_export.json"
#: Export folders kept besides the current one (a reader may still be reading the last).
_KEEP_PREVIOUS = 1
#: Per-band columns of marts.zone_index_latest copied into the GeoJSON as `<column>_<band>`.
_BAND_COLUMNS = (
    "n_respondents",
    "is_suppressed",
    "is_modelled",
    "index_value",
    "index_ci_low",
    "index_ci_high",
    "index_rank",
    "index_rank_ci_low",
    "index_rank_ci_high",
    "change_vs_previous",
    "is_change_significant",
    "trend_direction",
)
_GAP_COLUMNS = ("index_gap", "index_gap_ci_low", "index_gap_ci_high", "is_index_gap_significant")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):  # dates and timestamps
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def latest_published_period(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The latest month with published perception (surveyed and not withheld): the honest
    default of the report and the export, rather than a month whose survey is not in."""
    return con.execute(
        "select max(period_start) from marts.zone_index where perception_score is not null"
    ).fetchone()[0]


def parse_period(period: str | None) -> dt.date | None:
    """`YYYY-MM` as the month's first day (None stays None).

    Raises:
        ValueError: the text is not a month.
    """
    if period is None:
        return None
    try:
        return dt.datetime.strptime(period, "%Y-%m").date()
    except ValueError:
        raise ValueError(
            f"--period {period!r}: expected a month as YYYY-MM, e.g. 2025-11"
        ) from None


def _zone_features(con: duckdb.DuckDBPyConnection, period: dt.date) -> list[dict[str, Any]]:
    """One GeoJSON feature per zone of ref.zones, with its index per band in `period`."""
    per_band = ",\n".join(
        f"any_value(l.{c}) filter (where l.time_band = '{band}') as {c}_{band}"
        for band in ("day", "night")
        for c in _BAND_COLUMNS
    )
    gap = ", ".join(f"any_value(g.{c}) as {c}" for c in _GAP_COLUMNS)
    cur = con.execute(
        f"""
        select z.city_id, z.zone_id, z.zone_name, z.population, round(z.area_km2, 4) as area_km2,
               any_value(l.period_start) as period_start,
               coalesce(any_value(l.is_provisional), false) as is_provisional,
               {per_band},
               {gap},
               any_value(f.fear_gap) as fear_gap,
               coalesce(any_value(f.is_fear_gap), false) as is_fear_gap,
               any_value(l.is_synthetic) as is_synthetic,
               any_value(l.build_id) as build_id,
               any_value(l.method_version) as method_version,
               any_value(l.published_at) as published_at,
               any_value(z.geometry_geojson) as geometry_geojson
        from ref.zones as z
        left join (
            select i.*, t.change_vs_previous, t.is_change_significant, t.trend_direction
            from marts.zone_index as i
            left join marts.zone_trends as t using (zone_id, time_band, period_start)
            where i.period_start = $period
        ) as l on l.zone_id = z.zone_id
        left join marts.day_night_gap as g
            on g.zone_id = z.zone_id and g.period_start = l.period_start
        left join marts.fear_gap as f
            on f.zone_id = z.zone_id and f.period_start = l.period_start
        group by z.city_id, z.zone_id, z.zone_name, z.population, z.area_km2
        order by z.zone_id
        """,  # noqa: S608 (columns and bands are constants here; period bound)
        {"period": period},
    )
    names = [d[0] for d in cur.description]
    features = []
    for row in cur.fetchall():
        props = {k: _plain(v) for k, v in zip(names, row, strict=True)}
        # RFC 7946 winding (exterior rings counter-clockwise): some map layers insist on it.
        shape = shapely.orient_polygons(shapely.from_geojson(props.pop("geometry_geojson")))
        geometry = json.loads(shapely.to_geojson(shape))
        features.append(
            {"type": "Feature", "id": props["zone_id"], "geometry": geometry, "properties": props}
        )
    return features


def export_geojson(
    con: duckdb.DuckDBPyConnection, out_dir: Path, period: dt.date | None = None
) -> Path:
    """Write `zones_latest.geojson`: every zone's outline (WGS84) and its index in `period`
    (default: the latest month with published perception; `period_start` says which).

    Properties are flat for BI map layers: `index_value_day`, `index_value_night`,
    `is_suppressed_night`, `index_gap`, `fear_gap`... (docs/tables.md, "GeoJSON export").
    """
    for mart in ("zone_index_latest", "day_night_gap", "fear_gap"):
        if not table_exists(con, "marts", mart):
            raise FileNotFoundError(f"marts.{mart} is missing: run `observatory build` first")
    month = period or latest_published_period(con)
    doc = {
        "type": "FeatureCollection",
        # foreign members (RFC 7946, 6.1): the build, also for zones with no data
        **_build_of(con),
        "features": _zone_features(con, month),
    }
    final = out_dir / GEOJSON_NAME
    tmp = out_dir / f".{GEOJSON_NAME}.tmp"
    tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    tmp.replace(final)
    return final


def _build_of(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """The build the marts are from (the newest in marts.publication_log)."""
    row = con.execute(
        "select build_id, method_version, published_at from marts.publication_log "
        "order by published_at desc, build_id desc limit 1"
    ).fetchone()
    if row is None:
        raise FileNotFoundError("marts.publication_log is empty: run `observatory build` first")
    return {"build_id": row[0], "method_version": row[1], "published_at": _plain(row[2])}


def export(cfg: Config, target: Path | None = None, period: str | None = None) -> list[Path]:
    """Write every mart as `<mart>.parquet` and `<mart>.csv`, and the zones with their
    index of `period` (`YYYY-MM`; default: the latest month with published perception)
    as `zones_latest.geojson`, as one new export of the current build (module docstring).

    Args:
        cfg: the project.
        target: the exports path (default `project.exports`): a symbolic link to the
            current export folder. A real folder there (an export from before this
            layout) is moved aside into `<target>.builds/` first.
        period: the GeoJSON's month.

    Returns:
        The files, under `target`.
    """
    month = parse_period(period)
    link = (target or cfg.resolve(cfg.project.exports)).absolute()
    builds = link.with_name(f"{link.name}.builds")
    builds.mkdir(parents=True, exist_ok=True)
    con = connect(cfg, read_only=True)
    marts = (*MART_MODELS, "publication_log")
    with closing(con):
        for mart in marts:
            if not table_exists(con, "marts", mart):
                raise FileNotFoundError(f"marts.{mart} is missing: run `observatory build` first")
        build = _build_of(con)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        stage = builds / f".{build['build_id']}.{stamp}.{os.getpid()}.tmp"
        stage.mkdir()
        try:
            names = _write_export(con, stage, marts, month)
            _write_manifest(stage, build, names)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    folder = stage.with_name(f"{build['build_id']}.{stamp}")
    os.rename(stage, folder)
    _fsync_dir(builds)
    previous = _swap_link(link, folder)
    _prune(builds, keep={folder, previous})
    return [link / name for name in names]


def _write_export(
    con: duckdb.DuckDBPyConnection, out_dir: Path, marts: tuple[str, ...], month: dt.date | None
) -> list[str]:
    """Every mart as Parquet and CSV, and the GeoJSON, into `out_dir`; the file names."""
    names: list[str] = []
    with progress.task("export", 2 * len(marts) + 1, "files") as bar:
        for mart in marts:
            for fmt, opts in (("parquet", "format parquet"), ("csv", "format csv, header")):
                name = f"{mart}.{fmt}"
                # rows in a fixed order: two builds of the same data give the same bytes
                # (but for the build's stamp), whatever order the build's threads left
                copy = (
                    f"copy (select * from marts.{mart} order by all) "  # noqa: S608 (mart names from code; path escaped by literal())
                    f"to {literal(str(out_dir / name))} ({opts})"
                )
                (rows,) = con.execute(copy).fetchone()
                names.append(name)
                bar.advance(1, rows=rows, item=name)
        names.append(export_geojson(con, out_dir, month).name)
        bar.advance(1, item=GEOJSON_NAME)
    return names


def _write_manifest(folder: Path, build: dict[str, str | None], names: list[str]) -> None:
    """`_export.json`: the build and each file's SHA-256; every file synced to disk first."""
    digests = {}
    for name in names:
        with (folder / name).open("rb") as fh:
            digests[name] = hashlib.file_digest(fh, "sha256").hexdigest()
            os.fsync(fh.fileno())
    manifest = {**build, "files": digests}
    path = folder / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    with path.open("rb") as fh:
        os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap_link(link: Path, folder: Path) -> Path | None:
    """Point `link` at `folder` in one rename (a new link replacing the old one); the
    folder it pointed at before, if any."""
    previous = link.resolve() if link.is_symlink() else None
    if link.is_dir() and not link.is_symlink():
        # an export folder from before exports were swapped: move it aside, once
        if any(link.iterdir()):  # kept as the previous export until the next one
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
            previous = folder.with_name(f"legacy.{stamp}")
            os.rename(link, previous)
        else:
            link.rmdir()
    new = link.with_name(f".{link.name}.{os.getpid()}.link.tmp")
    new.unlink(missing_ok=True)
    os.symlink(os.path.relpath(folder, link.parent), new)
    os.replace(new, link)
    _fsync_dir(link.parent)
    return previous


def _prune(builds: Path, keep: set[Path | None]) -> None:
    """Remove export folders but the current and the previous one (a reader may still be
    in it), and what killed exports left (staging folders of processes that are gone)."""
    for path in builds.iterdir():
        staging = path.name.endswith(".tmp")
        if (staging and not _alive(path)) or (not staging and path not in keep):
            shutil.rmtree(path, ignore_errors=True)


def _alive(staging: Path) -> bool:
    """Whether the process that writes a staging folder (`.<...>.<pid>.tmp`) still runs."""
    try:
        pid = int(staging.name.rsplit(".", 2)[-2])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
