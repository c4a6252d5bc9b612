"""A throw-away PostgreSQL server for the tests.

The store tests prove what only a real PostgreSQL can (replicas sharing one
database, migrations, replay refused across processes, nothing lost on
SIGKILL), so they never skip. No server runs on our machines: when
``NEKPIJN_TEST_POSTGRES_URL`` is not set, the test session starts its own
server from the machine's PostgreSQL binaries in a temporary data directory
on a free loopback port, with database ``test`` and trust authentication
for user ``postgres``, and removes it at the end.

    python -m tools.postgres          # install the binaries when missing, print their folder
    python -m tools.postgres --try    # also start a server, print its URL, stop it

The binaries come from Debian's ``postgresql`` package (``apt-get install``
when missing; root or sudo). PostgreSQL refuses to run as root, so as root
the server runs as the ``postgres`` user that package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEBIAN_PACKAGE = "postgresql"


def _find_bindir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres (newest version first)."""
    explicit = os.environ.get("NEKPIJN_PG_BINDIR")
    candidates = [explicit] if explicit else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                         reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for folder in candidates:
        if folder and all((Path(folder) / exe).exists() for exe in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def ensure_binaries() -> Path:
    """The PostgreSQL binaries' folder, installing Debian's package when missing."""
    found = _find_bindir()
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", DEBIAN_PACKAGE], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    found = _find_bindir()
    if not found:
        raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl, postgres) not found after installing "
                           f"Debian's {DEBIAN_PACKAGE!r}; set NEKPIJN_PG_BINDIR")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> tuple[list[str], int | None, int | None]:
    """Command prefix and uid/gid to run the server under (never root)."""
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


@dataclass
class TempPostgres:
    """One running throw-away server; ``stop()`` removes it and its data."""

    root: Path
    port: int
    bindir: Path
    prefix: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/test"

    @classmethod
    def start(cls, timeout: float = 60.0) -> "TempPostgres":
        bindir = ensure_binaries()
        prefix, uid, gid = _run_as()
        root = Path(tempfile.mkdtemp(prefix="nekpijn-pg-"))
        data, sockets = root / "data", root / "sockets"
        sockets.mkdir()
        if uid is not None:
            for path in (root, sockets):
                os.chown(path, uid, gid)
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        init = subprocess.run(prefix + [str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                                        "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"], **quiet)
        if init.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-2000:]}")
        server = cls(root=root, port=0, bindir=bindir, prefix=prefix)
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind
            server.port = _free_port()
            # fsync off: a throw-away server; the durability tests kill the service, not PostgreSQL
            options = (f"-c listen_addresses=127.0.0.1 -c port={server.port} "
                       f"-c unix_socket_directories={sockets} -c fsync=off -c max_connections=200")
            started = subprocess.run(prefix + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"),
                                               "-o", options, "-w", "-t", str(int(timeout)), "start"], **quiet)
            if started.returncode == 0:
                break
            last_error = started.stderr.strip() + " " + server.log_tail()
        else:
            server.stop()
            raise RuntimeError(f"PostgreSQL did not start: {last_error[-2000:]}")
        try:
            server._create_test_database(timeout)
        except Exception:
            server.stop()
            raise
        return server

    def _create_test_database(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                     autocommit=True, connect_timeout=5) as conn:
                    conn.execute("CREATE DATABASE test")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def log_tail(self) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run(self.prefix + [str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                          "-w", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.root, ignore_errors=True)


def main(argv: list[str]) -> int:
    print(ensure_binaries())
    if "--try" in argv:
        server = TempPostgres.start()
        try:
            print(server.url)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
