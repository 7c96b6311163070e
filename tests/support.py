"""Building blocks for the tests' tiny projects: a city header, square zones, queries.

Each test module writes its own sources (that is what it tests); the city, the zones file
and the read-only queries of the warehouse are the same everywhere and live here.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from observatory.config import Config

#: A square zone: (zone_id, name, west longitude, south latitude, side in degrees).
Square = tuple[str, str, float, float, float]


def city_toml(
    *,
    city_id: str = "tiny",
    timezone: str = "Europe/Rome",
    latitude: float = 45.05,
    longitude: float = 7.65,
    project: str = "",
) -> str:
    """The `[project]` (optional), `[city]` and `[zones]` tables of a tiny project file,
    with its zones in `zones.geojson` beside it."""
    head = f"[project]\n{project}\n" if project else ""
    return (
        f'{head}[city]\nid = "{city_id}"\nname = "{city_id.title()}"\n'
        f'timezone = "{timezone}"\nlatitude = {latitude}\nlongitude = {longitude}\n\n'
        '[zones]\npath = "zones.geojson"\n'
    )


def police_source(extra: str = "", severity: str = "theft = 1.0") -> str:
    """The tests' incident source `police`: CSV files `landing/*.csv` with columns id, ts,
    lat, lon, cat; `extra` adds keys to the source, `severity` lines to its weights."""
    return (
        '\n[[sources]]\nname = "police"\nkind = "incidents"\npath = "landing/*.csv"\n'
        f"{extra}\n"
        "[sources.columns]\n"
        'incident_id = "id"\noccurred_at = "ts"\nlatitude = "lat"\nlongitude = "lon"\n'
        'category = "cat"\n\n'
        f"[sources.severity]\n{severity}\n"
    )


def write_zones(root: Path, squares: list[Square], population: int | None = None) -> Path:
    """Write `root/zones.geojson`: one square polygon feature per zone."""
    features = []
    for zone_id, name, x0, y0, side in squares:
        ring = [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side], [x0, y0]]
        properties: dict[str, object] = {"zone_id": zone_id, "name": name}
        if population is not None:
            properties["population"] = population
        features.append(
            {
                "type": "Feature",
                "properties": properties,
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    path = root / "zones.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8"
    )
    return path


def query(cfg: Config, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of a query on the project's warehouse, opened read-only."""
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
