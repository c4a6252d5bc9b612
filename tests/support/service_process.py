"""The real service in a subprocess, for the tests that signal or kill it.

    from support.service_process import start_service

    proc, base = start_service(env, tmp_path / "service.log")   # base: http://127.0.0.1:<port>

Starts ``python -m service.cli serve`` (what the ``nekpijn-cds serve`` console script runs) on
a free loopback port with `env` as its whole environment, and returns once ``GET /health``
answers 200. Its output goes to a file, never a pipe: a pipe nobody reads fills up and blocks
the server. A service that exits or does not answer in time is killed and reported with the
end of its log (RuntimeError). Stopping it is the caller's business (SIGTERM, SIGKILL, ...).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(env: dict, log_path: Path, *, append: bool = False,
                  timeout: float = 30.0) -> tuple[subprocess.Popen, str]:
    """(the process, its base URL) once /health answers 200; `append`: add to an existing log
    (a service started again on the same database)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "ab" if append else "wb") as log:  # the child keeps its own copy of the fd
        proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
                                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait(timeout=10)
            raise RuntimeError(f"service did not start (exit {proc.returncode}): "
                               f"{log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
