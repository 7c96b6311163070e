"""`WarmLocalExecutor`: Airflow's LocalExecutor with the observatory's heavy imports done in
the scheduler before it forks its worker processes (observatory.ops.warm).

Set `[core] executor = observatory.ops.executors.WarmLocalExecutor` (`make airflow` does).
Every task then starts with pandas, DuckDB, Great Expectations and scikit-learn imported,
instead of importing them itself. The cost: the scheduler holds them (about 300 MB RSS,
shared copy-on-write with its workers) and starts a few seconds later.
"""

from __future__ import annotations

from airflow.executors.local_executor import LocalExecutor

from observatory.ops import warm


class WarmLocalExecutor(LocalExecutor):
    """LocalExecutor whose workers are forked after `warm.preload()`."""

    def start(self) -> None:
        """Preload, then start (and fork) the workers as LocalExecutor does."""
        if self.is_mp_using_fork:  # spawned workers would not inherit the imports
            warm.preload()
        super().start()
