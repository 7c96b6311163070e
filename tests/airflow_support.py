"""Helpers for the Airflow tests: a private AIRFLOW_HOME, a demo city, its project file.

Airflow reads its configuration once, when it is first imported, so the environment built
here must be in place before any `airflow` import: the test modules import Airflow (and
`observatory.orchestration`, which imports it) only inside fixtures and tests.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

from observatory.demo.generator import generate

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
BIN = Path(sys.executable).parent
CITY = "demo_torino"
POOL = f"observatory_{CITY}"


def airflow_env(home: Path, config: Path, **extra: str) -> dict[str, str]:
    """Environment for an Airflow that keeps everything under `home` and serves `config`.

    SQLite metadata DB, this repository's dags/ folder, no example DAGs, one secret shared
    by every process (API server, scheduler, DAG processor, task runners).
    """
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "OBSERVATORY_CONFIG": str(config),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.update(extra)
    return env


def run_airflow(args: list[str], env: dict[str, str], timeout: float = 180) -> str:
    """Run an `airflow` CLI command in a child process; its output, or a readable failure."""
    done = subprocess.run(
        [str(BIN / "airflow"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def make_city(root: Path) -> Path:
    """Generate the small SYNTHETIC demo city under `root` (not ingested); its project file."""
    generate(root, scale="small")
    return root / "observatory.toml"


def variant(config: Path, name: str, extra_toml: str) -> Path:
    """A copy of a project file with TOML appended, next to it (so relative paths, hence the
    warehouse and landing folder, stay the same)."""
    path = config.with_name(name)
    path.write_text(config.read_text(encoding="utf-8") + "\n" + extra_toml, encoding="utf-8")
    return path


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
