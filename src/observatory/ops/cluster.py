"""A real Airflow cluster on loopback: CeleryExecutor, Redis broker, PostgreSQL metadata DB.

`make airflow-cluster` and tests/test_celery_cluster.py start the same thing:

* a throwaway PostgreSQL cluster (`initdb` into the cluster folder, trust auth, TCP on
  127.0.0.1 only), database `airflow`, the metadata DB and Celery's result backend;
* `redis-server` on 127.0.0.1, no persistence: the Celery broker;
* `airflow api-server`, `scheduler`, `dag-processor` and two `airflow celery worker`s.

Every process is a child started here, bound to 127.0.0.1 on free ports, and stopped here
(`Cluster.stop`, also when start-up fails). The two workers run tasks under their own
hostnames (`[core] hostname_callable` = `worker_hostname`, the worker's name), so the REST
API's task instances say which worker ran each task. The workers start no log server (it
would listen on every interface): task logs are files in the cluster's AIRFLOW_HOME, which
the API server reads directly. PostgreSQL refuses to run as root: as root, its throwaway
folder belongs to `postgres` and its programs run through `runuser`.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
WORKER_ENV = "OBSERVATORY_WORKER_NAME"
WORKERS = ("worker-a", "worker-b")


def worker_hostname() -> str:
    """`[core] hostname_callable` of the cluster: the Celery worker's name, else the host's."""
    return os.environ.get(WORKER_ENV) or socket.getfqdn()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name}: PostgreSQL is not installed (apt-get install postgresql)")
    return path


@dataclass
class Cluster:
    """The cluster's folder, ports and child processes."""

    root: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    user: str = "analyst"
    api_port: int = field(default_factory=free_port)
    pg_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    concurrency: int = 2
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    @property
    def url(self) -> str:
        """The API server's base URL."""
        return f"http://127.0.0.1:{self.api_port}"

    pg_dir: Path | None = None

    def env(self) -> dict[str, str]:
        """The environment every Airflow process of the cluster shares."""
        home = self.root / "airflow"
        db = f"postgres@127.0.0.1:{self.pg_port}/airflow"
        if not hasattr(self, "_secrets"):
            self._secrets = (secrets.token_hex(16), secrets.token_hex(16))
        return {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "observatory.ops.cluster.worker_hostname",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{db}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{db}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
            # the workers import GX, scikit-learn, pandas and DuckDB once (observatory.ops.warm)
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "observatory.ops.celery_config.CELERY_CONFIG",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secrets[0],
            "AIRFLOW__API__SECRET_KEY": self._secrets[1],
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "15",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            **self.env_extra,
        }

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Cluster:
        """Start every service; on any failure, stop what was started and re-raise."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / "logs").mkdir(exist_ok=True)
            self._start_postgres()
            self._spawn("redis", [self._redis_bin(), "--bind", "127.0.0.1", "--port",
                                  str(self.redis_port), "--save", "", "--appendonly", "no",
                                  "--dir", str(self.root)])  # fmt: skip
            self._wait_port(self.redis_port, "redis")
            home = self.root / "airflow"
            home.mkdir(exist_ok=True)
            (home / "passwords.json").write_text(json.dumps({self.user: self.password}))
            self._airflow(["db", "migrate"], timeout=600)
            for pool in self._pools():
                self._airflow(["pools", "set", pool, "1", "DuckDB: one writer per warehouse"])
            self._spawn("api-server", [str(BIN / "airflow"), "api-server"])
            self._spawn("scheduler", [str(BIN / "airflow"), "scheduler"])
            self._spawn("dag-processor", [str(BIN / "airflow"), "dag-processor"])
            for name in WORKERS:  # task logs are files under AIRFLOW_HOME: no log server
                command = [
                    "celery",
                    "worker",
                    "--celery-hostname",
                    f"{name}@%h",
                    "--concurrency",
                    str(self.concurrency),
                    "--skip-serve-logs",
                ]
                self._spawn(name, [str(BIN / "airflow"), *command], {WORKER_ENV: name})
            self._wait_http(f"{self.url}/api/v2/monitor/health", timeout=180)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every child (Airflow first, then Redis), then PostgreSQL, and remove its
        throwaway data folder."""
        procs = [self.processes[name] for name in reversed(list(self.processes))]
        self.processes.clear()
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self.pg_dir is not None:
            if (self.pg_dir / "postmaster.pid").is_file():
                self._pg(["pg_ctl", "stop", "-D", str(self.pg_dir), "-m", "fast", "-w"])
            shutil.rmtree(self.pg_dir, ignore_errors=True)
            self.pg_dir = None

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- pieces --------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str], extra: dict[str, str] | None = None) -> None:
        out = (self.root / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(  # noqa: S603 (argv: the venv's airflow or redis-server, no shell)
            args, env={**self.env(), **(extra or {})}, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.root,
        )  # fmt: skip
        self.processes[name] = proc
        log.info("cluster: %s started (pid %s)", name, proc.pid)

    def _airflow(self, args: list[str], timeout: float = 180) -> str:
        done = subprocess.run(  # noqa: S603 (argv: the venv's airflow and our args, no shell)
            [str(BIN / "airflow"), *args], env=self.env(), capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def _pools(self) -> list[str]:
        code = "from observatory.orchestration import pool_names; print(' '.join(pool_names()))"
        out = subprocess.run(  # noqa: S603 (argv: this Python and fixed code, no shell)
            [sys.executable, "-c", code], env=self.env(), capture_output=True, text=True,
            check=True, timeout=120,
        )  # fmt: skip
        return out.stdout.split()

    def _pg(self, args: list[str]) -> None:
        command = [_pg_bin(args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)  # noqa: S603 (PostgreSQL's tools, no shell)

    def _start_postgres(self) -> None:
        # A fresh folder of its own under the system temp dir: the `postgres` user can reach
        # it (a test's tmp_path is private to root) and nothing of an earlier run is reused.
        self.pg_dir = Path(tempfile.mkdtemp(prefix="observatory-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.pg_dir, "postgres", "postgres")
        self._pg(["initdb", "-D", str(self.pg_dir), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-instructions"])  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.pg_port} "
            f"-c unix_socket_directories={self.pg_dir}"
        )
        self._pg(["pg_ctl", "start", "-D", str(self.pg_dir), "-w", "-l",
                  str(self.pg_dir / "server.log"), "-o", options])  # fmt: skip
        psql = [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres"]
        have = subprocess.run(  # noqa: S603 (argv: psql and fixed SQL, no shell)
            [*psql, "-tAc", "select 1 from pg_database where datname = 'airflow'"],
            check=True, capture_output=True, text=True, timeout=60,
        ).stdout.strip()  # fmt: skip
        if have != "1":
            subprocess.run([*psql, "-c", "create database airflow"], check=True,  # noqa: S603 (psql, fixed SQL, no shell)
                           capture_output=True, timeout=60)  # fmt: skip

    @staticmethod
    def _redis_bin() -> str:
        path = shutil.which("redis-server")
        if path is None:
            raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
        return path

    def _wait_port(self, port: int, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")

    def _wait_http(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    logs = self.root / "logs"
                    raise RuntimeError(f"{name} exited with {proc.returncode}: see {logs}")
            try:
                with urllib.request.urlopen(url, timeout=5):  # noqa: S310 (http://127.0.0.1, built in code)
                    return
            except OSError:
                time.sleep(1)
        raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def main() -> None:
    """`make airflow-cluster`: start the cluster, print where it is, stop it on Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="the cluster's folder")
    parser.add_argument("--port", type=int, default=8080, help="the API server's port")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cluster = Cluster(args.dir.resolve(), api_port=args.port)
    stop = {"now": False}

    def _stop(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with cluster:
        print(f"\n  Airflow (CeleryExecutor, 2 workers): {cluster.url}")
        print(f"  login: {cluster.user} / {cluster.password}")
        print(f"  logs:  {cluster.root / 'logs'}   Ctrl-C stops everything.\n", flush=True)
        while not stop["now"]:
            time.sleep(1)


if __name__ == "__main__":
    main()
