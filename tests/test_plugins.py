"""A reader from another package plugs in through entry points, found by importlib.metadata."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from observatory import pipeline
from observatory.config import ConfigError, load_config
from observatory.sources import readers
from tests.support import city_toml, query, write_zones

PLUGIN = '''
from observatory.sources.readers import _materialise
from observatory.sql_util import literal


def read_pipe(con, path, options, target):
    """A pipe-separated export with a title line above the header."""
    _materialise(
        con,
        f"select * from read_csv({literal(str(path))}, delim = '|', skip = 1, header = true, all_varchar = true)",
        target,
    )
'''


@pytest.fixture
def plugin_on_path(tmp_path: Path) -> Iterator[None]:
    site = tmp_path / "site"
    (site / "pipe_reader").mkdir(parents=True)
    (site / "pipe_reader" / "__init__.py").write_text(PLUGIN, encoding="utf-8")
    dist = site / "pipe_reader-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pipe-reader\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[observatory.readers]\npipe = pipe_reader:read_pipe\n")
    sys.path.insert(0, str(site))
    try:
        yield
    finally:
        sys.path.remove(str(site))
        readers._READERS.pop("pipe", None)
        sys.modules.pop("pipe_reader", None)


def _project(tmp_path: Path, fmt: str) -> Path:
    write_zones(tmp_path, [("A", "A", 7.6, 45.0, 0.1)])
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "a.txt").write_text(
        "EXPORT 2025-06 police\nid|ts|zone|cat\n1|2025-06-01 10:00|a|theft\n2|2025-06-01 23:30|A|theft\n"
    )
    toml = tmp_path / "observatory.toml"
    toml.write_text(
        city_toml(city_id="p")
        + f"""
[[sources]]
name = "police"
kind = "incidents"
format = "{fmt}"
path = "landing/*.txt"
columns = {{ incident_id = "id", occurred_at = "ts", zone_code = "zone", category = "cat" }}
"""
    )
    return toml


def test_a_registered_reader_ingests_its_format(tmp_path: Path, plugin_on_path: None) -> None:
    cfg = load_config(_project(tmp_path, "pipe"))
    [report] = pipeline.ingest(cfg, now=dt.datetime(2025, 7, 1, tzinfo=dt.UTC))
    assert (report.status, report.rows_read, report.rows_accepted) == ("loaded", 2, 2)
    assert query(cfg, "select incident_id, zone_id from validated.incidents order by 1") == [
        ("1", "A"),
        ("2", "A"),
    ]


def test_an_unknown_format_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"format: no reader for 'pipe'"):
        load_config(_project(tmp_path, "pipe"))
