"""Warm workers (observatory.ops.warm): the heavy imports done before the fork.

Each check runs in a fresh interpreter, as a worker starts: what it imports, that it starts
no thread (a fork copies only the thread that forks), that the DAG files' parse does not
already import what `preloaded()` looks for (else the tasks' `preloaded` would say nothing),
and that a task forked after the preload validates a batch with GX and fits a model.
The e2e tests check the same on a real Airflow: tests/test_airflow_e2e.py (LocalExecutor)
and tests/test_celery_cluster.py (Celery workers).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.airflow_support import DAGS, make_city


def _python(code: str, **env: str) -> str:
    done = subprocess.run(  # noqa: S603 (this Python, fixed code)
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=300, check=False, env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def test_preload_imports_the_stack_and_starts_no_thread() -> None:
    out = _python(
        """
        import sys, threading
        from observatory.ops import warm
        before = warm.preloaded()
        seconds = warm.preload()
        print(before, warm.preloaded(), threading.active_count(),
              sorted(set(warm.MODULES) - set(seconds)), all(m in sys.modules for m in warm.MODULES))
        """
    )
    assert out == "False True 1 [] True"


def test_parsing_the_dag_files_does_not_import_what_preloaded_looks_for(tmp_path: Path) -> None:
    out = _python(
        f"""
        import runpy
        from pathlib import Path
        from observatory.ops import warm
        files = sorted(Path({str(DAGS)!r}).glob("*.py"))
        dags = [k for p in files for k in runpy.run_path(str(p)) if "." in k]
        print(len(dags), warm.preloaded())
        """,
        OBSERVATORY_CONFIG=str(make_city(tmp_path / "city")),
    )
    count, preloaded = out.splitlines()[-1].split()
    assert int(count) >= 5 and preloaded == "False"


def test_a_task_forked_after_the_preload_validates_with_gx_and_fits_a_model() -> None:
    out = _python(
        """
        import os, sys
        from observatory.ops import warm
        warm.preload()
        pid = os.fork()
        if pid == 0:
            import numpy as np, pandas as pd
            from sklearn.linear_model import LinearRegression
            from observatory.validation.gx_engine import validate_dataframe
            suite = {"name": "warm", "expectations": [{
                "type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"},
                "meta": {"severity": "error"}}]}
            got = validate_dataframe(pd.DataFrame({"x": [1.0, None, 3.0]}), suite)
            fit = LinearRegression().fit(np.arange(4.0).reshape(-1, 1), [0.0, 2.0, 4.0, 6.0])
            ok = (warm.preloaded() and len(got) == 1 and not got[0].success
                  and got[0].unexpected_count == 1 and abs(fit.coef_[0] - 2.0) < 1e-9)
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
        """
    )
    assert out == "0"
