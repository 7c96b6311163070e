"""The report as one self-contained HTML file: styles, scripts and data inlined.

The page works offline and from a file: there is no CDN, no server and no web font, and a
Content-Security-Policy forbids the browser from fetching anything at all. Map and charts
are hand-written SVG drawn by a small inlined script from the inlined data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import logging
from importlib.resources import files
from pathlib import Path
from typing import Any

import duckdb
import shapely

from observatory.config import Config
from observatory.report.data import collect
from observatory.report.geometry import project_zones
from observatory.report.labels import resolve_labels

log = logging.getLogger(__name__)

#: Scripts, in the order they are inlined (later ones use earlier ones' functions).
SCRIPTS = ("base.js", "map.js", "charts.js", "interventions.js", "groups.js", "main.js")
#: No network, no plug-ins: only inline styles and scripts and data: images.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)
_PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="observatory report ({config})">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<noscript><p>{noscript}</p></noscript>
<main id="report"></main>
<script type="application/json" id="report-data">{data}</script>
<script>
{js}
</script>
</body>
</html>
"""


def config_version(cfg: Config) -> str:
    """A short, stable id of the configuration in force: `cfg-` and 12 hex digits of the
    SHA-256 of the validated settings (comments and layout of the file do not change it)."""
    settings = cfg.model_dump(mode="json", exclude={"base_dir"})
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8")).hexdigest()
    return f"cfg-{digest[:12]}"


def _asset(name: str) -> str:
    return files("observatory.report").joinpath("assets", name).read_text(encoding="utf-8")


def _map(con: duckdb.DuckDBPyConnection, cfg: Config) -> dict[str, Any]:
    shapes = dict(con.execute("select zone_id, geometry_geojson from ref.zones").fetchall())
    anchors = {}
    for zid, text in shapes.items():
        point = shapely.from_geojson(text).point_on_surface()
        anchors[zid] = (point.x, point.y)
    layout = project_zones(shapes, cfg.city.latitude, anchors)
    return {
        "width": layout.width,
        "height": layout.height,
        "paths": layout.paths,
        "labels": layout.labels,
    }


def _json_for_script(data: dict[str, Any]) -> str:
    # Inside <script>, text such as "</script>" or "<!--" in a zone name or label would
    # break out of the element: escape <, > and & (they only occur inside JSON strings).
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_report(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    period: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[str, str]:
    """The report of one city and month as HTML text.

    Args:
        con: a (read-only) connection to the city's warehouse.
        cfg: the city's configuration (labels, language, thresholds).
        period: `YYYY-MM`; the latest month with an index when None.
        now: the build time (UTC), for freshness and the methods note; now when None.

    Returns:
        (html, period as `YYYY-MM`).
    """
    now = now or dt.datetime.now(dt.UTC)
    labels = resolve_labels(cfg.report)
    data = collect(con, cfg, period, now)
    version = config_version(cfg)
    data["meta"] = {
        "city_id": cfg.city.id,
        "city_name": cfg.city.name,
        "timezone": cfg.city.timezone,
        "language": cfg.report.language,
        "is_synthetic": data.pop("is_synthetic"),
        "is_provisional": data.pop("is_provisional"),
        "awaiting_sources": data.pop("awaiting_sources"),
        "method_version": data.pop("method_version"),
        "confidence": cfg.index.confidence,
        "min_respondents": cfg.index.min_respondents,
        "fear_gap_months": cfg.index.fear_gap_months,
        "fear_gap_min_points": cfg.index.fear_gap_min_points,
        "built_at": now.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "config_version": version,
    }
    data["labels"] = labels
    data["map"] = _map(con, cfg)
    title = f"{labels['title']} - {cfg.city.name} - {data['period']}"
    page = _PAGE.format(
        lang=html.escape(cfg.report.language),
        csp=CSP,
        config=version,
        title=html.escape(title),
        noscript=html.escape(labels["noscript"]),
        css=_asset("report.css"),
        data=_json_for_script(data),
        js="\n".join(_asset(name) for name in SCRIPTS),
    )
    return page, data["period"]


def report_path(cfg: Config, period: str, directory: Path | None = None) -> Path:
    """Where a city's report for a month goes: `<exports>/report_<city>_<YYYY-MM>.html`."""
    folder = directory or cfg.resolve(cfg.project.exports)
    return folder / f"report_{cfg.city.id}_{period}.html"
