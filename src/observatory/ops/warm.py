"""Warm workers: the heavy imports done once per Airflow worker, not once per task (issue 18).

Every Airflow 3 task runs in a process forked from its worker (the Task SDK's supervisor
forks; LocalExecutor's workers are forked from the scheduler, Celery's pool processes from
the `airflow celery worker` process). A module the worker imported before forking is in
every task's process already; one it did not is imported by every task again. The
observatory's tasks import pandas, DuckDB, Great Expectations (about 2-6 s on the machines
measured, docs/performance.md) and scikit-learn: a daily ingest or build task of a few
seconds' work paid that on every run.

`preload()` imports them in the worker before it forks:

* LocalExecutor (`make airflow`): `[core] executor =
  observatory.ops.executors.WarmLocalExecutor`, which preloads in the scheduler before it
  forks its worker processes;
* CeleryExecutor (`make airflow-cluster`, docs/scaling-out.md): `[celery]
  celery_config_options = observatory.ops.celery_config.CELERY_CONFIG`, which preloads on
  Celery's `import_modules` signal in the worker process, before its pool forks (where
  Airflow preloads its own modules).

Nothing else changes: a task in a worker that did not preload imports the same modules
itself, as before. `preloaded()` tells a task which of them it found already imported; the
ingest and build tasks return it, so a run's XCom shows whether its worker was warm.

Only imports happen here: no connection, file or thread is opened before the fork (the
modules listed start no thread on import; `tests/test_warm.py` checks).
"""

from __future__ import annotations

import importlib
import logging
import sys
import time

log = logging.getLogger(__name__)

#: What the observatory's tasks import, heaviest first: GX (the suites of every ingest
#: batch and the Data Docs), scikit-learn (the perception model, PCA weights, the fear-gap
#: baseline), SciPy, pandas and DuckDB, and the observatory's own pipeline and index.
#: pyfixest (the intervention evaluations) imports its estimators lazily, on first use.
MODULES = (
    "great_expectations",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "sklearn.decomposition",
    "scipy.sparse",
    "scipy.stats",
    "skops.io",
    "pandas",
    "duckdb",
    "observatory.pipeline",
    "observatory.ingest",
    "observatory.validation.gx_engine",
    "observatory.index.steps",
    "observatory.interventions.step",
    "observatory.publish",
    "observatory.report",
)

#: The modules whose presence at a task's start says its worker preloaded.
_MARKERS = ("great_expectations", "sklearn.ensemble", "observatory.index.steps")


def preload(modules: tuple[str, ...] = MODULES) -> dict[str, float]:
    """Import `modules` now (seconds per module; a module that fails to import is logged
    and left to the task, which then reports its error as it would have)."""
    seconds: dict[str, float] = {}
    for name in modules:
        started = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 (a worker must start even if one import fails)
            log.warning("warm worker: %s did not import; tasks will import it", name, exc_info=True)
            continue
        seconds[name] = time.perf_counter() - started
    log.info(
        "warm worker: %d modules imported in %.2f s before forking tasks",
        len(seconds),
        sum(seconds.values()),
    )
    return seconds


def preloaded() -> bool:
    """Whether this process found the heavy modules imported before its task began (call
    it first thing in a task, before the task's own imports)."""
    return all(name in sys.modules for name in _MARKERS)
