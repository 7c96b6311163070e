"""`--json`: one JSON document on stdout, in the schema of docs/operations.md ("JSON output")."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from typer.testing import CliRunner

from observatory.cli import app
from observatory.status import BATCH_FIELDS
from tests.conftest import DemoCity


def _json(*args: str) -> tuple[int, object, str]:
    result = CliRunner().invoke(app, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_status(demo_city: DemoCity) -> None:
    code, doc, _ = _json("status", "-c", str(demo_city.root / "observatory.toml"))
    assert code == 0 and doc["exists"] and doc["city"] == demo_city.cfg.city.id
    assert {s["source"] for s in doc["sources"]} == {s.name for s in demo_city.cfg.sources}


def test_batches(demo_city: DemoCity) -> None:
    config = str(demo_city.root / "observatory.toml")
    code, rows, _ = _json("batches", "-c", config, "--limit", "500")
    with demo_city.connect() as con:
        (n,) = con.execute("select count(*) from ops.batches").fetchone()
    assert code == 0 and len(rows) == n > 0
    assert all(list(r) == list(BATCH_FIELDS) for r in rows)
    assert rows == sorted(rows, key=lambda r: r["started_at"], reverse=True)
    code, only, _ = _json("batches", "-c", config, "--source", "incidents_polizia")
    assert only and {r["source"] for r in only} == {"incidents_polizia"}


def test_batches_of_an_unknown_source_is_one_clear_line(demo_city: DemoCity) -> None:
    config = str(demo_city.root / "observatory.toml")
    result = CliRunner().invoke(app, ["batches", "-c", config, "--source", "incident_polizia"])
    assert result.exit_code == 2 and result.stdout == ""
    assert "did you mean 'incidents_polizia'?" in result.stderr


def test_quarantine_list(demo_city: DemoCity) -> None:
    code, rows, _ = _json("quarantine", "list", "-c", str(demo_city.root / "observatory.toml"))
    with demo_city.connect() as con:
        (n,) = con.execute(
            "select count(*) from (select * from quarantine.survey union all by name "
            "select * from quarantine.incidents union all by name "
            "select * from quarantine.sensors) where released_at is null"
        ).fetchone()
    assert code == 0 and sum(r["rows"] for r in rows) == n > 0
    assert all(set(r) == {"source", "reason", "rows", "batches", "last_at"} for r in rows)


def test_check_config_of_a_bad_file_is_json_too(tmp_path: Path) -> None:
    text = files("observatory.demo").joinpath("observatory.toml").read_text("utf-8")
    path = tmp_path / "observatory.toml"
    path.write_text(text.replace("twilight = ", "twiligth = "), encoding="utf-8")
    code, doc, stderr = _json("check-config", "-c", str(path))
    assert code == 2 and stderr == ""
    assert doc == {
        "config": str(path),
        "valid": False,
        "errors": [
            f"{path}: time_bands.twiligth: unknown key 'twiligth'; did you mean 'twilight'?"
        ],
    }
