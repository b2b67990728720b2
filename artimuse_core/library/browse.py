"""Browsing the library page by page, as a gallery does: ranked, filtered, keyset-paginated.

A page ends with a cursor (the last row's rank value and evaluation id); the next page starts strictly after
it (``(score, id) < (cursor)``), so page 500 of 200,000 reads the same few rows off the
(current, category, score) indexes as page 1 instead of skipping 24,000 with OFFSET. Images are addressed
by their library id, the only handle a web page ever gets (never a path).
"""

from __future__ import annotations

import heapq
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, select, tuple_

from ..categories import normalise_category
from ..errors import InvalidValue
from .decisions import DECISION_FILTERS, decision_condition, latest_decisions
from .fulltext import matching_evaluations
from .records import _Record
from .session import LibrarySession, under
from .tables import evaluations, images

E, IMG = evaluations.c, images.c
#: Orders of the grid: best first by score (``mean``) or by the lower bound score - k * std (``lower``);
#: in shooting order by capture time (EXIF, else the file's mtime: ``captured``); by path (``name``: each
#: folder's files by name).
SORTS = {"mean": "score", "lower": "lower bound (score - std)", "captured": "capture time", "name": "name"}
RANKS = tuple(SORTS)
#: Rating filters: the user's latest decision (``decisions.DECISION_FILTERS``), or at least "1".."5" stars.
RATING_FILTERS = (*DECISION_FILTERS, "1", "2", "3", "4", "5")
#: The most tiles one page may hold.
MAX_PAGE = 500


@dataclass(frozen=True)
class GridItem(_Record):
    """One tile of the gallery: an image (by id) and one current evaluation of it. ``score`` 0-100, ``std``
    and ``lower_bound`` (score - k * std) in score points; ``rating`` is the user's latest rating (0-100;
    ``REJECT_SCORE`` for a reject) and ``stars`` its stars, None when it has none; ``picked``/``rejected`` the
    user's flags; ``captured_at`` when it was taken (seconds since the epoch; the file's mtime when its EXIF
    says nothing)."""

    image_id: int
    evaluation_id: int
    path: str
    score: float
    std: float
    lower_bound: float
    category: str | None
    model: str
    adapter: str | None
    created_at: str
    width: int | None
    height: int | None
    missing: bool
    rating: float | None = None
    stars: float | None = None
    picked: bool = False
    rejected: bool = False
    captured_at: float | None = None


@dataclass(frozen=True)
class GridPage(_Record):
    """One page of ``GridItem`` s in the asked order; ``next_cursor`` continues after the last (None: no more)."""

    items: list[GridItem] = field(default_factory=list)
    next_cursor: str | None = None


@dataclass(frozen=True)
class ImageFile(_Record):
    """What the library knows of one image's file: id, path, size in bytes, mtime, SHA-256, missing flag."""

    image_id: int
    path: str
    size: int
    mtime: float
    content_hash: str
    missing: bool


def make_cursor(value: Any, ident: int) -> str:
    """A page cursor: ``"<number>:<evaluation id>"``, or ``"p<path bytes in hex>:<id>"`` for the name order."""
    if isinstance(value, str):
        return f"p{os.fsencode(value).hex()}:{ident}"
    return f"{float(value)!r}:{ident}"


def parse_cursor(cursor: str) -> tuple[float | str, int]:
    """A cursor of ``make_cursor`` back to its two parts.

    Raises:
        InvalidValue: not a cursor this module made.
    """
    value, _, ident = cursor.rpartition(":")
    found: tuple[float | str, int]
    try:
        if value.startswith("p"):  # a path cursor (the name order): the path's bytes in hex
            found = os.fsdecode(bytes.fromhex(value[1:])), int(ident)
        else:
            found = float(value), int(ident)
    except ValueError:
        found = (math.nan, -1)
    key, number = found
    if not ((isinstance(key, str) or math.isfinite(key)) and 0 < number < 2**63):  # as make_cursor writes them
        raise InvalidValue(f"cursor {cursor[:60]!r}: not a page cursor (follow the page's own next link)")
    return found


class Browse(LibrarySession):
    """The gallery's reads and the user's ratings by image id (part of ``Library``)."""

    def browse(
        self,
        *,
        rank: str = "mean",
        k: float = 1.0,
        category: str | None = None,
        folder: str | os.PathLike | None = None,
        model: str | None = None,
        adapter: str | None = None,
        since: datetime | None = None,
        min_score: float | None = None,
        rating: str | None = None,
        search: str | None = None,
        after: str | None = None,
        limit: int = 48,
        include_missing: bool = True,
    ) -> GridPage:
        """One page of current evaluations in the order ``rank`` (one of ``SORTS``): best first by score
        (``mean``, read off the score indexes) or by the lower bound score - k * std (``lower``: read in score
        order until no later row can make the page, ``_best_bounds``); oldest capture first (``captured``);
        by path (``name``). ``search`` keeps images whose critiques match (``search.SEARCH_SYNTAX``);
        ``rating`` is one of ``RATING_FILTERS``; ``after`` is the previous page's ``next_cursor``;
        ``include_missing`` False leaves out files the library marked missing.

        Raises:
            InvalidValue: an unknown rank, category or rating filter, a bad cursor or an empty search.
        """
        if rank not in RANKS:
            raise InvalidValue(f"rank must be one of {', '.join(RANKS)}, not {rank!r}")
        if rating and rating not in RATING_FILTERS:
            raise InvalidValue(f"rating must be one of {', '.join(RATING_FILTERS)}, not {rating!r}")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidValue(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
        decision = latest_decisions()
        key = _sort_key(rank, k)
        conditions: list[ColumnElement[bool]] = [E.current.is_(True)]
        if category:
            conditions.append(E.category == normalise_category(category))
        if folder:
            conditions.append(under(folder))
        if model:
            conditions.append(E.model_name == model)
        if adapter:
            conditions.append(E.adapter.is_(None) if adapter == "none" else E.adapter == adapter)
        if since:
            conditions.append(E.created_at >= since)
        if min_score is not None:
            conditions.append(E.score >= min_score)
        if not include_missing:
            conditions.append(IMG.missing.is_(False))
        if rating:
            conditions.append(decision_condition(decision, rating))
        if search is not None:
            conditions.append(E.id.in_(self._matching_evaluations(search)))
        ascending = rank in ("captured", "name")
        if after:
            value, ident = parse_cursor(after)
            if isinstance(value, str) != (rank == "name"):
                raise InvalidValue(f"cursor {after!r}: not a page cursor of this order (follow the page's own link)")
            position = tuple_(key, E.id)
            conditions.append(position > tuple_(value, ident) if ascending else position < tuple_(value, ident))
        joined = evaluations.join(images, IMG.id == E.image_id).outerjoin(decision, decision.c.image_id == IMG.id)
        where = and_(*conditions)
        columns = _columns(k, decision)

        def read(conn: Connection) -> GridPage:
            if rank == "lower":
                ids = _best_bounds(conn, select(E.id, E.score, E.std).select_from(joined).where(where), k, limit + 1)
                found = {
                    r.evaluation_id: r for r in conn.execute(select(*columns).select_from(joined).where(E.id.in_(ids)))
                }
                rows = [found[i] for i in ids]
            else:
                order = (key.asc(), E.id.asc()) if ascending else (key.desc(), E.id.desc())
                rows = list(
                    conn.execute(select(*columns).select_from(joined).where(where).order_by(*order).limit(limit + 1))
                )
            if len(rows) <= limit:
                return GridPage([_item(r) for r in rows], None)
            last = rows[limit - 1]
            value = {"mean": last.score, "lower": last.lower_bound, "captured": last.taken, "name": last.path}[rank]
            return GridPage([_item(r) for r in rows[:limit]], make_cursor(value, last.evaluation_id))

        return self._run(read, write=False)

    def _matching_evaluations(self, search: str) -> Any:
        """The ids of evaluations with a critique matching ``search`` (a subquery)."""
        return matching_evaluations(self.engine.dialect.name, search)

    def newer(self, evaluation_id: int, *, limit: int = 50, include_missing: bool = True) -> list[GridItem]:
        """Current evaluations added after ``evaluation_id``, newest first: what the gallery's "N new" bar
        counts (``include_missing`` False: of files not marked missing)."""
        decision = latest_decisions()
        query = (
            select(*_columns(1.0, decision))
            .select_from(
                evaluations.join(images, IMG.id == E.image_id).outerjoin(decision, decision.c.image_id == IMG.id)
            )
            .where(E.id > evaluation_id, E.current.is_(True), *([] if include_missing else [IMG.missing.is_(False)]))
            .order_by(E.id.desc())
            .limit(limit)
        )
        return self._run(lambda c: [_item(r) for r in c.execute(query)], write=False)

    def last_evaluation_id(self) -> int:
        """The newest evaluation's id (0 for an empty library)."""
        return self._run(lambda c: c.scalar(select(func.max(E.id))) or 0, write=False)

    def image_file(self, image_id: int) -> ImageFile | None:
        """The file behind a library image id (None when there is no such image)."""
        query = select(IMG.id, IMG.path, IMG.size, IMG.mtime, IMG.content_hash, IMG.missing).where(IMG.id == image_id)
        row = self._run(lambda c: c.execute(query).first(), write=False)
        return ImageFile(*row) if row else None

    def image_id(self, path: str | os.PathLike) -> int | None:
        """The library id of the image at this stored path (None when it is not in the library)."""
        return self._run(lambda c: c.scalar(select(IMG.id).where(IMG.path == str(path))), write=False)

    def choices(self) -> dict[str, list[str]]:
        """The values the gallery's filters offer: categories, models and adapters of current evaluations."""

        def read(conn: Connection) -> dict[str, list[str]]:
            current = E.current.is_(True)
            column = {"categories": E.category, "models": E.model_name, "adapters": E.adapter}
            return {
                name: sorted(v for (v,) in conn.execute(select(c).distinct().where(current, c.is_not(None))))
                for name, c in column.items()
            }

        return self._run(read, write=False)


def _sort_key(rank: str, k: float) -> Any:
    """What a grid order sorts on (ties broken by evaluation id)."""
    if rank == "captured":
        return func.coalesce(IMG.captured_at, IMG.mtime)
    if rank == "name":
        return IMG.path
    return E.score if rank == "mean" else (E.score - k * E.std)


def _columns(k: float, decision: Any) -> tuple[Any, ...]:
    """The columns of a ``GridItem`` (the lower bound with this k; the decision from ``latest_decisions``)
    plus ``taken`` (the capture-time sort key)."""
    return (
        IMG.id.label("image_id"),
        E.id.label("evaluation_id"),
        IMG.path,
        E.score,
        E.std,
        (E.score - k * E.std).label("lower_bound"),
        E.category,
        E.model_name.label("model"),
        E.adapter,
        E.created_at,
        IMG.width,
        IMG.height,
        IMG.missing,
        decision.c.score.label("rating"),
        decision.c.stars.label("stars"),
        func.coalesce(decision.c.picked, False).label("picked"),
        func.coalesce(decision.c.rejected, False).label("rejected"),
        IMG.captured_at,
        func.coalesce(IMG.captured_at, IMG.mtime).label("taken"),
    )


def _best_bounds(conn: Connection, scan: Any, k: float, count: int) -> list[int]:
    """The ids of the ``count`` best evaluations by lower bound (score - k * std), best first (ties: higher
    id first). Rows come off the score index best first, and the scan stops at the first score below the
    count-th best bound found so far: a bound is never above its score, so no later row can enter."""
    best: list[tuple[float, int]] = []
    for r in conn.execution_options(yield_per=1000).execute(scan.order_by(E.score.desc())):
        if len(best) >= count and r.score < best[0][0]:
            break
        item = (r.score - k * r.std, r.id)
        if len(best) < count:
            heapq.heappush(best, item)
        elif item > best[0]:
            heapq.heapreplace(best, item)
    return [ident for _, ident in sorted(best, reverse=True)]


def _item(r: Any) -> GridItem:
    data = r._asdict()
    data["created_at"] = data["created_at"].isoformat()
    data["captured_at"] = data.pop("taken")
    data["picked"], data["rejected"] = bool(data["picked"]), bool(data["rejected"])
    return GridItem(**data)


__all__ = ["Browse", "GridItem", "GridPage", "ImageFile", "RATING_FILTERS", "SORTS", "make_cursor", "parse_cursor"]
