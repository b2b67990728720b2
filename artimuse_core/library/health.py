"""``artimuse db check``: the library database checked by its own backend's means.

- SQLite: ``PRAGMA quick_check`` (``database.check_file``: every page and index structure).
- PostgreSQL: the server answers (else one line: which server, what libpq said); the schema is at this
  artimuse's revision with every table; critique search has its configuration and a valid index; every index
  of the library's tables is valid and ready (one left invalid by an interrupted build is not used); data
  checksum failures the server counted; and, where the ``amcheck`` extension can be used (installed, or
  installable by this user: it is created inside the check's transaction and rolled back, so nothing stays),
  ``bt_index_check`` of every B-tree index of the library (its structure, as ``quick_check`` does for SQLite).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, bindparam, inspect, text
from sqlalchemy.exc import DBAPIError

from ..errors import LibraryError
from .database import RECOVERY, check_file, current_revision, describe, head_revision, one_line
from .fulltext import PG_CONFIG
from .tables import metadata


@dataclass
class HealthReport:
    """What ``db check`` found: ``checks`` (name -> what was seen, all passed) and ``problems`` (one line
    each; none when the database is sound); ``reachable`` is False when the database could not be reached
    at all (its one problem says why)."""

    database: str
    backend: str
    checks: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    reachable: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems

    def verdict(self) -> str:
        """One line: sound (with what was checked, beyond SQLite's one check), damaged with how to recover
        (SQLite), or how many problems were found."""
        if self.ok:
            seen = "; ".join(f"{name}: {value}" for name, value in self.checks.items())
            return f"{self.database}: ok" + (f" ({seen})" if self.backend != "sqlite" else "")
        if self.backend == "sqlite" and self.reachable:
            return f"{self.database}: DAMAGED; " + RECOVERY.format(name=Path(self.database).name)
        return f"{self.database}: {len(self.problems)} problem(s)"


def check_database(engine: Engine) -> HealthReport:
    """Check the library database now (see the module docstring for what each backend checks).

    Raises:
        LibraryError: the database cannot be reached at all (server down, refused, unknown database...): one
            line naming it (without its password).
    """
    report = HealthReport(describe(engine.url), engine.dialect.name)
    if engine.dialect.name == "sqlite":
        report.problems = check_file(engine)
        report.checks["quick_check"] = "ok" if report.ok else "damaged"
        return report
    if engine.dialect.name != "postgresql":
        report.checks["connection"] = _connect(engine)
        return report
    report.checks["connection"] = _connect(engine)
    with engine.connect() as conn:
        _schema(conn, report)
        if report.ok:
            _postgresql(conn, report)
    return report


def _connect(engine: Engine) -> str:
    try:
        with engine.connect() as conn:
            version = conn.scalar(text("SELECT version()")) or engine.dialect.name
    except DBAPIError as exc:
        raise LibraryError(f"{describe(engine.url)}: cannot connect ({one_line(exc)})") from exc
    return str(version).split(" on ")[0].split(",")[0]


def _schema(conn: Connection, report: HealthReport) -> None:
    revision = current_revision(conn.engine)
    head = head_revision()
    if revision != head:
        advice = "empty: any artimuse command creates it" if revision is None else "run `artimuse db upgrade`"
        report.problems.append(f"revision {revision or 'none'}, this artimuse's is {head} ({advice})")
        return
    present = set(inspect(conn).get_table_names())
    missing = sorted(set(metadata.tables) - present)
    if missing:
        report.problems.append("tables missing: " + ", ".join(missing))
    report.checks["revision"] = f"{revision} (head), {len(metadata.tables) - len(missing)} tables"


def _postgresql(conn: Connection, report: HealthReport) -> None:
    tables = sorted(metadata.tables)
    indexes = conn.execute(
        text(
            "SELECT c.relname, i.indisvalid AND i.indisready, am.amname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN pg_am am ON am.oid = c.relam "
            "WHERE t.relname IN :tables AND t.relnamespace = to_regnamespace(current_schema())::oid"
        ).bindparams(bindparam("tables", expanding=True)),
        {"tables": tables},
    ).all()
    broken = sorted(name for name, sound, _ in indexes if not sound)
    if broken:
        report.problems.append("invalid indexes (rebuild them with REINDEX INDEX): " + ", ".join(broken))
    report.checks["indexes"] = f"{len(indexes) - len(broken)} valid"
    if conn.scalar(text("SELECT count(*) FROM pg_ts_config WHERE cfgname = :name"), {"name": PG_CONFIG}) != 1:
        report.problems.append(f"critique search: the text search configuration {PG_CONFIG} is missing")
    elif "ix_critiques_search" not in {name for name, _, _ in indexes}:
        report.problems.append("critique search: the index ix_critiques_search is missing")
    else:
        accents = conn.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'unaccent'"))
        report.checks["search"] = "index valid, " + ("accents folded" if accents else "accents kept (no unaccent)")
    failures = conn.scalar(text("SELECT checksum_failures FROM pg_stat_database WHERE datname = current_database()"))
    if failures:
        report.problems.append(f"the server counted {failures} data checksum failures in this database")
    btrees = sorted(name for name, sound, method in indexes if sound and method == "btree")
    report.checks["amcheck"] = _amcheck(conn, btrees, report)


def _amcheck(conn: Connection, btrees: list[str], report: HealthReport) -> str:
    """``bt_index_check`` of each index, inside a transaction rolled back afterwards (so an amcheck created
    for the check does not stay); what it says when amcheck cannot be used."""
    available = conn.scalar(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'amcheck'"))
    if not available:
        return "not available on this server (indexes checked through pg_catalog only)"
    conn.rollback()  # the catalogue reads so far (nothing written)
    transaction = conn.begin()
    try:
        try:
            with conn.begin_nested():
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
        except DBAPIError as exc:
            return f"not usable by this user ({one_line(exc).split(' LINE ')[0]}; indexes checked through pg_catalog)"
        for name in btrees:
            try:
                with conn.begin_nested():
                    conn.execute(text("SELECT bt_index_check(to_regclass(:name))"), {"name": name})
            except DBAPIError as exc:
                report.problems.append(f"index {name}: {one_line(exc)} (rebuild it with REINDEX INDEX {name})")
        return f"{len(btrees)} B-tree indexes checked"
    finally:
        transaction.rollback()
