"""The user's own decisions on images: stars (or a score), a pick flag, a reject, a clear.

Decisions are appended, never updated: concurrent ratings from the gallery, the CLI and ``ratings import``
are all kept and the latest row of an image is its state (``score``/``stars``: the stars, NULL when it has
none; ``picked``; ``rejected``). A change carries the rest of the state over, as in a photo manager: stars
keep a pick, a pick keeps the stars, a reject drops both (XMP holds a reject as ``xmp:Rating -1``), a clear
drops everything. ``latest_decisions`` is the one reading of "the latest row per image" that the gallery,
``top`` and ``export`` join.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, insert, not_, or_, select

from ..errors import InvalidValue, LibraryError
from .records import RatingRecord, file_facts, stars_to_score
from .session import LibrarySession
from .tables import evaluations, images, iso_utc, ratings, utcnow
from .writes import upsert_image

R = ratings.c
#: The score a reject is stored with (0 on the 0-100 scale, below one star's 10, as XMP's Rating -1 sits
#: below 1).
REJECT_SCORE = 0.0
#: Filters on the latest decision: ``rated`` (has stars or a score), ``unrated`` (neither, and not rejected),
#: ``picked``, ``rejected``.
DECISION_FILTERS = ("rated", "unrated", "picked", "rejected")


@dataclass(frozen=True)
class Change:
    """What one decision changes: ``stars`` (0.5-5) or ``score`` (0-100); ``picked`` True/False (None:
    keep); ``rejected``; ``clear`` (no stars, no pick, no reject).

    Raises:
        InvalidValue: nothing to change, or values that contradict each other.
    """

    stars: float | None = None
    score: float | None = None
    picked: bool | None = None
    rejected: bool = False
    clear: bool = False

    def __post_init__(self):
        graded = self.stars is not None or self.score is not None
        if self.stars is not None and self.score is not None:
            raise InvalidValue("give either stars (0.5-5) or a score (0-100), not both")
        if self.clear and (graded or self.rejected or self.picked is not None):
            raise InvalidValue("a clear removes the stars, the pick and the reject: give it alone")
        if self.rejected and (graded or self.picked):
            raise InvalidValue("a rejected image has no stars, score or pick")
        if not (graded or self.rejected or self.clear or self.picked is not None):
            raise InvalidValue("give stars, a score, a pick, a reject or a clear")
        if self.score is not None and not 0 <= self.score <= 100:
            raise InvalidValue(f"score must be between 0 and 100, not {self.score:g}")

    def after(self, last: Any) -> tuple[float | None, float | None, bool, bool]:
        """The new state (score, stars, picked, rejected) after the latest row ``last`` (None: no decision)."""
        if self.clear:
            return None, None, False, False
        if self.rejected:
            return REJECT_SCORE, None, False, True
        kept = last is not None and not last.rejected
        if self.stars is not None or self.score is not None:
            value = stars_to_score(self.stars) if self.stars is not None else float(self.score)  # type: ignore[arg-type]
            picked = self.picked if self.picked is not None else (kept and bool(last.picked))
            return value, self.stars, picked, False
        score, stars = (last.score, last.stars) if kept else (None, None)
        return score, stars, bool(self.picked), False


def latest_decisions() -> Any:
    """The latest decision of every image that has one, as a subquery to LEFT JOIN on ``image_id``:
    columns ``image_id``, ``score``, ``stars``, ``picked``, ``rejected``, ``source``, ``created_at``."""
    newest = select(R.image_id, func.max(R.id).label("rid")).group_by(R.image_id).subquery()
    return (
        select(R.image_id, R.score, R.stars, R.picked, R.rejected, R.source, R.created_at)
        .join(newest, newest.c.rid == R.id)
        .subquery("decision")
    )


def decision_condition(decision: Any, wanted: str) -> ColumnElement[bool]:
    """Rows of ``latest_decisions()`` (LEFT JOINed, so NULL when undecided) matching a ``DECISION_FILTERS``
    name or a minimum number of stars ``"1"``..``"5"``.

    Raises:
        InvalidValue: any other name.
    """
    rejected = decision.c.rejected.is_(True)
    if wanted == "rated":
        return and_(decision.c.score.is_not(None), not_(rejected))
    if wanted == "unrated":
        return or_(decision.c.image_id.is_(None), and_(decision.c.score.is_(None), not_(rejected)))
    if wanted == "picked":
        return decision.c.picked.is_(True)
    if wanted == "rejected":
        return rejected
    if wanted in ("1", "2", "3", "4", "5"):
        return and_(decision.c.score >= stars_to_score(float(wanted)), not_(rejected))
    raise InvalidValue(f"rating must be one of {', '.join(DECISION_FILTERS)} or 1-5 (stars at least), not {wanted!r}")


class Decisions(LibrarySession):
    """The user's decisions (part of ``Library``)."""

    def rate(
        self,
        path: str | os.PathLike,
        *,
        stars: float | None = None,
        score: float | None = None,
        source: str = "user",
        rejected: bool = False,
        picked: bool | None = None,
        clear: bool = False,
    ) -> RatingRecord:
        """Record a decision on an image (added to the library if new): ``stars`` or ``score``, ``picked``
        (True: pick, False: unpick, None: keep), ``rejected``, or ``clear``; the rest of the state carries
        over (module docstring). ``source``: ``user``, or where it was read (``xmp:lightroom``...).

        Only an image the library has scored (this content) or can read is rated: ratings train adapters,
        and a rating of ``notes.txt`` or an empty file would teach them noise.

        Raises:
            InvalidValue: nothing to change, contradicting values (``Change``), a value out of range.
            ImageError: not an image the library can read (the reason: empty file, not an image, corrupt...).
            OSError: the file cannot be read.
        """
        change = Change(stars, score, picked, rejected, clear)
        return self.import_rating(path, change=change, source=source, always=True)[0]

    def import_rating(
        self,
        path: str | os.PathLike,
        *,
        stars: float | None = None,
        score: float | None = None,
        source: str,
        rejected: bool = False,
        picked: bool | None = None,
        change: Change | None = None,
        always: bool = False,
    ) -> tuple[RatingRecord, bool]:
        """``rate``, except that a decision equal to the image's latest one (same score, pick, reject and
        source) is not stored again unless ``always``: returns (the latest decision, whether a row was
        added), so importing the same sidecars twice adds nothing."""
        change = change or Change(stars, score, picked, rejected)
        facts = file_facts(path)
        known = (
            select(images.c.id)
            .where(images.c.content_hash == facts.content_hash)
            .where(select(evaluations.c.id).where(evaluations.c.image_id == images.c.id).exists())
        )
        if self._run(lambda c: c.scalar(known.limit(1)), write=False) is None:
            _check_rateable(facts.path)

        def write(conn: Connection) -> tuple[RatingRecord, bool]:
            image = upsert_image(conn, facts, None, None)
            last = conn.execute(select(ratings).where(R.image_id == image["id"]).order_by(R.id.desc()).limit(1)).first()
            value, given_stars, now_picked, now_rejected = change.after(last)
            if not always and last is not None:
                if (last.score, last.source, last.rejected, last.picked) == (value, source, now_rejected, now_picked):
                    return _record(image, last), False
            row = _Row(value, given_stars, utcnow(), source, now_rejected, now_picked)
            conn.execute(insert(ratings).values(image_id=image["id"], **asdict(row)))
            return _record(image, row), True

        return self._run(write)

    def rate_image(self, image_id: int, **change: Any) -> RatingRecord:
        """``rate`` of a library image by id (what the gallery sends); same keywords.

        Raises:
            LibraryError: no image with this id.
            InvalidValue, ImageError, OSError: as ``rate``.
        """
        found = self._run(lambda c: c.scalar(select(images.c.path).where(images.c.id == image_id)), write=False)
        if found is None:
            raise LibraryError(f"image {image_id}: not in the library")
        return self.rate(found, **change)


@dataclass(frozen=True)
class _Row:
    """A decision row as written (the shape of a ``ratings`` row that ``_record`` reads)."""

    score: float | None
    stars: float | None
    created_at: Any
    source: str
    rejected: bool
    picked: bool


def _record(image: dict[str, Any], row: Any) -> RatingRecord:
    return RatingRecord(
        image["path"],
        row.score,
        row.stars,
        iso_utc(row.created_at),
        image["category"],
        row.source,
        row.rejected,
        row.picked,
    )


def _check_rateable(path: Path) -> None:
    """Decode the file as scoring would; its ``ImageError`` says why it cannot be rated."""
    from ..errors import ImageError
    from ..images import open_rgb

    try:
        open_rgb(path)
    except ImageError as exc:
        raise type(exc)(exc.path, f"{exc.reason}; only images the library can read or has scored can be rated") from exc


__all__ = ["Change", "DECISION_FILTERS", "Decisions", "REJECT_SCORE", "decision_condition", "latest_decisions"]
