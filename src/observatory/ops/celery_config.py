"""Celery settings for the observatory's Airflow workers: Airflow's defaults, plus the
observatory's heavy imports done in each worker before its pool forks (observatory.ops.warm).

Set `[celery] celery_config_options = observatory.ops.celery_config.CELERY_CONFIG`
(`make airflow-cluster` and docs/scaling-out.md do). Celery sends `import_modules` in the
`airflow celery worker` process before it starts its pool; Airflow preloads its own
modules on the same signal (and then freezes the garbage collector, so the forks share the
pages). The scheduler and API server, which also read these settings to send tasks, never
get the signal and import nothing more.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import import_modules

from observatory.ops import warm

#: Airflow's own Celery settings, unchanged.
CELERY_CONFIG: dict[str, Any] = dict(DEFAULT_CELERY_CONFIG)


@import_modules.connect
def _preload(*_: Any, **__: Any) -> None:
    warm.preload()
