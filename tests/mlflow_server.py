"""A real `mlflow server` on a free 127.0.0.1 port, for tests that read and write through it.

Enable with `pytest_plugins = ["mlflow_server"]`; the module-scoped fixture `mlflow_server`
yields `(url, tmp)`: SQLite backend and proxied artifacts (`--artifacts-destination`) in the
temp folder `tmp`, so experiments created through it store artifacts as `mlflow-artifacts:/`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

# --- the tracking server ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, url: str, log: Path, timeout: float = 180.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/health", timeout=2).ok:
                return
        time.sleep(0.5)
    pytest.fail(f"mlflow server did not answer within {timeout:.0f}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A `mlflow server` on a free 127.0.0.1 port, SQLite and proxied artifacts in a temp folder."""
    tmp = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = tmp / "server.log"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job workers: 2 cores
    env.pop("MLFLOW_TRACKING_URI", None)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}", "--serve-artifacts",
             "--artifacts-destination", str(tmp / "artifacts")],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url, log)
        yield url, tmp
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """Stop the server and the workers it forked (its own session, so its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
