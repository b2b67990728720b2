"""The library's connection and transactions: one database URL, one SQLAlchemy engine, and ``_run``, which
runs a function on one connection in one transaction and turns lock timeouts and database errors into
``LibraryError``.

Writes start with ``BEGIN IMMEDIATE`` (see ``database``), so concurrent writers wait their turn.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection
from sqlalchemy.exc import OperationalError

from ..config import Config, load_config
from ..errors import LibraryError
from .database import BUSY_TIMEOUT_S, open_engine
from .tables import evaluations, images

T = TypeVar("T")


class LibrarySession:
    """An open library database (the file is created and migrated when needed).

    Raises:
        LibraryError: the database is newer than this version, not an ArtiMuse library, or unusable.
        ConfigError: no ``config`` was given and the user's config is invalid.
    """

    def __init__(self, url: str | None = None, config: Config | None = None, busy_timeout_s: float = BUSY_TIMEOUT_S):
        self.config = config or load_config()
        self.url = url or self.config.library_url()
        self.busy_timeout_s = busy_timeout_s
        self.engine = open_engine(self.url, busy_timeout_s)
        self._search_fts = self.engine.dialect.name == "sqlite"

    @classmethod
    def at(cls, path: str | os.PathLike, **kwargs: Any) -> Any:
        """The library in this SQLite file (created when missing)."""
        return cls(f"sqlite:///{Path(path).expanduser()}", **kwargs)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, func: Callable[[Connection], T], write: bool = True) -> T:
        """Run ``func(connection)`` in one transaction (``BEGIN IMMEDIATE`` when it writes); lock timeouts
        become one clear error."""
        try:
            with (self.engine.execution_options(write=True) if write else self.engine).begin() as connection:
                return func(connection)
        except OperationalError as exc:
            if "locked" in str(exc.orig) or "busy" in str(exc.orig):
                raise LibraryError(
                    f"{self.url}: database is locked by another process for more than "
                    f"{self.busy_timeout_s:g} s ({exc.orig})"
                ) from exc
            raise LibraryError(f"{self.url}: {exc.orig}") from exc


def absolute(path: str | os.PathLike) -> str:
    """How the library stores paths: absolute, ~ expanded, symlinks not resolved."""
    return str(Path(path).expanduser().absolute())


def under(folder: str | os.PathLike) -> ColumnElement[bool]:
    """Images whose path lies inside ``folder``."""
    return images.c.path.startswith(absolute(folder).rstrip(os.sep) + os.sep, autoescape=True)


def same_adapter(adapter: str | None) -> ColumnElement[bool]:
    """Evaluations made with this adapter (None: with none)."""
    return evaluations.c.adapter.is_(None) if adapter is None else evaluations.c.adapter == adapter
