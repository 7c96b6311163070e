"""`make airflow`: Airflow on this machine, on loopback, stopped whole by Ctrl-C.

`airflow standalone` had three rough edges: its log servers listen on every interface at
fixed ports (8793 worker, 8794 triggerer), so an API port of 8793 or 8794 made the API die
while "Airflow is ready" was printed; and Ctrl-C left it hanging for over a minute. This
launcher starts the same components itself:

* `airflow api-server` on 127.0.0.1 at the port asked for: refused with a message when it
  is in use, or is one of Airflow's own log-server ports (8793, 8794), which any other
  Airflow on the machine listens on;
* `airflow scheduler`, `dag-processor` and `triggerer`, told not to start their own log
  servers (`--skip-serve-logs`: Airflow 3.3 binds those to every interface, with no
  setting for the host);
* one log server in their place (Airflow's own app, `airflow.utils.serve_logs`, under
  uvicorn) bound to 127.0.0.1 on a free port, which `[logging] worker_log_server_port`
  and `trigger_log_server_port` name, so the API server fetches logs there when it must.

Each component runs in its own process group; on SIGINT or SIGTERM every group gets
SIGTERM, then SIGKILL after a grace period, and any process a component started that is
still alive is killed too: everything is gone within 10 s. Components' output goes to
`<dir>/services/<name>.log`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from observatory.ops.cluster import BIN, REPO, free_port

log = logging.getLogger(__name__)

#: Airflow's default worker and triggerer log-server ports: never the API server's.
AIRFLOW_LOG_PORTS = {8793: "worker log server", 8794: "triggerer log server"}
#: SIGTERM, then this long before SIGKILL (the whole stop stays within 10 s).
GRACE_SECONDS = 4.0


class PortRefused(Exception):
    """The API port asked for cannot be used; the message says why and what to do."""


def check_port(port: int) -> None:
    """Refuse an API port that Airflow's own log servers use, or that is in use."""
    if port in AIRFLOW_LOG_PORTS:
        raise PortRefused(
            f"port {port} is Airflow's {AIRFLOW_LOG_PORTS[port]} port: choose another, "
            "e.g. `make airflow AIRFLOW_PORT=8080`"
        )
    if not 1 <= port <= 65535:
        raise PortRefused(f"port {port} is not a TCP port (1-65535)")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortRefused(
                f"port {port} on 127.0.0.1 is in use ({exc.strerror}): stop what listens "
                f"there, or choose another, e.g. `make airflow AIRFLOW_PORT={free_port()}`"
            ) from None


@dataclass
class LocalAirflow:
    """Airflow's components for one AIRFLOW_HOME, as child processes of this one."""

    home: Path
    port: int = 8080
    user: str = "analyst"
    log_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _secrets: tuple[str, str] = field(
        default_factory=lambda: (secrets.token_hex(16), secrets.token_hex(16))
    )

    @property
    def url(self) -> str:
        """The API server's (and UI's) base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def password(self) -> str:
        """The UI login's password (generated once into `passwords.json`)."""
        path = self.home / "passwords.json"
        if not path.is_file():
            path.write_text(json.dumps({self.user: secrets.token_urlsafe(12)}))
        return json.loads(path.read_text())[self.user]

    def env(self) -> dict[str, str]:
        """The environment every component shares (the caller's, with these set)."""
        return {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": os.environ.get(
                "AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags")
            ),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "observatory.ops.executors.WarmLocalExecutor",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secrets[0],
            "AIRFLOW__API__SECRET_KEY": self._secrets[1],
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.log_port),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    # --- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 300) -> LocalAirflow:
        """Prepare the metadata DB and pools, start every component, wait for the API's
        health endpoint; on any failure stop what was started and re-raise."""
        check_port(self.port)
        try:
            (self.home / "services").mkdir(parents=True, exist_ok=True)
            _ = self.password
            self._run(["db", "migrate"], timeout=600)
            for pool in self._pools():
                self._run(["pools", "set", pool, "1", "DuckDB: one writer per warehouse"])
            airflow = str(BIN / "airflow")
            self._spawn("log-server", [sys.executable, "-m", "uvicorn", "--factory",
                                       "airflow.utils.serve_logs.log_server:get_app",
                                       "--host", "127.0.0.1", "--port", str(self.log_port),
                                       "--no-access-log"])  # fmt: skip
            self._spawn("api-server", [airflow, "api-server"])
            self._spawn("scheduler", [airflow, "scheduler", "--skip-serve-logs"])
            self._spawn("dag-processor", [airflow, "dag-processor"])
            self._spawn("triggerer", [airflow, "triggerer", "--skip-serve-logs"])
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM every component's process group, SIGKILL what is left after the grace
        period, including any process a component started in a group of its own."""
        procs = [self.processes[name] for name in reversed(list(self.processes))]
        self.processes.clear()
        family = _descendants({proc.pid for proc in procs})  # before any is reparented
        for proc in procs:
            _signal_group(proc.pid, signal.SIGTERM)
        log.info("airflow: SIGTERM sent to %d process group(s)", len(procs))
        alive = _wait_gone(family, GRACE_SECONDS)
        if alive:
            log.info("airflow: killing %d process(es) still running after %.0f s: %s",
                     len(alive), GRACE_SECONDS, ", ".join(_names(alive)))  # fmt: skip
        for proc in procs:
            _signal_group(proc.pid, signal.SIGKILL)
        for survivor in alive:
            try:
                survivor.kill()
            except psutil.NoSuchProcess:
                pass
        _wait_gone(alive, 2)
        for proc in procs:
            proc.wait(timeout=2)
        log.info("airflow: stopped")

    def dead(self) -> str | None:
        """The first component that has exited, if any."""
        return next((n for n, p in self.processes.items() if p.poll() is not None), None)

    # --- pieces --------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> None:
        out = (self.home / "services" / f"{name}.log").open("ab")
        proc = subprocess.Popen(  # noqa: S603 (argv: the venv's airflow/python, no shell)
            args, env=self.env(), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.home,
        )  # fmt: skip
        self.processes[name] = proc
        log.info("airflow: %s started (pid %s)", name, proc.pid)

    def _run(self, args: list[str], timeout: float = 180) -> None:
        done = subprocess.run(  # noqa: S603 (argv: the venv's airflow and our args, no shell)
            [str(BIN / "airflow"), *args], env=self.env(), capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")

    def _pools(self) -> list[str]:
        code = "from observatory.orchestration import pool_names; print(' '.join(pool_names()))"
        out = subprocess.run(  # noqa: S603 (argv: this Python and fixed code, no shell)
            [sys.executable, "-c", code], env=self.env(), capture_output=True, text=True,
            check=True, timeout=120,
        )  # fmt: skip
        return out.stdout.split()

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            name = self.dead()
            if name is not None:
                code = self.processes[name].returncode
                raise RuntimeError(
                    f"{name} exited with {code} before Airflow was ready: see "
                    f"{self.home / 'services' / f'{name}.log'}"
                )
            try:
                health = f"{self.url}/api/v2/monitor/health"
                with urllib.request.urlopen(health, timeout=5):  # noqa: S310 (http://127.0.0.1, built in code)
                    return
            except OSError:
                time.sleep(1)
        raise TimeoutError(f"{self.url} did not answer within {timeout:.0f} s")


def _descendants(roots: set[int]) -> list[psutil.Process]:
    """The processes `roots` and everything below them, from one scan of the table."""
    children: dict[int, list[psutil.Process]] = {}
    for proc in psutil.process_iter(["ppid"]):
        children.setdefault(proc.info["ppid"], []).append(proc)
    found, todo = [], [p for p in psutil.process_iter() if p.pid in roots]
    while todo:
        proc = todo.pop()
        found.append(proc)
        todo.extend(children.get(proc.pid, []))
    return found


def _gone(proc: psutil.Process) -> bool:
    try:  # a zombie has exited: only its parent's (or init's) reaping is left
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process has exited or `timeout` passed; those still running."""
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if not _gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if not _gone(p)]
    return alive


def _names(procs: list[psutil.Process]) -> list[str]:
    names = []
    for proc in procs:
        try:
            names.append(f"{' '.join(proc.cmdline()[:3]) or proc.name()} ({proc.pid})")
        except psutil.Error:
            names.append(str(proc.pid))
    return names


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Start Airflow, say where it is, run until Ctrl-C (or a component dies), stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="AIRFLOW_HOME")
    parser.add_argument("--port", type=int, default=8080, help="the API server's (UI) port")
    parser.add_argument("--user", default="analyst", help="the UI login")
    parser.add_argument("--check-port", action="store_true", help="only check the port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        check_port(args.port)
    except PortRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check_port:
        return 0
    stop = {"now": False}

    def _interrupt(*_: object) -> None:  # while starting: unwind, stopping what started
        raise KeyboardInterrupt

    def _stop(*_: object) -> None:  # once running: leave the loop below
        stop["now"] = True

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    airflow = LocalAirflow(args.dir.resolve(), port=args.port, user=args.user)
    print(f"  starting Airflow in {airflow.home} (logs: {airflow.home / 'services'}) ...")
    try:
        airflow.start()
    except (RuntimeError, TimeoutError, PortRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("  stopped before Airflow was ready", file=sys.stderr)
        return 130
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"  Airflow is ready: {airflow.url}  (log server 127.0.0.1:{airflow.log_port})")
    print("  Ctrl-C stops everything.", flush=True)
    code = 0
    while not stop["now"]:
        name = airflow.dead()
        if name is not None:
            print(f"error: {name} exited: see {airflow.home / 'services'}", file=sys.stderr)
            code = 1
            break
        time.sleep(0.5)
    print("  stopping Airflow ...", flush=True)
    airflow.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
