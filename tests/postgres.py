"""A real PostgreSQL server for the tests: ``initdb`` in a temporary folder, ``pg_ctl`` on a free loopback port
with its unix socket in that folder, stopped and removed at the end. Nothing of the host's own clusters is used.

PostgreSQL refuses to run as root; as root (CI) the server runs as the ``postgres`` user Debian's package
creates (else ``nobody``), which then owns the temporary folder. ``python -m tests.postgres`` starts one and
prints its URL until interrupted (for trying the CLI against it by hand).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

SUPERUSER = "artimuse"


def binaries() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``: on PATH, else the newest Debian
    ``/usr/lib/postgresql/<version>/bin``; None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


def why_absent() -> str | None:
    """Why the PostgreSQL tests cannot run here (None when they can): only the server's binaries may be
    absent (psycopg is in the dev extra: without it the tests fail, they are not skipped)."""
    if binaries() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed (Debian: apt-get install postgresql)"
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
        self.root = Path(tempfile.mkdtemp(prefix="artimuse-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.user = _server_user()
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs.update(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            check=check,
            capture_output=True,
            text=True,
            cwd=self.root,
            env={**os.environ, "LC_ALL": "C.UTF-8", "PGTZ": "UTC"},
            timeout=120,
            **kwargs,
        )

    def start(self) -> PostgresServer:
        """initdb (trust authentication on loopback only, UTF-8) and start on a free port; a port taken in
        between is retried on another."""
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
            "--locale=C.UTF-8", "--no-sync", "--no-instructions",
        )  # fmt: skip
        for _ in range(5):
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
            )
            started = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start",
                                check=False)  # fmt: skip
            if started.returncode == 0:
                return self
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr.strip()}\n{self.log_tail()}")

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
        """Stop the server (fast shutdown: open connections are ended) and remove its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover - a hand tool
    server = PostgresServer().start()
    print(server.create_database("artimuse"), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
