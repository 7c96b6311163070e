"""Expectation suites: GX 1.x JSON under `expectations/`, bound to one city and source.

Suites are written once per source kind (`expectations/<kind>.json`), with optional
additions per source (`expectations/<source_name>.json`). A project may keep suites in its
own folder (`[project] expectations`), searched before the package's. City-specific values (the
extent, the known categories, "now") appear in the JSON as `{"$PARAMETER": "name"}` and
are bound here. An expectation whose parameter has no value for this source is skipped
(for example, the category set of a source that declares no categories).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

from observatory.config import SUITE_NAME, Config, ConfigError, SourceConfig
from observatory.sql_util import repo_dir

_MISSING = object()


def suite_path(name: str, project_dir: Path | None = None) -> Path:
    """The JSON file of a suite: the project's own folder first, then the package's.

    The name is a plain file stem (`SUITE_NAME`; `[[sources]] suite` is checked when the
    config loads): the path found always lies inside the folder searched, never outside.
    """
    if not SUITE_NAME.match(name):
        raise ConfigError(f"{name!r} is not a suite name (letters, digits, '_' and '-')")
    for folder in (project_dir, repo_dir("expectations")):
        if folder is None:
            continue
        path = (folder / f"{name}.json").resolve()
        if not path.is_relative_to(folder.resolve()):
            raise ConfigError(f"suite {name!r} resolves outside {folder}: {path}")
        if path.is_file() or folder != project_dir:
            return path
    raise AssertionError("unreachable: the package's expectations folder is always searched")


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read expectation suite: {exc}") from exc


def _bind(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$PARAMETER"}:
            return params.get(value["$PARAMETER"], _MISSING)
        return {k: _bind(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_bind(v, params) for v in value]
    return value


def _has_missing(value: Any) -> bool:
    if value is _MISSING:
        return True
    if isinstance(value, dict):
        return any(_has_missing(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_missing(v) for v in value)
    return False


_IN_SCOPE = {
    "type": "comparison",
    "column": {"name": "in_scope"},
    "operator": "==",
    "parameter": True,
}


def _only_in_scope(kwargs: dict[str, Any]) -> None:
    """Restrict a column expectation to the rows the source keeps (`keep_rows`), so a row
    outside the source's scope carries that one reason and does not, say, make an in-scope
    row's id look repeated."""
    if "column" not in kwargs or kwargs["column"] == "in_scope":
        return
    condition = kwargs.get("row_condition")
    kwargs["row_condition"] = (
        {"type": "and", "conditions": [condition, _IN_SCOPE]} if condition else _IN_SCOPE
    )


def suite_parameters(
    src: SourceConfig, extent: tuple[float, float, float, float], now: dt.datetime
) -> dict[str, Any]:
    """The values a source's suite is bound with."""
    min_lon, min_lat, max_lon, max_lat = extent
    params: dict[str, Any] = {
        "lon_min": min_lon,
        "lon_max": max_lon,
        "lat_min": min_lat,
        "lat_max": max_lat,
        "now": now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "metrics": list(src.metrics),
        "scope_reason": src.keep_rows.reason if src.keep_rows else "row outside the source's scope",
    }
    if src.severity:
        params["categories"] = sorted(src.severity)
    if src.items:
        params["items"] = sorted(src.items)
    return params


def load_suite(
    src: SourceConfig, params: dict[str, Any], cfg: Config | None = None
) -> dict[str, Any]:
    """The bound suite for a source: its kind's suite plus its own additions, if any.

    Suites are looked up in the project's `[project] expectations` folder (when `cfg` sets
    one), then in the package's `expectations/`.
    """
    own = cfg.resolve(cfg.project.expectations) if cfg and cfg.project.expectations else None
    if own is not None and not own.is_dir():
        raise ConfigError(f"project.expectations: folder not found: {own}")
    path = suite_path(src.suite_name, own)
    if not path.is_file():
        raise ConfigError(f"source {src.name!r}: expectation suite not found: {path}")
    suite = _read(path)
    extra = suite_path(src.name, own)
    if src.suite_name != src.name and extra.is_file():
        suite["expectations"] = suite["expectations"] + _read(extra)["expectations"]
    bound = []
    for original in suite["expectations"]:
        exp = copy.deepcopy(original)
        exp["kwargs"] = _bind(exp.get("kwargs", {}), params)
        exp["meta"] = _bind(exp.get("meta", {}), params)
        if src.keep_rows:
            _only_in_scope(exp["kwargs"])
        if not _has_missing(exp["kwargs"]):
            bound.append(exp)
    return {"name": f"{suite.get('name', src.suite_name)}.{src.name}", "expectations": bound}
