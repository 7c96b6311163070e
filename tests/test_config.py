"""Configuration errors name the file, the key and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from observatory.cli import app
from observatory.config import ConfigError, load_config

BASE = """
[city]
id = "torino"
name = "Torino"
timezone = "{tz}"
latitude = 45.07
longitude = 7.69

[zones]
path = "zones.geojson"

[[sources]]
name = "{name}"
kind = "{kind}"
path = "landing/*.csv"
columns = {{ incident_id = "id", occurred_at = "ts", category = "cat" }}
"""


def _write(
    tmp_path: Path, tz: str = "Europe/Rome", name: str = "police", kind: str = "incidents"
) -> Path:
    path = tmp_path / "observatory.toml"
    path.write_text(BASE.format(tz=tz, name=name, kind=kind), encoding="utf-8")
    return path


def test_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path))
    assert cfg.city.timezone == "Europe/Rome"
    assert cfg.time_bands.rule == "sun" and cfg.time_bands.twilight == "civil"
    assert cfg.index.min_respondents == 10
    assert cfg.warehouse_path == tmp_path.resolve() / "warehouse" / "observatory.duckdb"


def test_unknown_time_zone_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, tz="Europe/Turin"))
    msg = str(err.value)
    assert "observatory.toml" in msg and "city.timezone" in msg and "IANA" in msg


def test_unknown_kind_lists_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"sources\[police\]\.kind.*'survey', 'incidents' or 'sensors'"
    ):
        load_config(_write(tmp_path, kind="tweets"))


def test_source_name_must_be_an_identifier(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sources\[.*\]\.name.*not a valid name"):
        load_config(_write(tmp_path, name="Police; drop table x"))


def test_mapping_must_cover_the_contract(tmp_path: Path) -> None:
    path = _write(tmp_path)
    path.write_text(path.read_text().replace(', category = "cat"', ""), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"must map \['category'\]"):
        load_config(path)


def test_unknown_canonical_field_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path)
    path.write_text(path.read_text().replace('category = "cat"', 'category = "cat", colour = "c"'))
    with pytest.raises(ConfigError, match=r"\['colour'\] are not fields of a incidents source"):
        load_config(path)


def test_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "observatory.toml"
    path.write_text("[city\nid=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.toml")


def test_cli_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["status", "--config", str(_write(tmp_path, tz="Mars/Base"))])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.startswith("error: ")


def test_cli_unknown_source_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["ingest", "--config", str(_write(tmp_path)), "--source", "nope"]
    )
    assert result.exit_code == 2
    assert "unknown source 'nope'; this project has: police" in result.output
