"""Zone outlines as SVG paths: an equirectangular projection at the city's latitude.

At city scale (a few kilometres) scaling longitude by cos(latitude) keeps shapes and areas
true to well under 1%, so no projection library is needed and the map is exact enough for
a choropleth. The y axis points down in SVG, so latitude is flipped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Ring = Sequence[Sequence[float]]


@dataclass(frozen=True)
class MapLayout:
    """Zones drawn in an SVG viewBox: outlines (path `d`) and label anchors, by zone id."""

    width: float
    height: float
    paths: dict[str, str] = field(default_factory=dict)
    labels: dict[str, tuple[float, float]] = field(default_factory=dict)


def _polygons(geometry: dict) -> list[list[Ring]]:
    """The polygons (each a list of rings) of a GeoJSON Polygon or MultiPolygon."""
    kind = geometry.get("type")
    if kind == "Polygon":
        return [geometry["coordinates"]]
    if kind == "MultiPolygon":
        return list(geometry["coordinates"])
    if kind == "GeometryCollection":
        return [p for g in geometry.get("geometries", []) for p in _polygons(g)]
    return []


def _rings(geometries: Iterable[dict]) -> Iterable[Ring]:
    for geometry in geometries:
        for polygon in _polygons(geometry):
            yield from polygon


def project_zones(
    geojson_by_zone: dict[str, str],
    ref_latitude: float,
    label_points: dict[str, tuple[float, float]] | None = None,
    width: float = 640.0,
    pad: float = 8.0,
) -> MapLayout:
    """Project zone geometries into SVG path data that fits a `width`-wide viewBox.

    Args:
        geojson_by_zone: zone id -> GeoJSON geometry text (WGS84 lon/lat), as in
            `ref.zones.geometry_geojson`.
        ref_latitude: the city's latitude (degrees), the projection's standard parallel.
        label_points: zone id -> (lon, lat) where its label goes (e.g. the centroid).
        width: width of the viewBox; the height follows from the zones' shape.
        pad: margin inside the viewBox.

    Returns:
        The layout. Holes are kept as extra subpaths: draw with `fill-rule: evenodd`.
    """
    geometries = {zid: json.loads(text) for zid, text in geojson_by_zone.items() if text}
    kx = math.cos(math.radians(ref_latitude))
    points = [(lon * kx, lat) for ring in _rings(geometries.values()) for lon, lat, *_ in ring]
    if not points:
        return MapLayout(width, width / 2)
    min_x = min(x for x, _ in points)
    max_x = max(x for x, _ in points)
    min_y = min(y for _, y in points)
    max_y = max(y for _, y in points)
    span_x = max(max_x - min_x, 1e-9)
    span_y = max(max_y - min_y, 1e-9)
    scale = (width - 2 * pad) / span_x
    height = min(span_y * scale + 2 * pad, width * 1.5)
    scale = min(scale, (height - 2 * pad) / span_y)
    off_x = (width - span_x * scale) / 2

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return round(off_x + (lon * kx - min_x) * scale, 1), round(pad + (max_y - lat) * scale, 1)

    def to_svg(lon: float, lat: float) -> str:
        x, y = xy(lon, lat)
        return f"{x:.1f},{y:.1f}"

    paths: dict[str, str] = {}
    for zid, geometry in geometries.items():
        parts = []
        for polygon in _polygons(geometry):
            for ring in polygon:
                coords = [to_svg(p[0], p[1]) for p in ring]
                if len(coords) >= 3:
                    parts.append("M" + "L".join(coords) + "Z")
        paths[zid] = "".join(parts)
    labels = {zid: xy(lon, lat) for zid, (lon, lat) in (label_points or {}).items()}
    return MapLayout(width, round(height, 1), paths, labels)
