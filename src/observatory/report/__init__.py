"""The HTML report for a city's security department: one self-contained file per month.

`write_report(cfg)` reads the published marts (read-only) and writes
`<exports>/report_<city>_<YYYY-MM>.html`: a choropleth map with a day/night switch, the
zones ranked with their intervals, the day/night gap, the index over time, the fear gap,
data quality and a methods note. It runs from `observatory report`, at the end of
`observatory demo`, and can be called from the index DAG after the build.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from observatory.config import Config
from observatory.report.data import ReportError
from observatory.report.render import build_report, config_version, report_path
from observatory.warehouse import connect

__all__ = ["ReportError", "build_report", "config_version", "write_report"]

log = logging.getLogger(__name__)


def write_report(
    cfg: Config,
    period: str | None = None,
    target: Path | None = None,
    now: dt.datetime | None = None,
) -> Path:
    """Write the city's HTML report for one month and return its path.

    Args:
        cfg: the city's configuration.
        period: `YYYY-MM`; the latest month with an index when None.
        target: a file path (`.html`) or a folder; the exports folder when None.
        now: the build time (UTC); now when None.

    Raises:
        FileNotFoundError: no warehouse, or its marts are not built yet.
        ReportError: `period` is malformed or has no index.
        ConfigError: `[report]` labels name an unknown label.
    """
    con = connect(cfg, read_only=True)
    try:
        page, month = build_report(con, cfg, period, now)
    finally:
        con.close()
    if target is not None and target.suffix.lower() in (".html", ".htm"):
        path = target
    else:
        path = report_path(cfg, month, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a file
    log.info("wrote the %s report of %s to %s (%d kB)", month, cfg.city.id, path, len(page) // 1024)
    return path
