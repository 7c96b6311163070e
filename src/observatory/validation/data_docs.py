"""GX Data Docs: a browsable site of the latest validation run of every batch.

Every run keeps GX's own result (an `ExpectationSuiteValidationResult` as JSON) in
`ops.validation_runs.result_json`, written in the batch's transaction. `build_docs` loads the
latest run of every batch into an in-memory GX context whose only Data Docs site is the
`[project] data_docs` folder, and lets GX's SiteBuilder render it (removing pages of runs no
longer in the warehouse). Like a mart, the site is derived: `observatory docs` regenerates it
at any time, on any machine, and it cannot drift from `ops.validation_*`. Its pages load
only the site's own files, so it opens without the internet (`data_docs_assets`).

Each expectation reads as GX words it, then its severity (`error` quarantines, `warn` only
reports), its quarantine reason and its type (as in `ops.validation_results`). GX's own hook
for such columns (`meta_properties` suite notes) breaks its 1.24 expectation models, so this
text is the expectation's `description`, which GX renders in place of its wording.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import string
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from observatory.config import Config
from observatory.validation import data_docs_assets
from observatory.validation.gx_engine import ExpectationOutcome, _quiet_gx
from observatory.warehouse import columns_of, connect

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

SITE_NAME = "observatory"
#: Our `meta.severity` as GX 1.x's own expectation severity.
_GX_SEVERITY = {"error": "critical", "warn": "warning"}


def result_json(
    suite: dict,
    outcomes: list[ExpectationOutcome],
    *,
    run_id: str,
    batch_id: str,
    source_name: str,
    validated_at: dt.datetime,
) -> str:
    """GX's ExpectationSuiteValidationResult of one run, as JSON to keep in the warehouse.

    Args:
        suite: The bound suite that was run (its `meta` per expectation: severity, reason).
        outcomes: GX's outcomes, in suite order.
        run_id: The run's key in `ops.validation_runs`; GX's run name.
        batch_id: The validated batch; GX's batch identifier.
        source_name: The source; GX's data asset name.
        validated_at: When the run was recorded; GX's run time.
    """
    results = []
    for exp, out in zip(suite["expectations"], outcomes, strict=True):
        error = out.result.get("exception_message")
        config = {
            "type": out.expectation_type,
            "kwargs": out.kwargs,
            "meta": exp.get("meta") or {},
            "severity": _GX_SEVERITY.get(out.severity, "critical"),
        }
        results.append(
            {
                "success": out.success,
                "expectation_config": config,
                "result": {k: v for k, v in out.result.items() if k != "exception_message"},
                "meta": {},
                "exception_info": {
                    "raised_exception": bool(error),
                    "exception_message": error,
                    "exception_traceback": None,
                },
            }
        )
    passed = sum(r["success"] for r in results)
    asset = {"datasource_name": "warehouse", "data_asset_name": source_name}
    document = {
        "success": passed == len(results),
        "results": results,
        "suite_name": suite["name"],
        "suite_parameters": {},
        "statistics": {
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": 100.0 * passed / len(results) if results else None,
        },
        "meta": {
            "great_expectations_version": version("great_expectations"),
            "run_id": {"run_name": run_id, "run_time": validated_at.isoformat()},
            "validation_time": validated_at.isoformat(),
            "batch_spec": {**asset, "batch_id": batch_id},
            "active_batch_definition": {**asset, "batch_identifiers": {"batch_id": batch_id}},
        },
    }
    return json.dumps(document, default=str)


def latest_runs(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The latest validation run of every batch, oldest first, with its GX result JSON.

    Runs recorded before `result_json` existed (older warehouses) have none and are left out.
    """
    if "result_json" not in columns_of(con, "ops.validation_runs"):
        log.warning("ops.validation_runs has no result_json yet: open the warehouse once to add it")
        return []
    rel = con.execute(
        """
        select run_id, batch_id, source_name, suite_name, validated_at, result_json
        from ops.validation_runs
        where result_json is not null
        qualify row_number() over (
            partition by batch_id order by validated_at desc, run_id desc
        ) = 1
        order by validated_at, batch_id
        """
    )
    cols = [d[0] for d in rel.description]
    return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]


def _context(site_dir: Path) -> Any:
    """An in-memory GX context whose only Data Docs site is `site_dir`."""
    import great_expectations as gx  # noqa: PLC0415
    from great_expectations.data_context.types.base import (  # noqa: PLC0415
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(site_dir),
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        # Our run names are run ids (they start with the source name): let GX treat none of
        # them as profiling runs, whatever a source is called.
        "site_section_builders": {
            "profiling": "None",
            "validations": {"run_name_filter": {"matches_regex": "."}},
        },
    }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={SITE_NAME: site},
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _gx_wording(config: dict[str, Any]) -> str:
    """GX's own prescriptive sentence for an expectation, as plain text ("" if it has none)."""
    from great_expectations.expectations.expectation_configuration import (  # noqa: PLC0415
        ExpectationConfiguration,
    )
    from great_expectations.expectations.registry import get_renderer_impl  # noqa: PLC0415
    from great_expectations.render.components import LegacyRendererType  # noqa: PLC0415

    renderer = get_renderer_impl(config["type"], LegacyRendererType.PRESCRIPTIVE)
    if renderer is None:
        return ""
    expectation = ExpectationConfiguration(type=config["type"], kwargs=config["kwargs"])
    try:
        blocks = renderer[1](configuration=expectation, runtime_configuration={})
    except Exception as exc:  # a wording GX cannot render is not worth a failed site
        log.debug("no GX wording for %s: %s", config["type"], exc)
        return ""
    texts = []
    for block in blocks:
        template = getattr(block, "string_template", None) or {}
        params = {k: str(v) for k, v in (template.get("params") or {}).items()}
        texts.append(string.Template(template.get("template", "")).safe_substitute(params))
    return " ".join(t for t in texts if t)


def _described(result: dict[str, Any]) -> dict[str, Any]:
    """A stored result whose expectations carry their Data Docs text as `description`."""
    for evr in result["results"]:
        config = evr["expectation_config"]
        meta = config.get("meta") or {}
        reason = meta.get("reason")
        severity = str(meta.get("severity", "error"))
        parts = [_gx_wording(config), f"{severity}: {reason}" if reason else severity]
        config["description"] = " · ".join(p for p in parts if p) + f" ({config['type']})"
    return result


#: Columns whose failing values never reach the Data Docs site: record ids (a survey
#: response or an incident report identifies a person or a case) are withheld, and
#: coordinates are rounded to 3 decimals (about 100 m). The full values stay internal, in
#: ops.validation_results (docs/validation.md, "Data Docs").
_IDENTIFIERS = {"record_id", "response_id", "respondent_id", "incident_id"}
_COORDINATES = {"latitude", "longitude", "coord_x", "coord_y"}
_WITHHELD = "(withheld)"


def _redacted(result: dict[str, Any]) -> dict[str, Any]:
    """A stored result fit to publish: no record ids, no exact coordinates."""
    for evr in result["results"]:
        column = (evr["expectation_config"].get("kwargs") or {}).get("column")
        if column not in _IDENTIFIERS | _COORDINATES:
            continue
        shown = _WITHHELD if column in _IDENTIFIERS else None
        res = evr.get("result") or {}
        for key in ("partial_unexpected_list", "unexpected_list"):
            if key in res:
                res[key] = [_public(v, shown) for v in res[key]]
        if "partial_unexpected_counts" in res:
            res["partial_unexpected_counts"] = [
                {**c, "value": _public(c.get("value"), shown)}
                for c in res["partial_unexpected_counts"]
            ]
        res.pop("partial_unexpected_index_list", None)
    return result


def _public(value: Any, withheld: str | None) -> Any:
    if withheld is not None:
        return withheld
    try:
        return round(float(value), 3)
    except (TypeError, ValueError):
        return _WITHHELD


def _add_run(context: Any, run: dict[str, Any], result: dict[str, Any]) -> None:
    """Put one run's result into the context's validation results store.

    The JSON goes to the store's backend as it is, which is how the store itself keeps it:
    `store.set` would parse and re-serialise it first, half of this module's run time.
    """
    from great_expectations.core.run_identifier import RunIdentifier  # noqa: PLC0415
    from great_expectations.data_context.types.resource_identifiers import (  # noqa: PLC0415
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    key = ValidationResultIdentifier(
        ExpectationSuiteIdentifier(name=run["suite_name"]),
        RunIdentifier(run_name=run["run_id"], run_time=run["validated_at"]),
        run["batch_id"],
    )
    store = context.validation_results_store
    store.store_backend.set(store.key_to_tuple(key), json.dumps(result))


def _add_suite(context: Any, result: dict[str, Any]) -> None:
    """Register the suite a result ran, as bound for that run (its page in Data Docs)."""
    import great_expectations as gx  # noqa: PLC0415

    keys = ("type", "kwargs", "meta", "description")
    expectations = [{k: evr["expectation_config"][k] for k in keys} for evr in result["results"]]
    context.suites.add(gx.ExpectationSuite(name=result["suite_name"], expectations=expectations))


def build_docs(cfg: Config, con: duckdb.DuckDBPyConnection | None = None) -> Path:
    """Regenerate the Data Docs site from the warehouse: one page per batch's latest run.

    Args:
        cfg: The project; the site goes to `[project] data_docs`.
        con: An open warehouse connection; by default the warehouse is opened read-only.

    Returns:
        The site's `index.html`.
    """
    own = con is None
    con = con or connect(cfg, read_only=True)
    try:
        runs = latest_runs(con)
    finally:
        if own:
            con.close()
    site_dir = cfg.resolve(cfg.project.data_docs).resolve()
    site_dir.mkdir(parents=True, exist_ok=True)
    with _quiet_gx():
        context = _context(site_dir)
        latest_by_suite = {}
        for run in runs:
            result = _redacted(_described(json.loads(run["result_json"])))
            _add_run(context, run, result)
            latest_by_suite[run["suite_name"]] = result
        for result in latest_by_suite.values():
            _add_suite(context, result)
        context.build_data_docs(site_names=[SITE_NAME])
    # GX's pages load their scripts and styles from CDNs: serve the site's own copies
    data_docs_assets.install(site_dir)
    data_docs_assets.localise(site_dir)
    log.info("Data Docs: %d run(s) in %s", len(runs), site_dir)
    return site_dir / "index.html"
