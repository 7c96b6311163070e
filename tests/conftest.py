"""Shared fixtures: a small synthetic demo city, generated and run once per test session."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from observatory import pipeline
from observatory.config import Config, load_config
from observatory.demo.generator import generate

# The build's cache of parsed SQL (observatory.graph.references_cache) stays out of the
# home folder of whoever runs the tests (child processes inherit it).
os.environ.setdefault(
    "OBSERVATORY_CACHE_DIR",
    str(Path(tempfile.gettempdir()) / f"observatory-test-cache-{os.getuid()}"),
)


@dataclass
class DemoCity:
    """A generated and ingested small demo city."""

    root: Path
    cfg: Config
    report: pipeline.RunReport

    def connect(self) -> duckdb.DuckDBPyConnection:
        """Read-only connection to the demo warehouse."""
        return duckdb.connect(str(self.cfg.warehouse_path), read_only=True)


@pytest.fixture(scope="session")
def demo_city(tmp_path_factory: pytest.TempPathFactory) -> DemoCity:
    """The 'small' demo city (20 zones, 6 months), run end to end once."""
    root = tmp_path_factory.mktemp("demo_small")
    generate(root, scale="small")
    cfg = load_config(root / "observatory.toml")
    report = pipeline.run(cfg)
    return DemoCity(root, cfg, report)


@pytest.fixture
def demo_copy(demo_city: DemoCity, tmp_path: Path) -> Iterator[DemoCity]:
    """A private copy of the demo city (landing + warehouse) that a test may change."""
    root = tmp_path / "city"
    shutil.copytree(demo_city.root, root)
    cfg = load_config(root / "observatory.toml")
    yield DemoCity(root, cfg, demo_city.report)


_EXIT_STATUS = {"code": 0}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remember pytest's exit status for the hard exit below."""
    _EXIT_STATUS["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Exit without interpreter teardown, keeping pytest's status and its summary as the
    last lines: with great_expectations and duckdb_engine imported, DuckDB 2.0's nanobind
    bindings print dozens of harmless 'leaked instance' lines at teardown."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT_STATUS["code"])
