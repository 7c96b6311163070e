"""The intervention register: what a city did, where and when (docs/interventions.md).

Interventions are declared in the project file (`[[interventions]]`) or kept as a file
(`[intervention_register]`: a CSV with one row per intervention, or a GeoJSON with one
feature per intervention). Every row of a file is validated by the same model as the
project file's tables, so a mistake is reported with the file, the row and the key. The
treated zones are given by id, or by a geometry matched to the zones it overlaps.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import shapely
from pydantic import ValidationError
from shapely.geometry import shape

from observatory.config import Config, ConfigError, InterventionConfig
from observatory.config_errors import closest, format_validation_error
from observatory.zones import Zones, load_zones

#: A polygon treats a zone when it covers at least this share of the zone's area (a sliver
#: along a shared street is not a treatment); points and lines treat the zones they touch.
MIN_AREA_SHARE = 0.10
#: Separators of zone ids within one CSV cell.
_ZONE_SEPARATORS = (";", "|", ",")

_COLUMNS = (
    "intervention_id varchar, intervention_name varchar, intervention_type varchar, "
    "zone_ids varchar[], start_date date, end_date date, description varchar, "
    "budget double, currency varchar, zones_from varchar, declared_in varchar"
)


def load_register(cfg: Config) -> list[tuple[InterventionConfig, str]]:
    """Every intervention of the project, with where it was declared.

    Raises:
        ConfigError: the register file is missing or unreadable, a row breaks the model
            (named by file, row and key), or an id is declared twice.
    """
    entries = [(i, "project file") for i in cfg.interventions]
    reg = cfg.intervention_register
    if reg is not None:
        path = cfg.resolve(reg.path)
        if not path.is_file():
            raise ConfigError(f"intervention_register.path: file not found: {path}")
        rows = _csv_rows(path) if reg.format == "csv" else _geojson_rows(path)
        entries += [(_validated(path, n, row), str(reg.path)) for n, row in rows]
    ids = [i.id for i, _ in entries]
    dupes = sorted({x for x in ids if ids.count(x) > 1})
    if dupes:
        raise ConfigError(f"interventions: ids declared more than once: {dupes}")
    return entries


def _validated(path: Path, row_number: int, row: dict[str, Any]) -> InterventionConfig:
    try:
        return InterventionConfig.model_validate(row)
    except ValidationError as exc:
        where = f"{path}: row {row_number}"
        raise ConfigError(format_validation_error(where, exc, InterventionConfig, row)) from None


def _csv_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """CSV rows as model input: empty cells left out (defaults apply), zones split."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = []
        for n, raw in enumerate(reader, start=2):  # row 1 is the header
            row: dict[str, Any] = {k: v.strip() for k, v in raw.items() if k and v and v.strip()}
            if "zones" in row:
                row["zones"] = _split_zones(row["zones"])
            rows.append((n, row))
    return rows


def _split_zones(text: str) -> list[str]:
    for sep in _ZONE_SEPARATORS:
        if sep in text:
            return [z.strip() for z in text.split(sep) if z.strip()]
    return text.split()


def _geojson_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Features as model input: properties, and the feature's geometry kept as GeoJSON."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable GeoJSON file: {exc}") from exc
    rows = []
    for n, feat in enumerate(doc.get("features") or [], start=1):
        row = dict(feat.get("properties") or {})
        if isinstance(row.get("zones"), str):
            row["zones"] = _split_zones(row["zones"])
        if feat.get("geometry"):
            row["geometry"] = f"{path}#feature{n}"
        rows.append((n, row))
    return rows


def _geometry(cfg: Config, ref: str) -> shapely.Geometry:
    """The union of a GeoJSON file's geometries, or of one feature (`file#featureN`)."""
    file, _, feature = ref.partition("#feature")
    path = cfg.resolve(file)
    if not path.is_file():
        raise ConfigError(f"interventions: geometry file not found: {path}")
    try:
        feats = json.loads(path.read_text(encoding="utf-8-sig")).get("features") or []
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable GeoJSON file: {exc}") from exc
    if feature:
        feats = [feats[int(feature) - 1]]
    geoms = [shape(f["geometry"]) for f in feats if f.get("geometry")]
    if not geoms:
        raise ConfigError(f"{path}: no geometry to match to zones")
    return shapely.union_all(geoms)


def matched_zones(geometry: shapely.Geometry, zones: Zones) -> list[str]:
    """Zones an intervention's geometry treats: polygons covering at least MIN_AREA_SHARE of
    a zone's area; points and lines the zones they touch (a line along a boundary: both)."""
    out = []
    for zone_id, zone in zip(zones.ids, zones.geometries, strict=True):
        if not geometry.intersects(zone):
            continue
        area = geometry.intersection(zone).area if geometry.area > 0 else None
        if area is None or area >= MIN_AREA_SHARE * zone.area:
            out.append(zone_id)
    return out


def register_frame(cfg: Config, zones: Zones) -> pd.DataFrame:
    """The register as rows of `ref.interventions`, zones resolved and checked.

    Raises:
        ConfigError: an intervention names a zone the city does not have, or its
            geometry treats no zone.
    """
    known = set(zones.ids)
    rows = []
    for item, declared_in in load_register(cfg):
        unknown = [z for z in item.zones if z not in known]
        if unknown:
            guess = closest(unknown[0], sorted(known))
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise ConfigError(f"intervention {item.id}: unknown zones {unknown}{hint}")
        treated = list(item.zones)
        if item.geometry is not None:
            found = matched_zones(_geometry(cfg, item.geometry), zones)
            if not found:
                raise ConfigError(f"intervention {item.id}: its geometry overlaps no zone")
            treated += [z for z in found if z not in treated]
        source = "ids" if item.geometry is None else ("geometry" if not item.zones else "both")
        rows.append(
            {
                "intervention_id": item.id,
                "intervention_name": item.name,
                "intervention_type": item.type,
                "zone_ids": sorted(treated),
                "start_date": item.start,
                "end_date": item.end,
                "description": item.description,
                "budget": item.budget,
                "currency": item.currency,
                "zones_from": source,
                "declared_in": declared_in,
            }
        )
    return pd.DataFrame(rows)


def write_register(con: duckdb.DuckDBPyConnection, cfg: Config) -> None:
    """Replace `ref.interventions` with the project's register (empty when it has none),
    and `ref.evaluation_settings` with its `[evaluation]` table (one row), which the
    evaluation step reads."""
    settings = cfg.evaluation.model_dump()
    con.execute(
        "create or replace table ref.evaluation_settings as select "
        + ", ".join(f"${k} as {k}" for k in settings),
        settings,
    )
    con.execute(f"create or replace table ref.interventions ({_COLUMNS})")
    if not cfg.interventions and cfg.intervention_register is None:
        return  # no register: the zones file is not even read
    frame = register_frame(cfg, load_zones(cfg))
    if frame.empty:
        return
    con.register("_interventions_frame", frame)
    try:
        con.execute("insert into ref.interventions by name select * from _interventions_frame")
    finally:
        con.unregister("_interventions_frame")
