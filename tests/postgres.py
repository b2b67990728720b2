"""A real PostgreSQL server for the tests: ``initdb`` in a temporary folder, then the ``postgres`` server itself
as a child of the test run (not daemonised by ``pg_ctl``) on a free loopback port, with its unix socket in that
folder; stopped (fast shutdown) and removed at the end. Nothing of the host's own clusters is used.

The server never outlives the run that started it: the kernel sends it SIGINT (a fast shutdown) when its parent
dies, however that dies (SIGKILL, a CI time-out, a closed terminal), so no finalizer has to run for it to go.

PostgreSQL refuses to run as root; as root (CI) the server runs as the ``postgres`` user Debian's package
creates (else ``nobody``), which then owns the temporary folder (in a temporary directory that user can reach).
``python -m tests.postgres`` starts one and prints its URL until interrupted or terminated (for trying the CLI
against it by hand).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.processes import dies_with_parent

SUPERUSER = "artimuse"


def binaries() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``: on PATH, else the newest Debian
    ``/usr/lib/postgresql/<version>/bin``; None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found and (Path(found).parent / "postgres").exists():
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


def why_absent() -> str | None:
    """Why the PostgreSQL tests cannot run here (None when they can): only the server's binaries may be
    absent (psycopg is in the dev extra: without it the tests fail, they are not skipped)."""
    if binaries() is None:
        return "PostgreSQL server binaries (initdb, postgres) are not installed (Debian: apt-get install postgresql)"
    return None


def _server_user() -> pwd.struct_passwd | None:
    """Whom the server runs as: None (this user) unless root, then ``postgres`` or else ``nobody``."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and there is neither a 'postgres' nor a 'nobody' user to run PostgreSQL")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One throwaway cluster. ``url(name)`` is a SQLAlchemy URL for database ``name`` (psycopg 3)."""

    def __init__(self) -> None:
        folder = binaries()
        if folder is None:
            raise RuntimeError(why_absent() or "PostgreSQL is not installed")
        self.bin = folder
        self.user = _server_user()
        self.root = _private_folder(self.user)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.process: subprocess.Popen | None = None

    def _as_server_user(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def _env(self) -> dict[str, str]:
        home = self.user.pw_dir if self.user is not None else os.environ.get("HOME", "/")
        return {**os.environ, "LC_ALL": "C.UTF-8", "PGTZ": "UTC", "HOME": home}

    def start(self, timeout: float = 120) -> PostgresServer:
        """initdb (trust authentication on loopback only, UTF-8), then the server on a free port, waiting until
        it accepts connections; a port taken in between is retried on another.

        Raises:
            RuntimeError: initdb or the server failed (with what they said).
        """
        made = subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
             "--locale=C.UTF-8", "--no-sync", "--no-instructions"],
            capture_output=True, text=True, cwd=self.root, env=self._env(), timeout=timeout, **self._as_server_user(),
        )  # fmt: skip
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed ({made.returncode}): {(made.stderr or made.stdout).strip()}")
        for _ in range(5):
            self.port = free_port()
            if self._serve(timeout):
                return self
        raise RuntimeError(f"PostgreSQL did not start:\n{self.log_tail()}")

    def _serve(self, timeout: float) -> bool:
        """Start the server on ``self.port``; True once it answers, False when the port was taken."""
        import psycopg

        options = ["-c", "listen_addresses=127.0.0.1", "-p", str(self.port), "-k", str(self.root)]
        for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=60"):
            options += ["-c", setting]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data), *options],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, env=self._env(),
                start_new_session=True, preexec_fn=dies_with_parent(signal.SIGINT), **self._as_server_user(),
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if "could not bind" in self.log_tail() or "already in use" in self.log_tail():
                    return False
                raise RuntimeError(f"PostgreSQL exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                                connect_timeout=5).close()  # fmt: skip
                return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"PostgreSQL did not accept connections within {timeout:g} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database, autocommit=True) as c:
            c.execute(sql)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (a copy of ``template`` when given); returns its URL."""
        self.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (a fast shutdown: open connections are ended; killed if it has not stopped after a
        minute) and remove its folder."""
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
                try:
                    self.process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=30)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _private_folder(user: pwd.struct_passwd | None) -> Path:
    """A new temporary folder, owned by ``user`` when given: in the temporary directory, or in /tmp when
    ``user`` could not reach that one (a root-only TMPDIR).

    Raises:
        RuntimeError: no temporary directory ``user`` can reach.
    """
    for parent in dict.fromkeys([tempfile.gettempdir(), "/tmp"]):
        root = Path(tempfile.mkdtemp(prefix="artimuse-pg-", dir=parent))
        if user is None:
            return root
        os.chown(root, user.pw_uid, user.pw_gid)
        reach = ["test", "-w", str(root), "-a", "-x", str(root)]
        if subprocess.run(reach, user=user.pw_uid, group=user.pw_gid, extra_groups=[]).returncode == 0:
            return root
        shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"no temporary directory that the user {user.pw_name!r} (who runs PostgreSQL) can reach")


if __name__ == "__main__":  # pragma: no cover - a hand tool
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it as Ctrl-C does
    signal.signal(signal.SIGHUP, signal.default_int_handler)
    server = PostgresServer()
    try:
        server.start()
        print(server.create_database("artimuse"), flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
