"""Publish the marts as files a city department can open: Parquet and CSV."""

from __future__ import annotations

from pathlib import Path

from observatory.config import Config
from observatory.pipeline import MART_MODELS
from observatory.sql_util import literal
from observatory.warehouse import connect, table_exists


def export(cfg: Config, target: Path | None = None) -> list[Path]:
    """Write every mart as `<mart>.parquet` and `<mart>.csv` under the exports folder.

    Files are written to a temporary name and renamed, so a reader never sees half a file.
    """
    out_dir = target or cfg.resolve(cfg.project.exports)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = connect(cfg, read_only=True)
    written: list[Path] = []
    try:
        for mart in MART_MODELS:
            if not table_exists(con, "marts", mart):
                raise FileNotFoundError(f"marts.{mart} is missing: run `observatory build` first")
            for fmt, opts in (("parquet", "format parquet"), ("csv", "format csv, header")):
                final = out_dir / f"{mart}.{fmt}"
                tmp = out_dir / f".{mart}.{fmt}.tmp"
                con.execute(f"copy marts.{mart} to {literal(str(tmp))} ({opts})")
                tmp.replace(final)
                written.append(final)
    finally:
        con.close()
    return written
