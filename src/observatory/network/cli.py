"""`observatory network ...` and `observatory demo --network`: the network's commands.

Kept beside the network package; `observatory.cli` mounts `network_app` and calls
`demo_network` for `demo --network`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from observatory import progress
from observatory.config import ConfigError

network_app = typer.Typer(help="A network of cities: comparable figures on the core items.")
NETWORK_DEMO_DIR = Path("var/demo-network")
NetworkOpt = Annotated[Path, typer.Option("--network", "-n", help="the network file (TOML)")]


def _build_and_report(path: Path) -> int:
    from observatory.network.build import build_network  # noqa: PLC0415
    from observatory.network.config import load_network  # noqa: PLC0415
    from observatory.network.report import write_network_report  # noqa: PLC0415

    net = load_network(path)
    with progress.display(sys.stderr):
        report = build_network(net)
    for city in report.compared:
        typer.echo(f"  compared      {city}")
    for city, problem in report.problems.items():
        typer.echo(f"  NOT COMPARED  {city}: {problem}", err=True)
    typer.echo(f"\nNetwork warehouse: {report.warehouse}")
    typer.echo("  " + ", ".join(f"marts.{t} {n} rows" for t, n in report.rows.items()))
    typer.echo(f"Report: {write_network_report(net)}")
    return 0 if report.compared else 1


@network_app.command("build")
def build(network: NetworkOpt = Path("network.toml")) -> None:
    """ATTACH the member warehouses read-only and rebuild the network warehouse and page."""
    try:
        code = _build_and_report(network)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def demo_network(directory: Path, seed: int) -> int:
    """Generate the five SYNTHETIC member cities, run each city's pipeline, build the network."""
    from observatory.config import load_config  # noqa: PLC0415
    from observatory.demo.network import CITIES, generate_network  # noqa: PLC0415
    from observatory.pipeline import run  # noqa: PLC0415

    typer.echo(f"Generating the SYNTHETIC demo network ({len(CITIES)} cities) in {directory} ...")
    path = generate_network(directory, seed=seed)
    failed = 0
    for city in CITIES:
        cfg = load_config(directory / city.id / "observatory.toml")
        with progress.display(sys.stderr):
            result = run(cfg)
        failed += len(result.failed)
        typer.echo(f"  {cfg.city.name:<42} {len(result.batches):>3} batches, "
                   f"{result.seconds:5.1f} s -> {cfg.warehouse_path}")  # fmt: skip
    code = _build_and_report(path)
    typer.echo("All figures are SYNTHETIC.")
    return 1 if failed else code
