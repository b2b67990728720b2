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
from ..errors import InvalidValue, LibraryError
from .fulltext import matching_evaluations
from .records import RatingRecord, _Record
from .session import LibrarySession, under
from .tables import evaluations, images, ratings

E, IMG, R = evaluations.c, images.c, ratings.c
RANKS = ("mean", "lower")
#: The user's rating that means "rejected" (the X key): 0 on the 0-100 scale, below one star (10), as XMP's
#: Rating -1 sits below 1.
REJECT_SCORE = 0.0
#: Rating filters: "rated", "unrated", "rejected", or a minimum number of stars "1".."5".
RATING_FILTERS = ("rated", "unrated", "rejected", "1", "2", "3", "4", "5")


@dataclass(frozen=True)
class GridItem(_Record):
    """One tile of the gallery: an image (by id) and one current evaluation of it. ``score`` 0-100, ``std``
    and ``lower_bound`` (score - k * std) in score points; ``rating`` is the user's latest rating (0-100;
    ``REJECT_SCORE`` for a reject) and ``stars`` its stars, None when unrated."""

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


@dataclass(frozen=True)
class GridPage(_Record):
    """One page of ``GridItem`` s, best first; ``next_cursor`` continues after the last (None: no more)."""

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


def parse_cursor(cursor: str) -> tuple[float, int]:
    """``"<rank value>:<evaluation id>"`` back to its two parts.

    Raises:
        InvalidValue: not a cursor this module made.
    """
    value, _, ident = cursor.rpartition(":")
    try:
        found = float(value), int(ident)
    except ValueError:
        found = (math.nan, -1)
    if not (math.isfinite(found[0]) and 0 < found[1] < 2**63):  # as this module writes them: finite, an id
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
        """One page of current evaluations, best first by score (``rank='mean'``, read off the score
        indexes) or by the lower bound score - k * std (``'lower'``: read in score order until no later row
        can make the page, ``_best_bounds``). ``search`` keeps images whose critiques match
        (``search.SEARCH_SYNTAX``); ``rating`` is one of ``RATING_FILTERS``; ``after`` is the previous page's
        ``next_cursor``.

        Raises:
            InvalidValue: an unknown rank, category or rating filter, a bad cursor or an empty search.
        """
        if rank not in RANKS:
            raise InvalidValue(f"rank must be one of {', '.join(RANKS)}, not {rank!r}")
        if rating and rating not in RATING_FILTERS:
            raise InvalidValue(f"rating must be one of {', '.join(RATING_FILTERS)}, not {rating!r}")
        if not 1 <= limit <= 500:
            raise InvalidValue(f"limit must be between 1 and 500, not {limit}")
        key = E.score if rank == "mean" else (E.score - k * E.std)
        latest = _latest_rating(R.score)  # the user's latest rating (a correlated subquery; NULL: unrated)
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
        if rating == "unrated":
            conditions.append(latest.is_(None))
        elif rating == "rated":
            conditions.append(latest.is_not(None))
        elif rating == "rejected":
            conditions.append(latest == REJECT_SCORE)
        elif rating:
            conditions.append(latest >= float(rating) * 20 - 10)
        if search is not None:
            conditions.append(E.id.in_(self._matching_evaluations(search)))
        if after:
            value, ident = parse_cursor(after)
            conditions.append(tuple_(key, E.id) < tuple_(value, ident))
        joined = evaluations.join(images, IMG.id == E.image_id)
        where = and_(*conditions)

        def read(conn: Connection) -> GridPage:
            if rank == "mean":
                query = select(*_columns(k)).select_from(joined).where(where).order_by(E.score.desc(), E.id.desc())
                rows = conn.execute(query.limit(limit + 1)).all()
            else:
                ids = _best_bounds(conn, select(E.id, E.score, E.std).select_from(joined).where(where), k, limit + 1)
                found = {
                    r.evaluation_id: r
                    for r in conn.execute(select(*_columns(k)).select_from(joined).where(E.id.in_(ids)))
                }
                rows = [found[i] for i in ids]
            if len(rows) <= limit:
                return GridPage([_item(r) for r in rows], None)
            last = rows[limit - 1]
            value = last.score if rank == "mean" else last.lower_bound
            return GridPage([_item(r) for r in rows[:limit]], f"{value!r}:{last.evaluation_id}")

        return self._run(read, write=False)

    def _matching_evaluations(self, search: str) -> Any:
        """The ids of evaluations with a critique matching ``search`` (a subquery)."""
        return matching_evaluations(self.engine.dialect.name, search)

    def newer(self, evaluation_id: int, *, limit: int = 50) -> list[GridItem]:
        """Current evaluations added after ``evaluation_id``, newest first: the gallery's live view."""
        query = (
            select(*_columns(1.0))
            .select_from(evaluations.join(images, IMG.id == E.image_id))
            .where(E.id > evaluation_id, E.current.is_(True))
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

    def rate_image(
        self, image_id: int, *, stars: float | None = None, score: float | None = None, rejected: bool = False
    ) -> RatingRecord:
        """The user's rating of a library image by id (``Library.rate``: appended, so concurrent ratings from
        the web and the CLI are all kept, the latest wins). ``rejected`` records a reject (a cull, stored as
        ``REJECT_SCORE`` with the reject flag: kept, never trained on).

        Raises:
            LibraryError: no image with this id.
            InvalidValue, OSError: as ``rate``.
        """
        found = self.image_file(image_id)
        if found is None:
            raise LibraryError(f"image {image_id}: not in the library")
        return self.rate(found.path, stars=stars, score=score, rejected=rejected)  # type: ignore[attr-defined]


def _columns(k: float) -> tuple[Any, ...]:
    """The columns of a ``GridItem`` (the lower bound with this k)."""
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
        _latest_rating(R.score).label("rating"),
        _latest_rating(R.stars).label("stars"),
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


def _latest_rating(column: Any) -> Any:
    """The image's latest rating's ``column`` (a correlated scalar subquery; NULL when unrated)."""
    return select(column).where(R.image_id == IMG.id).order_by(R.id.desc()).limit(1).scalar_subquery()


def _item(r: Any) -> GridItem:
    data = r._asdict()
    data["created_at"] = data["created_at"].isoformat()
    return GridItem(**data)


__all__ = ["Browse", "GridItem", "GridPage", "ImageFile", "RATING_FILTERS", "REJECT_SCORE", "parse_cursor"]
