"""The network DAG `<network>.network`: rebuild the network warehouse after its cities'.

Scheduled on the member cities' marts Assets (every member's, or any member's, by the
network file's `schedule`): one `snapshot_<city>` task per member copies that city's
warehouse while holding the city's one-slot pool (so it never reads a file being
written), then **build** ATTACHes the copies read-only and writes the network warehouse,
and **report** renders the comparison page; both hold the network's own one-slot pool.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from observatory.config import Config, ConfigError, load_config
from observatory.network.config import NetworkConfig, load_network

START_DATE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "observatory",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=2),
}


def network_pool(net: NetworkConfig) -> str:
    """The one-slot pool of the network warehouse."""
    return f"observatory_{net.network.id}"


def network_asset(net: NetworkConfig) -> Asset:
    """The Asset the network DAG updates when the network warehouse is rebuilt."""
    return Asset(
        name=f"{net.network.id}.network",
        uri=f"x-observatory://{net.network.id}/network",
        group="observatory",
        extra={"warehouse": str(net.warehouse_path)},
    )


def network_dags(
    paths: list[Path], projects: list[tuple[Path, Config | str]]
) -> tuple[list[DAG], list[str]]:
    """One DAG per network file; the problems of those that cannot be served."""
    served = {path: cfg for path, cfg in projects if not isinstance(cfg, str)}
    dags, problems = [], []
    for path in paths:
        try:
            net = load_network(path)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        members = [(p, served[p]) for p in net.member_paths if p in served]
        if not members:
            problems.append(f"{path}: no member city's project file loads")
            continue
        dags.append(network_dag(path, net, members))
    return dags, problems


def network_dag(path: Path, net: NetworkConfig, members: list[tuple[Path, Config]]) -> DAG:
    """The network DAG of one network file, over the members whose project files load."""
    from observatory.orchestration import marts_asset, pool_name  # noqa: PLC0415

    assets = [marts_asset(cfg) for _, cfg in members]
    schedule: Any = assets[0]
    for asset in assets[1:]:
        schedule = (schedule & asset) if net.schedule == "all" else (schedule | asset)
    out = network_asset(net)
    when = "every member city's" if net.schedule == "all" else "any member city's"
    doc = f"""### Network {net.network.name}
Runs when {when} index has rebuilt its marts (Assets: {", ".join(a.name for a in assets)}).
Each **snapshot_&lt;city&gt;** copies that city's warehouse holding the city's pool;
**build** compares the cities on the core items with a common method
(`marts.network_cities`, `network_ranks`, `network_coverage` in `{net.warehouse_path}`) and
**report** writes the comparison page `{net.report_path}` (docs/network.md).
"""

    @dag(
        dag_id=f"{net.network.id}.network",
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["observatory", f"network:{net.network.id}", "network"],
        doc_md=doc,
    )
    def _network_dag() -> None:
        @task
        def snapshot(config_path: str, network_path: str) -> str:
            """Copy the city's warehouse for the network build (holding the city's pool)."""
            from observatory.network.members import snapshot as copy  # noqa: PLC0415

            cfg = load_config(config_path)
            if not cfg.warehouse_path.is_file():
                raise AirflowSkipException(f"{cfg.city.id} has no warehouse yet")
            return str(copy(cfg, load_network(network_path).snapshot_dir))

        @task(pool=network_pool(net), outlets=[out], trigger_rule="none_failed")
        def build(network_path: str) -> dict[str, Any]:
            """Rebuild the network warehouse from the members' snapshots."""
            from observatory.network.build import build_network  # noqa: PLC0415

            report = build_network(load_network(network_path), from_snapshots=True)
            stats = {"build_id": report.build_id, "compared": report.compared,
                     "not_compared": report.problems, "rows": report.rows}  # fmt: skip
            get_current_context()["outlet_events"][out].extra = stats
            return stats

        @task(pool=network_pool(net))
        def report(network_path: str) -> str:
            """Render the comparison page from the network warehouse."""
            from observatory.network.report import write_network_report  # noqa: PLC0415

            return str(write_network_report(load_network(network_path)))

        copies = [
            snapshot.override(task_id=f"snapshot_{cfg.city.id}", pool=pool_name(cfg))(
                str(config), str(path)
            )
            for config, cfg in members
        ]
        built = build(str(path))
        copies >> built
        built >> report(str(path))

    return _network_dag()
