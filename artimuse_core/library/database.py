"""Opening the library database: SQLite pragmas for concurrent use, and migrations run on open.

Several processes share one file (the watcher writes while the CLI rates and queries), so SQLite runs
in WAL mode with a busy timeout, and write transactions start with ``BEGIN IMMEDIATE``: a deferred
transaction that later wants to write can fail at once with "database is locked" whatever the timeout;
an immediate one waits its turn. Before a migration changes an existing file, a copy is set aside.

Opening an up-to-date database reads its revision with one plain SQL query and compares it with
``migrations.HEAD``: Alembic is imported only when there is something to migrate.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from ..errors import LibraryError
from .migrations import HEAD, SCRIPT_LOCATION

BUSY_TIMEOUT_S = 30


def alembic_config(connection: Any = None) -> Any:
    """Alembic's configuration for the migrations inside this package (on ``connection`` when given)."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def create_db_engine(url: str, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Engine:
    """A SQLAlchemy engine for the library (SQLite: WAL, busy timeout, foreign keys, BEGIN IMMEDIATE for
    writes); the folder of a SQLite file is created when missing."""
    parsed = make_url(url)
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
                f"{engine.url.database or engine.url}: the database is at revision {current}, "
                f"newer than this artimuse knows (up to {HEAD}); upgrade artimuse "
                "(pip install -U artimuse-studio) instead of using an older one"
            )
        with engine.connect() as probe:
            tables = set(inspect(probe).get_table_names())
        if current is None and tables - {"alembic_version"}:
            raise LibraryError(
                f"{engine.url.database}: has tables but no migration record; "
                "not an artimuse library (refusing to touch it)"
            )
        backup = _backup(engine, current) if current is not None else None
        with engine.execution_options(write=True).begin() as conn:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            if MigrationContext.configure(conn).get_current_revision() != HEAD:
                command.upgrade(alembic_config(conn), "head")
        return backup
    except OperationalError as exc:
        raise LibraryError(f"{engine.url.database}: {exc.orig}") from exc


def _backup(engine: Engine, revision: str) -> str | None:
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = Path(database).with_name(f"{Path(database).name}.{revision}-{stamp}.bak")
    source = sqlite3.connect(database, timeout=BUSY_TIMEOUT_S)
    try:
        with sqlite3.connect(target) as copy:
            source.backup(copy)  # consistent even while other processes write (WAL included)
    finally:
        source.close()
    return str(target)


def open_engine(url: str, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Engine:
    """A migrated engine for ``url`` (see ``migrate``)."""
    engine = create_db_engine(url, busy_timeout_s)
    migrate(engine)
    return engine
