"""The network's comparison page: one offline HTML file, the cities side by side.

Built like the city report (observatory.report): styles, script and data inlined, a
Content-Security-Policy that lets the browser fetch nothing. The viewer picks the language
(every core question and label is embedded in the network's languages), the month and the
band; the page opens in the network file's `[report] language`.
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path
from typing import Any

import duckdb

from observatory.network.config import NetworkConfig
from observatory.network.core_items import BAND_ITEMS, LANGUAGES, catalogue
from observatory.network.labels import all_labels
from observatory.report.render import CSP, _json_for_script

_PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<noscript><p>{noscript}</p></noscript>
<main id="network"></main>
<script type="application/json" id="network-data">{data}</script>
<script>
{js}
</script>
</body>
</html>
"""


def _records(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    frame = con.execute(sql).df()
    for column in frame.columns:
        if frame[column].dtype.kind == "M":
            frame[column] = frame[column].dt.strftime("%Y-%m")
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for row in rows:
        for key, value in row.items():
            if hasattr(value, "isoformat"):
                row[key] = value.isoformat()[:7]
            elif hasattr(value, "tolist"):
                row[key] = value.tolist()
    return rows


def collect(con: duckdb.DuckDBPyConnection, net: NetworkConfig) -> dict[str, Any]:
    """Everything the page shows, from the network warehouse."""
    drop = "exclude (network_id, build_id, method_version, published_at)"
    cities = _records(con, f"select * {drop} from marts.network_cities")  # noqa: S608 (fixed exclude list and mart name)
    members = _records(con, f"select * {drop} from marts.network_members")  # noqa: S608 (fixed exclude list and mart name)
    stamp = con.execute(
        "select any_value(build_id), any_value(method_version) from marts.network_cities"
    ).fetchall()[0]
    items = catalogue()
    default = net.report.language.split("-", maxsplit=1)[0].lower()
    return {
        "network_name": net.network.name,
        "is_synthetic": net.network.synthetic,
        "default_language": default if default in LANGUAGES else "en",
        "languages": list(LANGUAGES),
        "labels": all_labels(net.report.language, net.report.labels),
        "confidence": net.method.confidence,
        "periods": sorted({r["period_start"] for r in cities}),
        "default_period": max(
            (r["period_start"] for r in cities if r["is_published"]), default=None
        ),
        "cities": cities,
        "members": {m["city_id"]: m for m in members},
        "ranks": _records(con, f"select * {drop} from marts.network_ranks"),  # noqa: S608 (fixed exclude list and mart name)
        "coverage": _records(con, f"select * {drop} from marts.network_coverage"),  # noqa: S608 (fixed exclude list and mart name)
        "core_items": {
            band: {"id": core, "wording": items[core].wording} for band, core in BAND_ITEMS.items()
        },
        "build_id": stamp[0],
        "method_version": stamp[1],
    }


def write_network_report(net: NetworkConfig) -> Path:
    """Render the comparison page from the network warehouse; its path."""
    con = duckdb.connect(str(net.warehouse_path), read_only=True)
    try:
        data = collect(con, net)
    finally:
        con.close()
    labels = data["labels"][data["default_language"]]
    css = files("observatory.report").joinpath("assets", "report.css").read_text("utf-8")
    js = files("observatory.network").joinpath("assets", "network.js").read_text("utf-8")
    page = _PAGE.format(
        lang=html.escape(data["default_language"]),
        csp=CSP,
        title=html.escape(f"{labels['title']} - {net.network.name}"),
        noscript=html.escape(labels["noscript"]),
        css=css,
        data=_json_for_script(data),
        js=js,
    )
    path = net.report_path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".html.partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(path)
    return path
