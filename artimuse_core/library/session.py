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

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    LargeBinary,
    Text,
    TypeDecorator,
    cast,
    func,
    literal,
    type_coerce,
)
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from ..config import Config, load_config
from ..errors import LibraryError
from .database import (
    BUSY_TIMEOUT_S,
    damaged,
    describe,
    ensure_writable,
    is_damage,
    one_line,
    open_engine,
    record_check,
)
from .tables import evaluations, images, path_as_text

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
        self._checked = False

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
        become one clear error, a damaged file one error that says how to recover. The first write of a
        session checks the file first when its last check is old (``database.ensure_writable``)."""
        if write and not self._checked:
            ensure_writable(self.engine)
            self._checked = True
        try:
            with (self.engine.execution_options(write=True) if write else self.engine).begin() as connection:
                return func(connection)
        except DatabaseError as exc:
            raise self.database_error(exc) from exc

    def database_error(self, exc: DatabaseError) -> LibraryError:
        """The one-line ``LibraryError`` for a database error: locked, damaged (with how to recover), other."""
        if is_damage(exc):
            record_check(self.engine, ok=False)  # every later write refuses until the file is recovered
            return damaged(self.engine.url.database, str(exc.orig))
        said = one_line(exc)
        if isinstance(exc, OperationalError) and any(word in said for word in ("locked", "busy", "lock timeout")):
            return LibraryError(
                f"{describe(self.url)}: database is locked by another process for more than "
                f"{self.busy_timeout_s:g} s ({said})"
            )
        return LibraryError(f"{describe(self.url)}: {said}")


def absolute(path: str | os.PathLike) -> str:
    """How the library stores paths (one image per file, whatever the spelling): absolute,
    ~ expanded, ``..`` resolved against the real folder (``sub/../b.png`` is ``b.png`` even when ``sub`` is a
    symlink), the folder's symlinks resolved, the file's own symlink resolved when its target stays inside
    that folder's tree (a link out of it keeps its own name, as the walk treats it), and on a case-insensitive
    file system the name spelled as the folder holds it. A path that does not exist is only made absolute and
    ``..``-free. Never raises for a symlink loop (the loop keeps its name)."""
    full = os.path.abspath(os.path.expanduser(os.fspath(path)))
    parent, name = os.path.split(full)
    try:
        real_parent = os.path.realpath(parent)
    except (OSError, RuntimeError, ValueError):
        return full
    if not name:
        return real_parent
    name = _spelled_as_on_disk(real_parent, name)
    candidate = os.path.join(real_parent, name)
    if os.path.islink(candidate):
        try:
            target = os.path.realpath(candidate, strict=True)
        except (OSError, RuntimeError, ValueError):
            return candidate
        if target.startswith(real_parent.rstrip(os.sep) + os.sep):
            return target
    return candidate


_CASE_INSENSITIVE: dict[str, bool] = {}


def case_insensitive(folder: str) -> bool:
    """Whether ``folder`` lies on a case-insensitive file system (macOS, Windows, vfat, some SMB shares):
    tested once per folder by looking the folder up under its own name with the case swapped."""
    known = _CASE_INSENSITIVE.get(folder)
    if known is None:
        head, tail = os.path.split(folder.rstrip(os.sep))
        swapped = tail.swapcase()
        if not tail or swapped == tail:
            known = False
        else:
            try:
                known = os.path.samefile(folder, os.path.join(head, swapped))
            except OSError:
                known = False
        _CASE_INSENSITIVE[folder] = known
    return known


def _spelled_as_on_disk(folder: str, name: str) -> str:
    """``name`` as ``folder`` lists it, on a case-insensitive file system (else ``name`` unchanged)."""
    if not case_insensitive(folder):
        return name
    for refresh in (False, True):
        listing = _LISTINGS.get(folder)
        if listing is None or refresh:
            try:
                listing = _LISTINGS[folder] = {entry.casefold(): entry for entry in os.listdir(folder)}
            except OSError:
                return name
        if name.casefold() in listing:
            return listing[name.casefold()]
    return name


_LISTINGS: dict[str, dict[str, str]] = {}


class FolderPrefix(TypeDecorator):
    """A folder's path (with its trailing separator) as the bytes or text that ``StoredPath`` stores paths
    as on this database: bytes on SQLite, ``path_as_text`` elsewhere."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        return dialect.type_descriptor(LargeBinary() if dialect.name == "sqlite" else Text())

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return os.fsencode(value) if dialect.name == "sqlite" else path_as_text(value)


class path_under(FunctionElement):  # noqa: N801 - an SQL function's name
    """``path_under(column, prefix)``: the stored path starts with the folder prefix (``under``)."""

    type = Boolean()
    name = "path_under"
    inherit_cache = True


@compiles(path_under)
def _under_as_text(element: Any, compiler: Any, **kw: Any) -> str:
    column, prefix = list(element.clauses)
    return compiler.process(func.substr(column, 1, func.length(prefix)) == prefix, **kw)


@compiles(path_under, "sqlite")
def _under_as_bytes(element: Any, compiler: Any, **kw: Any) -> str:
    column, prefix = list(element.clauses)  # CAST(path AS BLOB) gives text and BLOB paths alike as bytes
    as_bytes = cast(type_coerce(column, Text), LargeBinary)
    return compiler.process(func.substr(as_bytes, 1, func.length(prefix)) == prefix, **kw)


def under(folder: str | os.PathLike, column: Any = None) -> ColumnElement[bool]:
    """Rows whose path (``column``, default the images' path) lies inside ``folder``: a byte-exact,
    case-sensitive prefix test on what is stored (on SQLite a path that is not UTF-8 is stored as a BLOB, the
    rest as text, and both are compared as bytes; elsewhere as ``path_as_text``), so ``caf\\xe9/`` matches its
    own files only."""
    prefix = os.path.realpath(os.path.expanduser(os.fspath(folder))).rstrip(os.sep) + os.sep
    column = images.c.path if column is None else column
    return path_under(column, literal(prefix, FolderPrefix()))


def same_adapter(adapter: str | None) -> ColumnElement[bool]:
    """Evaluations made with this adapter (None: with none)."""
    return evaluations.c.adapter.is_(None) if adapter is None else evaluations.c.adapter == adapter
