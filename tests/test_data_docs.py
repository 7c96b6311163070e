"""GX Data Docs rebuilt from the warehouse: an index of every batch's latest run, one page each.

Real GX rendering into a temporary folder, parsed as HTML; no mocks.
"""

from __future__ import annotations

import ast
import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pytest
from typer.testing import CliRunner

from observatory.cli import app
from observatory.config import Config
from observatory.validation.data_docs import build_docs
from tests.conftest import DemoCity


class _Text(HTMLParser):
    """Visible text and `<script>` bodies of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._in = tag if tag in ("script", "style") else self._in

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in is None and data.strip():
            self.text.append(" ".join(data.split()))


def _parse(path: Path) -> _Text:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _index_rows(index: Path) -> list[dict]:
    """The rows of the index's validation table (GX writes them as a JS literal)."""
    for script in _parse(index).scripts:
        for line in script.splitlines():
            if line.strip().startswith("data: [") and "_table_row_link_path" in line:
                return ast.literal_eval(line.strip().removeprefix("data: ").rstrip(","))
    return []


def _with_site(cfg: Config, site: Path) -> Config:
    return cfg.model_copy(update={"project": cfg.project.model_copy(update={"data_docs": site})})


def _latest_runs(cfg: Config) -> dict[str, tuple[str, int]]:
    """batch_id -> (run_id, expectations evaluated) of every loaded batch's latest run."""
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        rows = con.execute(
            """
            select batch_id, arg_max(run_id, validated_at), arg_max(expectations_evaluated,
                   validated_at)
            from ops.validation_runs
            where batch_id in (select batch_id from ops.batches where status = 'loaded')
            group by batch_id
            """
        ).fetchall()
    return {b: (r, n) for b, r, n in rows}


@pytest.fixture(scope="module")
def site(demo_city: DemoCity, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Path]:
    cfg = _with_site(demo_city.cfg, tmp_path_factory.mktemp("docs") / "site")
    return cfg, build_docs(cfg)


def test_index_lists_the_latest_run_of_every_batch(site: tuple[Config, Path]) -> None:
    cfg, index = site
    latest = _latest_runs(cfg)
    rows = _index_rows(index)
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        sql = "select count(*) from ops.batches where status = 'loaded'"
        (loaded,) = con.execute(sql).fetchone()
    assert loaded > 0 and len(latest) == loaded
    assert {r["_batch_identifier_sort"]: r["run_name"] for r in rows} == {
        b: run for b, (run, _) in latest.items()
    }
    assert len(rows) == len(latest)
    assert {r["asset_name"] for r in rows} == {s.name for s in cfg.sources}


def test_every_run_has_a_page_with_its_expectations(site: tuple[Config, Path]) -> None:
    cfg, index = site
    latest = _latest_runs(cfg)
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        checks = con.execute(
            "select run_id, list(expectation_type) from ops.validation_results group by run_id"
        ).fetchall()
    types_by_run = dict(checks)
    for row in _index_rows(index):
        page = index.parent / unquote(row["_table_row_link_path"])
        assert page.is_file(), page
        text = " | ".join(_parse(page).text)
        run_id, evaluated = latest[row["_batch_identifier_sort"]]
        assert run_id in text and row["asset_name"] in text
        assert f"Evaluated Expectations | {evaluated} |" in text
        for expectation_type in types_by_run[run_id]:
            assert f"({expectation_type})" in text, (page, expectation_type)
        # Each expectation reads as GX words it, then severity and reason.
        assert "zone_id values must never be null. · error: " in text


def test_suite_pages_exist_for_every_source(site: tuple[Config, Path]) -> None:
    cfg, index = site
    names = [f"{s.suite_name}/{s.name}.html" for s in cfg.sources]
    for name in names:
        assert (index.parent / "expectations" / name).is_file()


def test_rebuild_follows_the_warehouse_and_the_cli_runs_it(demo_copy: DemoCity) -> None:
    """Deleting a run from the warehouse removes its page: the site holds no state of its own."""
    cfg = demo_copy.cfg
    runner = CliRunner()
    first = runner.invoke(app, ["docs", "--config", str(demo_copy.root / "observatory.toml")])
    assert first.exit_code == 0, first.output
    index = Path(first.output.strip().splitlines()[-1])
    assert index == cfg.resolve(cfg.project.data_docs).resolve() / "index.html"
    before = _index_rows(index)
    gone = before[0]
    with duckdb.connect(str(cfg.warehouse_path)) as con:
        con.execute("delete from ops.validation_runs where run_id = ?", [gone["run_name"]])
    assert build_docs(cfg) == index
    rows = _index_rows(index)
    assert len(rows) == len(before) - 1 and gone["run_name"] not in {r["run_name"] for r in rows}
    assert not (index.parent / unquote(gone["_table_row_link_path"])).exists()


def test_result_json_is_a_gx_validation_result(demo_city: DemoCity) -> None:
    from great_expectations.core.expectation_validation_result import (  # noqa: PLC0415
        ExpectationSuiteValidationResult,
        expectationSuiteValidationResultSchema,
    )

    with demo_city.connect() as con:
        run_id, failed, stored = con.execute(
            "select run_id, expectations_failed, result_json from ops.validation_runs limit 1"
        ).fetchall()[0]
    result = expectationSuiteValidationResultSchema.load(json.loads(stored))
    assert isinstance(result, ExpectationSuiteValidationResult)
    assert result.meta["run_id"]["run_name"] == run_id
    assert result.statistics["unsuccessful_expectations"] == failed


def test_published_pages_show_no_record_ids_and_no_exact_coordinates(
    site: tuple[Config, Path],
) -> None:
    cfg, index = site
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        samples = con.execute(
            "select column_name, sample_values from ops.validation_results "
            "where not success and column_name in "
            "('record_id', 'response_id', 'incident_id', 'latitude', 'longitude')"
        ).fetchall()
    ids = {
        str(v) for col, values in samples if col.endswith("_id") for v in json.loads(values or "[]")
    }
    coords = {
        str(v)
        for col, values in samples
        if not col.endswith("_id")
        for v in json.loads(values or "[]")
        if v is not None and len(str(v).split(".")[-1]) > 3
    }
    assert coords, "the demo has a point outside the city (Milan) to look for"
    pages = [p.read_text(encoding="utf-8") for p in index.parent.rglob("*.html")]
    for value in ids | coords:
        assert not any(value in page for page in pages), value
