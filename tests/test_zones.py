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


def test_assignment_matches_an_strtree_intersects_query_on_the_demo_zones(
    tmp_path: Path,
) -> None:
    """`Zones.assign` tests each zone's prepared polygon with `intersects_xy`; it gives what
    a shapely STRtree `intersects` query gives (the smallest id on shared edges), on random
    points, every vertex and every edge midpoint of the demo's zones."""
    import shapely  # noqa: PLC0415

    from observatory.demo.generator import generate  # noqa: PLC0415

    generate(tmp_path, scale="small")
    zones = load_zones(load_config(tmp_path / "observatory.toml"))
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = zones.extent
    verts = np.concatenate([shapely.get_coordinates(g) for g in zones.geometries])
    mids = (verts[:-1] + verts[1:]) / 2
    lon = np.concatenate([rng.uniform(x0 - 0.01, x1 + 0.01, 5000), verts[:, 0], mids[:, 0]])
    lat = np.concatenate([rng.uniform(y0 - 0.01, y1 + 0.01, 5000), verts[:, 1], mids[:, 1]])
    points = shapely.points(lon, lat)
    point_i, zone_i = shapely.STRtree(np.array(zones.geometries)).query(
        points, predicate="intersects"
    )
    expected: list[str | None] = [None] * len(lon)
    for p, z in zip(point_i.tolist(), zone_i.tolist(), strict=True):
        zid = zones.ids[z]
        expected[p] = zid if expected[p] is None else min(expected[p], zid)
    assert zones.assign(lon, lat) == expected
    assert sum(z is not None for z in expected) > len(verts)
