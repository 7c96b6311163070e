"""Crosswalks: the spellings sources use for zones and sensors, mapped onto their ids.

A city's survey writes "S.Paolo" where the boundary file says "San Paolo", a sensor feed
"Flinders St" for "Flinders Street". `[zones] aliases` (or a crosswalk CSV with columns
`alias,zone_id`) and `[sources.locations] aliases` say so once; ingestion then matches the
alias like a zone code or sensor id. For names that still find no match, check-config
lists the closest candidates (rapidfuzz) and the line to paste into the config.
"""

from __future__ import annotations

import csv
import math
import unicodedata
from pathlib import Path

import duckdb
import pandas as pd

from observatory.config import Config, ConfigError, SourceConfig

#: Candidates scoring below this (0-100, rapidfuzz's WRatio) are not suggested.
MIN_SCORE = 50.0


def zone_aliases(cfg: Config, zone_ids: list[str]) -> dict[str, str]:
    """Every declared zone alias -> zone id: the crosswalk CSV, then `[zones] aliases`.

    Raises:
        ConfigError: the CSV is missing or lacks its columns, or an alias points at no zone
            (naming the file and row, or the key).
    """
    aliases: dict[str, str] = {}
    known = set(zone_ids)
    if cfg.zones.crosswalk:
        path = cfg.resolve(cfg.zones.crosswalk)
        aliases.update(_read_crosswalk(path, known))
    for alias, zone_id in cfg.zones.aliases.items():
        if zone_id not in known:
            raise ConfigError(
                f"zones.aliases: {alias!r} = {zone_id!r}: no zone has id {zone_id!r}; "
                f"zone ids are e.g. {', '.join(sorted(known)[:5])}"
            )
        aliases[alias] = zone_id
    return aliases


def _read_crosswalk(path: Path, known: set[str]) -> dict[str, str]:
    if not path.is_file():
        raise ConfigError(f"zones.crosswalk: file not found: {path}")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"alias", "zone_id"} <= set(reader.fieldnames):
            raise ConfigError(
                f"{path}: a zone crosswalk needs the columns alias,zone_id; "
                f"it has {reader.fieldnames}"
            )
        out: dict[str, str] = {}
        for row_number, row in enumerate(reader, start=2):
            alias, zone_id = (row["alias"] or "").strip(), (row["zone_id"] or "").strip()
            if zone_id not in known:
                raise ConfigError(
                    f"{path}, row {row_number}: zone_id {zone_id!r} (alias {alias!r}) is not "
                    "a zone id of the zones file"
                )
            if alias:
                out[alias] = zone_id
    return out


def write_zone_aliases(con: duckdb.DuckDBPyConnection, aliases: dict[str, str]) -> None:
    """Replace `ref.zone_aliases` (alias, zone_id), read by the zone-code lookup."""
    frame = pd.DataFrame(
        {"alias": list(aliases), "zone_id": list(aliases.values())}, dtype="string"
    )
    con.register("_aliases_frame", frame)
    try:
        con.execute(
            "create or replace table ref.zone_aliases as select cast(alias as varchar) as alias, "
            "cast(zone_id as varchar) as zone_id from _aliases_frame"
        )
    finally:
        con.unregister("_aliases_frame")


def write_sensor_aliases(con: duckdb.DuckDBPyConnection, src: SourceConfig) -> None:
    """Replace this source's rows of `ref.sensor_aliases` (source_name, alias, sensor_id)."""
    con.execute(
        "create table if not exists ref.sensor_aliases "
        "(source_name varchar, alias varchar, sensor_id varchar)"
    )
    con.execute("delete from ref.sensor_aliases where source_name = ?", [src.name])
    aliases = src.locations.aliases if src.locations else {}
    if aliases:
        con.executemany(
            "insert into ref.sensor_aliases values (?, ?, ?)",
            [[src.name, alias, sensor] for alias, sensor in aliases.items()],
        )


def _plain(text: str) -> str:
    """Lowercase, no accents or punctuation: how names are compared for suggestions."""
    from rapidfuzz import utils  # noqa: PLC0415 (only when a name is unmatched)

    decomposed = unicodedata.normalize("NFKD", text)
    return utils.default_process("".join(c for c in decomposed if not unicodedata.combining(c)))


def closest(name: str, candidates: dict[str, str], limit: int = 3) -> list[tuple[str, str, float]]:
    """The candidates most like `name`, best first: (label, id, score 0-100).

    Args:
        name: the unmatched spelling.
        candidates: label shown (a zone name or sensor id) -> the id an alias points to.
        limit: how many to return.
    """
    from rapidfuzz import fuzz, process  # noqa: PLC0415 (only when a name is unmatched)

    labels = list(candidates)
    found = process.extract(
        name, labels, scorer=fuzz.WRatio, processor=_plain, limit=limit, score_cutoff=MIN_SCORE
    )
    return [(labels[i], candidates[labels[i]], round(score, 1)) for _, score, i in found]


def alias_line(name: str, target: str) -> str:
    """The TOML line mapping `name` onto `target` (for `[zones.aliases]` and the like)."""
    return f"{_toml(name)} = {_toml(target)}"


def _toml(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def utm_hint(
    lat: pd.Series,
    lon: pd.Series,
    city: tuple[float, float],
    extent: tuple[float, float, float, float],
    columns: tuple[str, str] = ("<easting column>", "<northing column>"),
) -> str | None:
    """A hint when "latitude/longitude" look like projected metres: the values are
    outside +-90/+-180, or all outside the city's extent. Names the UTM zone of the city
    (EPSG:326xx north, 327xx south), the likeliest projection of a city's export.

    Args:
        lat, lon: the values read as latitude and longitude.
        city: the city's (latitude, longitude).
        extent: the zones' (min_lon, min_lat, max_lon, max_lat).
        columns: the file's (longitude, latitude) columns, the likely x and y.
    """
    city_lat, city_lon = city
    lat, lon = lat.dropna(), lon.dropna()
    if lat.empty or lon.empty:
        return None
    out_of_range = (lat.abs() > 90).any() or (lon.abs() > 180).any()
    min_lon, min_lat, max_lon, max_lat = extent
    inside = lat.between(min_lat, max_lat) & lon.between(min_lon, max_lon)
    if not out_of_range and inside.any():
        return None
    zone = int(math.floor((city_lon + 180.0) / 6.0)) % 60 + 1
    epsg = (32600 if city_lat >= 0 else 32700) + zone
    what = "are outside +-90/+-180" if out_of_range else "all lie outside the city"
    return (
        f"latitude/longitude {what} (e.g. {lat.iloc[0]:g}, {lon.iloc[0]:g}): they look like "
        f"projected coordinates. Declare them as x/y with their CRS, e.g. "
        f'coordinates = {{ crs = "EPSG:{epsg}", x = "{columns[0]}", '
        f'y = "{columns[1]}" }} (UTM zone {zone}{"N" if city_lat >= 0 else "S"}, '
        "the city's; a national grid is also common) and drop latitude/longitude from columns."
    )
