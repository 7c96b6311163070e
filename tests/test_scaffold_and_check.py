"""Data-engineer tools: new-city and new-source scaffolds, and the check-config dry run."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from observatory.check_config import check_config
from observatory.cli import app
from observatory.config import load_config
from tests.conftest import DemoCity


def test_new_city_then_new_sources_give_a_valid_project(tmp_path: Path) -> None:
    runner = CliRunner()
    city = tmp_path / "riga"
    made = runner.invoke(
        app,
        [
            "new-city",
            str(city),
            "--id",
            "riga",
            "--name",
            "Rīga",
            "--timezone",
            "Europe/Riga",
            "--latitude",
            "56.95",
            "--longitude",
            "24.11",
        ],
    )
    assert made.exit_code == 0, made.output
    for name, kind in (("aptauja", "survey"), ("policija", "incidents"), ("sensori", "sensors")):
        added = runner.invoke(
            app, ["new-source", name, "--kind", kind, "--config", str(city / "observatory.toml")]
        )
        assert added.exit_code == 0, added.output
    cfg = load_config(city / "observatory.toml")
    assert [(s.name, s.kind) for s in cfg.sources] == [
        ("aptauja", "survey"),
        ("policija", "incidents"),
        ("sensori", "sensors"),
    ]
    assert cfg.city.timezone == "Europe/Riga"
    assert (city / "landing" / "policija").is_dir()


def test_new_source_refuses_a_duplicate_and_leaves_the_file_alone(tmp_path: Path) -> None:
    runner = CliRunner()
    city = tmp_path / "c"
    runner.invoke(
        app,
        [
            "new-city",
            str(city),
            "--id",
            "c",
            "--name",
            "C",
            "--timezone",
            "UTC",
            "--latitude",
            "0",
            "--longitude",
            "0",
        ],
    )
    toml = city / "observatory.toml"
    runner.invoke(app, ["new-source", "s", "--kind", "survey", "--config", str(toml)])
    before = toml.read_text()
    again = runner.invoke(app, ["new-source", "s", "--kind", "survey", "--config", str(toml)])
    assert again.exit_code == 2 and "exists already" in again.output
    assert toml.read_text() == before


def test_check_config_shows_what_would_be_quarantined(demo_city: DemoCity, tmp_path: Path) -> None:
    root = tmp_path / "city"
    shutil.copytree(demo_city.root, root, ignore=shutil.ignore_patterns("warehouse"))
    cfg = load_config(root / "observatory.toml")
    checks = {c.source: c for c in check_config(cfg, sample=100)}
    incidents = checks["incidents_polizia"]
    assert incidents.error is None and incidents.rows_sampled == 100
    # rows 3, 6, 9, 11 and 13 are the generator's bad rows within the first 100
    assert (incidents.records, incidents.accepted) == (100, 95)
    assert "category not in the source's severity list" in incidents.quarantined
    assert incidents.preview[0]["zone_id"] is not None
    assert not cfg.warehouse_path.exists(), "a dry run writes no warehouse"
    survey = checks["survey_quartieri"]
    assert (
        "zone unknown: zone code not in the zones file, or coordinates outside every zone"
        in survey.quarantined
    )


def test_check_config_cli_names_a_missing_column(demo_city: DemoCity, tmp_path: Path) -> None:
    root = tmp_path / "city"
    shutil.copytree(demo_city.root, root, ignore=shutil.ignore_patterns("warehouse"))
    toml = root / "observatory.toml"
    toml.write_text(toml.read_text().replace('category = "category"', 'category = "categoria"'))
    result = CliRunner().invoke(
        app, ["check-config", "--config", str(toml), "--source", "incidents_polizia"]
    )
    assert result.exit_code == 1
    assert "missing column(s) ['categoria']" in result.output
