"""Database upkeep a front end asks for by the library's URL: the schema's revision against this artimuse's,
upgrading now, the migrations' history, and a check for damage (``health``). The CLI's ``artimuse db``
commands print what these return; none of them opens the database as a ``Library`` (which would migrate it
on the way in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import LibraryError
from .database import alembic_config, create_db_engine, current_revision, describe, head_revision, migrate

if TYPE_CHECKING:
    from .health import HealthReport


@dataclass(frozen=True)
class Revision:
    """Where a database's schema stands: ``current`` (None for an empty database) against ``head``, the
    newest migration this artimuse knows; ``newer`` when ``current`` is one this artimuse does not know
    (the database was upgraded by a later version)."""

    current: str | None
    head: str
    newer: bool = False

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def advice(self) -> str | None:
        """What to do about a database that is not at ``head`` (None when there is nothing to do)."""
        if self.current is None or self.up_to_date:
            return None
        if self.newer:
            return "the database is NEWER than this artimuse: upgrade artimuse (pip install -U artimuse-studio)"
        return "run `artimuse db upgrade` (or any command: it upgrades on open)"


@dataclass(frozen=True)
class Migration:
    """One migration: its revision id and the first line of its description."""

    revision: str
    description: str


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def database_revision(url: str) -> Revision:
    """The schema revision of the database at ``url`` (SQLAlchemy URL), read without migrating it."""
    engine = create_db_engine(url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    newer = current is not None and current != head_revision() and current not in _known_revisions()
    return Revision(current, head_revision(), newer)


def upgrade_database(url: str) -> tuple[str | None, str | None]:
    """Bring the database at ``url`` up to date now: ``(revision now, backup)``, ``backup`` being the copy
    of the old SQLite file set aside first (None when nothing was upgraded, or on PostgreSQL).

    Raises:
        LibraryError: the database is newer than this artimuse, not an ArtiMuse library, or unusable.
    """
    engine = create_db_engine(url)
    try:
        backup = migrate(engine)
        return current_revision(engine), backup
    finally:
        engine.dispose()


def migration_history() -> list[Migration]:
    """Every migration this artimuse knows, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return [
        Migration(r.revision, r.doc.splitlines()[0] if r.doc else "") for r in reversed(list(script.walk_revisions()))
    ]


def check_database_at(url: str) -> HealthReport:
    """Check the database at ``url`` for damage now, by its backend's own means (``health``); a database
    that cannot be reached at all is a report with that one problem.

    Returns:
        The ``HealthReport``; ``ok`` is False when it found damage or could not reach the database.
    """
    from .health import HealthReport, check_database

    engine = create_db_engine(url)
    try:
        return check_database(engine)
    except LibraryError as exc:
        return HealthReport(describe(engine.url), engine.dialect.name, problems=[str(exc)], reachable=False)
    finally:
        engine.dispose()


__all__ = ["Migration", "Revision", "check_database_at", "database_revision", "migration_history", "upgrade_database"]
