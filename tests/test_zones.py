"""Point-in-polygon zone assignment, including points on edges, and zone file checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from observatory.config import ConfigError, load_config
from observatory.zones import load_zones


def _square(x0: float, y0: float, size: float = 1.0) -> list:
    return [[[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]]


def _project(tmp_path: Path, features: list[dict], extra: dict | None = None) -> Path:
    doc = {"type": "FeatureCollection", "features": features, **(extra or {})}
    (tmp_path / "zones.geojson").write_text(json.dumps(doc), encoding="utf-8")
    (tmp_path / "observatory.toml").write_text(
        """
[city]
id = "t"
name = "T"
timezone = "UTC"
latitude = 0.5
longitude = 1.0

[zones]
path = "zones.geojson"

[[sources]]
name = "inc"
kind = "incidents"
path = "x/*.csv"
columns = { incident_id = "id", occurred_at = "ts", category = "cat" }
""",
        encoding="utf-8",
    )
    return tmp_path / "observatory.toml"


def _feature(zid: str, coords: list) -> dict:
    return {
        "type": "Feature",
        "properties": {"zone_id": zid, "name": zid},
        "geometry": {"type": "Polygon", "coordinates": coords},
    }


@pytest.fixture
def two_zones(tmp_path: Path):
    path = _project(tmp_path, [_feature("B", _square(1, 0)), _feature("A", _square(0, 0))])
    return load_zones(load_config(path))


def test_points_inside_each_zone(two_zones) -> None:
    assert two_zones.assign(np.array([0.5, 1.5]), np.array([0.5, 0.5])) == ["A", "B"]


def test_point_on_a_shared_edge_goes_to_the_smaller_zone_id(two_zones) -> None:
    assert two_zones.assign(np.array([1.0]), np.array([0.5])) == ["A"]


def test_point_on_the_outer_boundary_belongs_to_its_zone(two_zones) -> None:
    assert two_zones.assign(np.array([2.0, 0.5]), np.array([0.5, 0.0])) == ["B", "A"]


def test_points_outside_or_missing_get_no_zone(two_zones) -> None:
    assert two_zones.assign(np.array([3.0, np.nan]), np.array([0.5, 0.5])) == [None, None]


def test_extent_is_the_union_of_zone_bounds(two_zones) -> None:
    assert two_zones.extent == (0.0, 0.0, 2.0, 1.0)


def test_projected_crs_is_refused(tmp_path: Path) -> None:
    path = _project(
        tmp_path,
        [_feature("A", _square(0, 0))],
        {"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3435"}}},
    )
    with pytest.raises(ConfigError, match="WGS84"):
        load_zones(load_config(path))


def test_feature_without_id_property_is_named(tmp_path: Path) -> None:
    feat = _feature("A", _square(0, 0))
    feat["properties"] = {"name": "no id"}
    with pytest.raises(ConfigError, match="feature 0 has no property 'zone_id'"):
        load_zones(load_config(_project(tmp_path, [feat])))
