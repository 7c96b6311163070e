"""`make airflow` (issue 17, item 10): ports chosen or refused, log servers on loopback,
and Ctrl-C stops everything within 10 s.

The end-to-end test starts the launcher `make airflow` runs (`observatory.ops.airflow_local`)
with real Airflow on free ports and the one-month demo city, waits for the API's health
endpoint, reads which addresses the launcher's process tree listens on (psutil), sends it
SIGINT as a terminal's Ctrl-C does, and requires every process of the tree to be gone
within 10 s.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from observatory.demo.generator import generate
from observatory.ops.airflow_local import PortRefused, check_port, main
from observatory.ops.cluster import free_port

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("port", [8793, 8794])
def test_airflows_own_log_server_ports_are_refused(port: int, capsys) -> None:  # noqa: ANN001
    with pytest.raises(PortRefused, match=f"port {port} is Airflow's .* log server port"):
        check_port(port)
    assert main(["--dir", "unused", "--port", str(port), "--check-port"]) == 2
    assert "choose another" in capsys.readouterr().err


def test_a_port_in_use_is_refused_with_a_free_one_suggested() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(
            PortRefused, match=rf"port {port} on 127.0.0.1 is in use.*AIRFLOW_PORT="
        ):
            check_port(port)
    check_port(port)  # free again


def test_make_airflow_runs_the_launcher_after_checking_the_port() -> None:
    done = subprocess.run(
        ["make", "-n", "airflow", "AIRFLOW_PORT=8793"], cwd=REPO, capture_output=True,
        text=True, check=False, timeout=60,
    )  # fmt: skip
    recipe = done.stdout
    assert "observatory.ops.airflow_local" in recipe and "--check-port" in recipe
    assert "airflow standalone" not in recipe
    assert recipe.index("--check-port") < recipe.index("Airflow UI:")


def _listening(pids: set[int]) -> list[tuple[str, int, int]]:
    return [
        (c.laddr.ip, c.laddr.port, c.pid)
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _names(family: list[psutil.Process]) -> dict[int, str]:
    """Each live process's command line; one that exits or is a zombie meanwhile (Airflow
    starts short-lived helpers) is left out rather than failing the test."""
    names: dict[int, str] = {}
    for proc in family:
        try:
            names[proc.pid] = " ".join(proc.cmdline()[1:4])
        except psutil.Error:  # NoSuchProcess, ZombieProcess, AccessDenied
            continue
    return names


def _wait_ready(
    launcher: subprocess.Popen[str],
    root: psutil.Process,
    seen: dict[int, psutil.Process],
    said: list[str],
    port: int,
) -> None:
    """Until the API answers and the launcher says it is ready (its own health poll can
    lag ours by a few seconds on a loaded machine: a Ctrl-C before it is another path)."""
    deadline = time.monotonic() + 400
    answered = False
    while not (answered and any("Airflow is ready" in line for line in said)):
        assert launcher.poll() is None, "".join(said)
        assert time.monotonic() < deadline, f"not ready: {''.join(said)}"
        seen.update({p.pid: p for p in _tree(root)})
        try:
            url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.status == 200
                answered = True
        except OSError:
            time.sleep(1)
        else:
            time.sleep(0.2)


@pytest.mark.slow
def test_launcher_listens_on_loopback_only_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    city = tmp_path / "city"
    generate(city, scale="small-month")
    port = free_port()
    env = {
        **os.environ,
        "OBSERVATORY_CONFIG": str(city / "observatory.toml"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    }
    launcher = subprocess.Popen(
        [sys.executable, "-m", "observatory.ops.airflow_local", "--dir", str(tmp_path / "home"),
         "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    root = psutil.Process(launcher.pid)
    seen: dict[int, psutil.Process] = {}
    said: list[str] = []  # the launcher's output, read as it comes (a pipe must not fill)
    reader = threading.Thread(target=lambda: said.extend(launcher.stdout), daemon=True)
    reader.start()
    try:
        _wait_ready(launcher, root, seen, said, port)
        time.sleep(3)  # the components are up: let them open whatever they listen on
        family = _tree(root)
        seen.update({p.pid: p for p in family})
        names = _names(family)
        listening = _listening(set(names))
        assert listening, "nothing of the launcher's tree listens"
        assert {ip for ip, _, _ in listening} == {"127.0.0.1"}, [
            (ip, p, names.get(pid)) for ip, p, pid in listening
        ]
        ports = {p for _, p, _ in listening}
        assert port in ports and not ports & {8793, 8794}, ports
        log_servers = [pid for _, _, pid in listening if "uvicorn" in names.get(pid, "")]
        assert log_servers, f"no log server among {names}"

        started = time.monotonic()
        launcher.send_signal(signal.SIGINT)  # Ctrl-C: the terminal signals the launcher
        # the launcher's own exit status first (psutil reaping it would hide it from Popen)
        code = launcher.wait(timeout=10)
        others = [p for pid, p in seen.items() if pid != launcher.pid]
        _, alive = psutil.wait_procs(others, timeout=max(0.1, 10 - (time.monotonic() - started)))
        elapsed = time.monotonic() - started
        assert not alive, f"still running {elapsed:.1f} s after Ctrl-C: {alive}"
        reader.join(timeout=5)
        assert code == 0, "".join(said)
        assert "stopping Airflow" in "".join(said)
    finally:
        for proc in _tree(root) + list(seen.values()):
            try:
                proc.kill()
            except psutil.Error:
                pass
