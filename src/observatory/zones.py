"""Zones: the city's polygons, and which zone a point falls in.

Zones come from a GeoJSON FeatureCollection in WGS84 (lon/lat). Points are assigned zone by
zone with shapely's vectorised `intersects_xy`; a point on an edge shared by two zones
goes to the zone with the smaller id, so every point inside the city belongs to exactly one zone.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from observatory.config import Config, ConfigError
from observatory.sources import crosswalk

log = logging.getLogger(__name__)

_WGS84_NAMES = ("CRS84", "EPSG::4326", "EPSG:4326", "WGS84")


@dataclass(frozen=True)
class Zones:
    """The zone polygons of one city, ready for point lookups."""

    ids: list[str]
    names: list[str]
    populations: list[float | None]
    geometries: list[shapely.Geometry]

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat) of all zones."""
        bounds = shapely.bounds(np.array(self.geometries))
        return (
            float(bounds[:, 0].min()),
            float(bounds[:, 1].min()),
            float(bounds[:, 2].max()),
            float(bounds[:, 3].max()),
        )

    def assign(self, lon: np.ndarray, lat: np.ndarray) -> list[str | None]:
        """Zone id for each (lon, lat); None where the point is in no zone or not a number.

        Zone by zone, smallest id first (a point on a shared edge stays with the first):
        the points inside the zone's bounding box are tested with `intersects_xy` on the
        prepared polygon, without making a point geometry each (that took 0.1-0.4 s for a
        month of incidents; the result is the same as an STRtree `intersects` query)."""
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        result = np.full(len(lon), None, dtype=object)
        free = np.isfinite(lon) & np.isfinite(lat)
        geometries = np.array(self.geometries)
        bounds = shapely.bounds(geometries)
        for k in sorted(range(len(self.ids)), key=lambda i: self.ids[i]):
            x0, y0, x1, y1 = bounds[k]
            inside = free & (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
            candidates = np.flatnonzero(inside)
            if not len(candidates):
                continue
            shapely.prepare(geometries[k])
            hit = candidates[shapely.intersects_xy(geometries[k], lon[candidates], lat[candidates])]
            result[hit] = self.ids[k]
            free[hit] = False
        return result.tolist()


def _check_crs(doc: dict, path: Path) -> None:
    crs = doc.get("crs")
    if not crs:
        return
    name = str(crs.get("properties", {}).get("name", ""))
    if not any(name.endswith(n) for n in _WGS84_NAMES):
        raise ConfigError(f"{path}: zones must be WGS84 lon/lat, the file declares CRS {name!r}")


def load_zones(cfg: Config) -> Zones:
    """Read and check the city's zone polygons.

    Raises:
        ConfigError: the file is missing or not GeoJSON, a feature lacks the id property,
            a geometry is not a polygon, or coordinates are not lon/lat.
    """
    zc = cfg.zones
    path = cfg.resolve(zc.path)
    if not path.is_file():
        raise ConfigError(f"zones.path: file not found: {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable GeoJSON file: {exc}") from exc
    _check_crs(doc, path)
    ids, names, pops, geoms = [], [], [], []
    for i, feat in enumerate(doc.get("features") or []):
        props = feat.get("properties") or {}
        if props.get(zc.id_property) in (None, ""):
            raise ConfigError(
                f"{path}: feature {i} has no property {zc.id_property!r} "
                f"(zones.id_property); it has {sorted(props)}"
            )
        geom = shape(feat["geometry"])
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise ConfigError(f"{path}: feature {i} is a {geom.geom_type}, not a polygon")
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise ConfigError(f"{path}: feature {i} has coordinates that are not lon/lat")
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        ids.append(str(props[zc.id_property]).strip())
        names.append(str(props.get(zc.name_property, props[zc.id_property])))
        pop = props.get(zc.population_property) if zc.population_property else None
        pops.append(float(pop) if pop not in (None, "") else None)
        geoms.append(geom)
    if not ids:
        raise ConfigError(f"{path}: no zone features found")
    return _dissolve(path, ids, names, pops, geoms)


def _dissolve(
    path: Path,
    ids: list[str],
    names: list[str],
    pops: list[float | None],
    geoms: list[shapely.Geometry],
) -> Zones:
    """One zone per id: features that share an id are parts of one zone (a district in two
    pieces); their geometries are unioned and the first name and population kept."""
    merged: dict[str, int] = {}
    out = Zones(ids=[], names=[], populations=[], geometries=[])
    for zid, name, pop, geom in zip(ids, names, pops, geoms, strict=True):
        if zid in merged:
            i = merged[zid]
            out.geometries[i] = shapely.union(out.geometries[i], geom)
            log.warning("%s: zone %s has several features; their shapes are merged", path, zid)
            continue
        merged[zid] = len(out.ids)
        out.ids.append(zid)
        out.names.append(name)
        out.populations.append(pop)
        out.geometries.append(geom)
    return out


def _area_km2(geom: shapely.Geometry, ref_lat: float) -> float:
    # Equirectangular projection at the city's latitude: within 0.5% for city-sized zones.
    kx = 111.320 * math.cos(math.radians(ref_lat))
    ky = 110.574
    coords = shapely.transform(geom, lambda xy: xy * np.array([kx, ky]))
    return float(coords.area)


def write_zones(con: duckdb.DuckDBPyConnection, cfg: Config, zones: Zones) -> None:
    """Replace `ref.zones` with this city's zones (id, name, population, area, GeoJSON),
    and `ref.zone_aliases` with the declared spellings of their names."""
    frame = pd.DataFrame(
        {
            "city_id": cfg.city.id,
            "zone_id": zones.ids,
            "zone_name": zones.names,
            "population": pd.array(zones.populations, dtype="Float64"),
            "area_km2": [_area_km2(g, cfg.city.latitude) for g in zones.geometries],
            "centroid_lon": [g.centroid.x for g in zones.geometries],
            "centroid_lat": [g.centroid.y for g in zones.geometries],
            "geometry_geojson": [shapely.to_geojson(g) for g in zones.geometries],
        }
    )
    con.register("_zones_frame", frame)
    try:
        con.execute("create or replace table ref.zones as select * from _zones_frame")
    finally:
        con.unregister("_zones_frame")
    crosswalk.write_zone_aliases(con, crosswalk.zone_aliases(cfg, list(zones.ids)))


def assign_table(
    con: duckdb.DuckDBPyConnection, zones: Zones, table: str, lon_col: str, lat_col: str
) -> str:
    """Build a lookup table of distinct (lon, lat) -> zone_id for `table`; return its name."""
    coords = con.execute(
        f"select distinct {lon_col} as lon, {lat_col} as lat from {table} "  # noqa: S608 (work table and coordinate columns from code)
        f"where {lon_col} is not null and {lat_col} is not null"
    ).df()
    coords["zone_id"] = zones.assign(coords["lon"].to_numpy(), coords["lat"].to_numpy())
    lookup = f"{table}_zones"
    con.register("_coords_frame", coords)
    try:
        con.execute(
            f"create or replace table {lookup} as select cast(lon as double) as lon, "  # noqa: S608 (work table named in code)
            "cast(lat as double) as lat, cast(zone_id as varchar) as zone_id from _coords_frame"
        )
    finally:
        con.unregister("_coords_frame")
    return lookup
