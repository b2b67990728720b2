"""Opening the library database: SQLite pragmas for concurrent use, and migrations run on open.

Several processes share one file (the watcher writes while the CLI rates and queries), so SQLite runs
in WAL mode with a busy timeout, and write transactions start with ``BEGIN IMMEDIATE``: a deferred
transaction that later wants to write can fail at once with "database is locked" whatever the timeout;
an immediate one waits its turn. Before a migration changes an existing file, a copy is set aside.

Opening an up-to-date database reads its revision with one plain SQL query and compares it with
``migrations.HEAD``: Alembic is imported only when there is something to migrate.

A damaged file is noticed: SQLite's ``PRAGMA quick_check`` runs before the first write
of a process when the last check is more than a day old (its time is kept beside the database, in
``<file>.checked``, so it costs one ``stat`` otherwise) and after a check found damage; a malformed file is
never written into, and every error that says the file is damaged becomes one ``LibraryError`` that says how
to recover (``RECOVERY``). ``artimuse db check`` runs the check now.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from ..errors import LibraryError
from .migrations import HEAD, SCRIPT_LOCATION

BUSY_TIMEOUT_S = 30
#: How old the last integrity check may be before a write runs it again.
CHECK_EVERY_S = 24 * 3600
#: What a user can do with a damaged library file.
RECOVERY = (
    "recover: stop artimuse (and the watcher), then either restore a backup set aside before a migration "
    "({name}.<revision>-<time>.bak beside it) or rebuild what can be read with "
    "`sqlite3 {name} .recover | sqlite3 recovered.db` and move recovered.db to {name}"
)
#: Words of SQLite errors that mean the file itself is damaged (not locked, not busy).
DAMAGE_WORDS = ("malformed", "not a database", "file is encrypted", "disk image", "corrupt")


#: Words of database errors that mean the disk (or quota) is full: SQLite's SQLITE_FULL ("database or disk
#: is full") and SQLITE_IOERR ("disk I/O error", what a WAL or shared-memory write that finds no space says),
#: PostgreSQL's disk_full (53100: "could not extend file ...: No space left on device"), the OS's ENOSPC.
DISK_FULL_WORDS = ("database or disk is full", "disk i/o error", "no space left on device", "disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """True when an error (a database's, the OS's, or a ``LibraryError`` made of one) says there is no space
    left: worth waiting for, unlike a damaged or foreign file."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(word in text for word in DISK_FULL_WORDS)


def is_damage(exc: BaseException) -> bool:
    """True when a SQLite error says the file is damaged (``SQLITE_CORRUPT``/``SQLITE_NOTADB``); a server's
    errors never are (its recovery is the server's own, not a file to rebuild)."""
    if not isinstance(getattr(exc, "orig", None) or exc, sqlite3.Error):
        return False
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(word in text for word in DAMAGE_WORDS)


def damaged(database: str | None, detail: str) -> LibraryError:
    """The one error for a damaged library file: what SQLite said and how to recover."""
    name = Path(database).name if database else "library.db"
    return LibraryError(f"{database}: the library database is damaged ({detail}); " + RECOVERY.format(name=name))


def alembic_config(connection: Any = None) -> Any:
    """Alembic's configuration for the migrations inside this package (on ``connection`` when given)."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


#: The PostgreSQL advisory lock every write transaction takes (per database): writers wait their turn as
#: with SQLite's BEGIN IMMEDIATE, so a read-then-write (the image row of a path, the current evaluation)
#: never races another process's; readers are never blocked.
WRITE_LOCK = 0x4152_5449_4D55_5345  # "ARTIMUSE"


def describe(url: Any) -> str:
    """The database as messages name it: a SQLite file's path, else the URL without its password."""
    parsed = make_url(str(url)) if not hasattr(url, "get_backend_name") else url
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database or ":memory:")
    return str(parsed.render_as_string(hide_password=True))


def one_line(exc: BaseException) -> str:
    """A database error's own message on one line (libpq's span several: "connection refused / Is the
    server running...")."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


def create_db_engine(url: str, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Engine:
    """A SQLAlchemy engine for the library (SQLite: WAL, busy timeout, foreign keys, BEGIN IMMEDIATE for
    writes; PostgreSQL: writes serialised by ``WRITE_LOCK``, waits for locks and connections bounded by
    ``busy_timeout_s``); the folder of a SQLite file is created when missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return _postgresql_engine(url, busy_timeout_s)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

    return engine


def _postgresql_engine(url: str, busy_timeout_s: float) -> Engine:
    timeout_ms = int(busy_timeout_s * 1000)
    connect_args = {
        "connect_timeout": max(1, int(busy_timeout_s)),
        "application_name": "artimuse",
        "options": f"-c lock_timeout={timeout_ms}",
    }
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("write"):
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")

    return engine


def head_revision() -> str:
    """The newest migration this version knows."""
    return HEAD


def current_revision(engine: Engine) -> str | None:
    """The database's revision (None for an empty database), read with plain SQL."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> str | None:
    """Bring the database up to date. Returns the backup path when an existing file was upgraded.

    Raises:
        LibraryError: the database is newer than this version, has tables but is no ArtiMuse library, or
            cannot be read.
    """
    try:
        current = current_revision(engine)
        if current == HEAD:
            return None
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(alembic_config())
        if current is not None and current not in {r.revision for r in script.walk_revisions()}:
            raise LibraryError(
                f"{describe(engine.url)}: the database is at revision {current}, "
                f"newer than this artimuse knows (up to {HEAD}); upgrade artimuse "
                "(pip install -U artimuse-studio) instead of using an older one"
            )
        with engine.connect() as probe:
            tables = set(inspect(probe).get_table_names())
        if current is None and tables - {"alembic_version"}:
            current = current_revision(engine)  # another process (a second watcher) may have just created it
            if current == HEAD:
                return None
        if current is None and tables - {"alembic_version"}:
            raise LibraryError(
                f"{describe(engine.url)}: has tables but no migration record; "
                "not an artimuse library (refusing to touch it)"
            )
        backup = _backup(engine, current) if current is not None else None
        with engine.execution_options(write=True).begin() as conn:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            if MigrationContext.configure(conn).get_current_revision() != HEAD:
                command.upgrade(alembic_config(conn), "head")
        return backup
    except DatabaseError as exc:
        if is_damage(exc):
            raise damaged(engine.url.database, str(exc.orig)) from exc
        raise LibraryError(f"{describe(engine.url)}: {one_line(exc)}") from exc


def _backup(engine: Engine, revision: str) -> str | None:
    """Set a consistent copy of the file aside before migrating it; a copy that does not fit (disk full,
    file size limit) leaves nothing behind and stops the migration with one clear line.

    Raises:
        LibraryError: the copy could not be written (the database is left as it was).
    """
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = Path(database).with_name(f"{Path(database).name}.{revision}-{stamp}.bak")
    try:
        source = sqlite3.connect(database, timeout=BUSY_TIMEOUT_S)
        try:
            copy = sqlite3.connect(target)
            try:
                source.backup(copy)  # consistent even while other processes write (WAL included)
            finally:
                copy.close()
        finally:
            source.close()
    except (OSError, sqlite3.Error) as exc:
        for litter in (target, Path(f"{target}-journal"), Path(f"{target}-wal"), Path(f"{target}-shm")):
            litter.unlink(missing_ok=True)
        size = Path(database).stat().st_size if Path(database).exists() else 0
        raise LibraryError(
            f"{database}: cannot set aside a backup before upgrading the library ({exc}); it needs "
            f"{size / 1e6:.1f} MB free in {target.parent}. Nothing was changed: free some space and run again"
        ) from exc
    return str(target)


def check_file(engine: Engine) -> list[str]:
    """SQLite's ``PRAGMA quick_check`` (every page and index structure, no cross-checks: seconds for
    a large library): an empty list when the file is sound, else SQLite's findings (at most 20; a file
    too damaged to check, such as a damaged header, gives SQLite's error). The time of a passing check is
    recorded (``<file>.checked``); a failing one is recorded too, so that every later write refuses until
    the file is recovered.

    Raises:
        LibraryError: the database cannot be read for another reason (locked past the busy timeout...).
    """
    try:
        with engine.connect() as conn:
            rows = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA quick_check(20)")]
    except DatabaseError as exc:
        if not is_damage(exc):
            raise LibraryError(f"{engine.url.database}: {exc.orig}") from exc
        rows = [str(exc.orig)]  # so damaged that the check itself cannot run (a damaged header)
    problems = [] if rows == ["ok"] else rows
    record_check(engine, ok=not problems)
    return problems


def _marker(engine: Engine) -> Path | None:
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database).expanduser().with_name(Path(database).name + ".checked")


def record_check(engine: Engine, *, ok: bool) -> None:
    """Record the verdict of a check (or of a damaged page met on the way) beside the database."""
    marker = _marker(engine)
    if marker is None:
        return
    try:
        partial = marker.with_name(marker.name + ".partial")
        partial.write_text("ok\n" if ok else "damaged\n")
        os.replace(partial, marker)
    except OSError:
        pass  # a read-only or full folder: the check runs again next time


def ensure_writable(engine: Engine) -> None:
    """Before the first write of a process: refuse to write into a file found damaged, and run the check
    when the last one is more than ``CHECK_EVERY_S`` old (or never ran).

    Raises:
        LibraryError: the file is damaged (with how to recover).
    """
    marker = _marker(engine)
    if marker is None:
        return
    try:
        age = time.time() - marker.stat().st_mtime
        verdict = marker.read_text().strip()
    except OSError:
        age, verdict = float("inf"), ""
    if verdict == "ok" and 0 <= age < CHECK_EVERY_S:
        return
    problems = check_file(engine)
    if problems:
        raise damaged(engine.url.database, "quick_check: " + "; ".join(problems[:3]))


def open_engine(url: str, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Engine:
    """A migrated engine for ``url`` (see ``migrate``).

    Raises:
        LibraryError: as ``migrate``; a damaged file says how to recover.
    """
    engine = create_db_engine(url, busy_timeout_s)
    migrate(engine)
    return engine
