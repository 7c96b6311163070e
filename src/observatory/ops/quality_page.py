"""The quarantine summary page beside the Data Docs: held batches and open quarantine.

Written by the ingest DAG's `data_docs` task (and `write_page` from anywhere) into the
Data Docs folder as `quarantine.html`, a static page the Airflow plugin serves and the
alerts link to: an analyst sees which batches are held and why, and which files put how
many rows in quarantine for which reason, with the commands that deal with them.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import duckdb

from observatory.config import Config
from observatory.ops import holds

PAGE = "quarantine.html"


def _open_quarantine(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        """
        select q.source_name, b.file_path, q.reason, count(*) as n
        from (
            select source_name, batch_id, reason, released_at from quarantine.survey
            union all select source_name, batch_id, reason, released_at from quarantine.incidents
            union all select source_name, batch_id, reason, released_at from quarantine.sensors
        ) as q
        left join ops.batches as b using (batch_id)
        where q.released_at is null
        group by all
        order by q.source_name, n desc, b.file_path, q.reason
        """
    ).fetchall()


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def write_page(cfg: Config, con: duckdb.DuckDBPyConnection) -> Path:
    """Write `quarantine.html` into the Data Docs folder; its path."""
    held = holds.held(cfg, con)
    held_rows = [
        [h["batch_id"], h["file_path"], ", ".join(h["periods"]), h["reason"],
         f"observatory batches release {h['batch_id']} --note '...'"]
        for h in held
    ]  # fmt: skip
    quarantined = [[s, f or "-", r, f"{n:,}"] for s, f, r, n in _open_quarantine(con)]
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(cfg.city.name)}: quarantine</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}</style>
</head><body>
<h1>{html.escape(cfg.city.name)}: held batches and quarantine</h1>
<p>As of {now}. <a href="index.html">Data Docs</a> (every batch's validation).</p>
<h2>Held batches ({len(held)})</h2>
<p>Loaded, but the periods they touch are not published until released. Fix the mapping
and run <code>observatory quarantine release SOURCE --batch ID</code>, or publish the batch
as it is with <code>observatory batches release ID --note ...</code> (or trigger the
source's ingest DAG with <code>{{"release_batch": "ID"}}</code>).</p>
{_table(["batch", "file", "periods", "why", "to publish it"], held_rows) if held else ""}
<h2>Open quarantine</h2>
<p>Rows not accepted, per source, file and reason:
<code>observatory quarantine show --batch ID</code> lists them as read.</p>
{_table(["source", "file", "reason", "rows"], quarantined) if quarantined else "<p>none</p>"}
</body></html>
"""
    site = cfg.resolve(cfg.project.data_docs)
    site.mkdir(parents=True, exist_ok=True)
    path = site / PAGE
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
