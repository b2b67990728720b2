"""Reading the library: the cache lookup of the door, rankings, one image's history, search, stats and
export (errors, ratings and adapters: ``listings``). Every method returns typed records (``records``)."""

from __future__ import annotations

import heapq
import os
import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, select
from sqlalchemy.exc import DatabaseError

from ..categories import normalise_category
from ..errors import InvalidValue, LibraryError
from ..families import PRIMARY_DIMENSION
from ..paths import path_key
from . import ranks
from .decisions import decision_condition, latest_decisions
from .fulltext import matching_critiques
from .records import (
    EvaluationRecord,
    FileFacts,
    ImageRecord,
    LibraryStats,
    RatingRecord,
    SearchHit,
)
from .session import LibrarySession, same_adapter, under
from .stats import library_stats
from .tables import critiques, evaluations, images, iso_utc, ratings, utcnow

RANKS = ("mean", "lower")
E, IMG = evaluations.c, images.c
#: The columns of an ``EvaluationRecord`` without the distribution (rankings never read it).
RECORD_COLUMNS = (
    E.id.label("evaluation_id"),
    IMG.path,
    E.score,
    E.std,
    E.model_name.label("model"),
    E.model_fingerprint.label("fingerprint"),
    E.adapter,
    IMG.category,
    IMG.category_source,
    E.prompt_hash,
    E.engine_version,
    E.device,
    E.dtype,
    E.created_at,
    E.current,
    IMG.width,
    IMG.height,
    E.dimension,
)
JOINED = evaluations.join(images, IMG.id == E.image_id)


def with_decisions() -> tuple[Any, tuple[Any, ...], Any]:
    """(the evaluations and images joined with the user's latest decision, the decision's columns of an
    ``EvaluationRecord``, the decision subquery to filter on)."""
    decision = latest_decisions()
    columns = (
        decision.c.score.label("rating"),
        decision.c.stars,
        func.coalesce(decision.c.picked, False).label("picked"),
        func.coalesce(decision.c.rejected, False).label("rejected"),
    )
    return JOINED.outerjoin(decision, decision.c.image_id == IMG.id), columns, decision


def parse_since(text_value: str | None) -> datetime | None:
    """'7d', '12h', '30m', '2w' ago, or an ISO date/time, as the naive UTC time the library stores; None for
    None or ''. A date/time without a zone is the user's local time (``2026-11-30T05:12`` means 05:12 on the
    user's clock); one with a zone (``...+01:00``, ``...Z``) is taken as written.

    Raises:
        InvalidValue: anything else (the message names the ``since`` setting and shows the forms).
    """
    if not text_value:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text_value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        unit_name = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]
        try:
            return utcnow() - timedelta(**{unit_name: amount})
        except OverflowError:  # before year 1: every score is newer (but say so: the value is a typo)
            raise InvalidValue(f"since {text_value!r}: further back than the calendar goes; use 30m, 12h, 7d, 2w "
                               "or a date like 2026-11-01") from None  # fmt: skip
    try:
        moment = datetime.fromisoformat(text_value.strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.astimezone()  # local time, with the zone in force on that date
        return moment.astimezone(timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError, OSError):
        raise InvalidValue(f"since {text_value!r}: use 30m, 12h, 7d, 2w or a date like 2026-11-01") from None


class Queries(LibrarySession):
    """Reading the library (part of ``Library``)."""

    def find_current(self, facts: FileFacts, fingerprint: str, adapter: str | None) -> EvaluationRecord | None:
        """The stored current evaluation of this exact file content by this model (+ adapter), with its
        distribution and critiques, and every current dimension in ``scores``/``stds``/``distributions``;
        None when there is none (the door then scores the file)."""
        query = (
            select(*RECORD_COLUMNS, E.distribution)
            .select_from(JOINED)
            .where(
                IMG.path == str(facts.path),
                IMG.content_hash == facts.content_hash,
                E.model_fingerprint == fingerprint,
                E.current.is_(True),
                same_adapter(adapter),
            )
            .order_by(E.id.desc())
        )
        return self._run(lambda c: _current_record(c, query), write=False)

    def evaluation(self, evaluation_id: int) -> EvaluationRecord | None:
        """One evaluation by id, with its distribution and critiques (None when it no longer exists)."""
        query = select(*RECORD_COLUMNS, E.distribution).select_from(JOINED).where(E.id == evaluation_id)
        return self._run(lambda c: _one_record(c, query), write=False)

    def image_category(self, path: str | os.PathLike) -> str | None:
        """The category the library holds for this image, if any."""
        query = select(IMG.category).where(IMG.path == str(path))
        return self._run(lambda c: c.scalar(query), write=False)

    def top(
        self,
        *,
        dimension: str = PRIMARY_DIMENSION,
        category: str | None = None,
        limit: int = 20,
        since: datetime | None = None,
        min_score: float | None = None,
        model: str | None = None,
        adapter: str | None = None,
        folder: str | os.PathLike | None = None,
        rank: str = "mean",
        k: float = 1.0,
        include_missing: bool = False,
        rating: str | None = None,
    ) -> list[EvaluationRecord]:
        """Best images by current score of ``dimension`` (``rank='mean'``) or by the lower bound score - k * std
        (``'lower'``), each with the user's latest decision (``rating``/``stars``/``picked``/``rejected``).
        ``model`` keeps one model's scores, ``adapter`` one adapter's (``"none"``: the base model's only), so
        scores of different weights are not mixed; ``rating`` keeps those matching a decision filter
        (``decisions.DECISION_FILTERS`` or at least ``"1"``..``"5"`` stars).

        Rows come off the (current, dimension, category, score) index in score order; for the lower bound the scan stops
        as soon as the score itself falls below the limit-th best bound, which no later row can beat.

        Raises:
            InvalidValue: an unknown category or rank.
        """
        if rank not in RANKS:
            raise InvalidValue(f"rank must be one of {', '.join(RANKS)}, not {rank!r}")
        conditions: list[ColumnElement[bool]] = [E.current.is_(True), E.dimension == dimension]
        if category:
            conditions.append(E.category == normalise_category(category))
        if since:
            conditions.append(E.created_at >= since)
        if min_score is not None:
            conditions.append(E.score >= min_score)
        conditions.extend(model_filter(model, adapter))
        if folder:
            conditions.append(under(folder))
        if not include_missing:
            conditions.append(IMG.missing.is_(False))
        joined, decided, decision = with_decisions()
        if rating:
            conditions.append(decision_condition(decision, rating))
        query = select(*RECORD_COLUMNS, *decided).select_from(joined).where(and_(*conditions)).order_by(E.score.desc())

        def read(conn: Connection) -> list[EvaluationRecord]:
            if rank == "mean":
                return [row_record(r, lower_bound=r.score - k * r.std) for r in conn.execute(query.limit(limit))]
            best: list[tuple[float, int, Any]] = []
            for r in conn.execution_options(yield_per=500).execute(query):
                if len(best) >= limit and r.score < best[0][0]:
                    break
                item = (r.score - k * r.std, -r.evaluation_id, r)
                if len(best) < limit:
                    heapq.heappush(best, item)
                elif item > best[0]:
                    heapq.heapreplace(best, item)
            return [row_record(r, lower_bound=bound) for bound, _, r in sorted(best, reverse=True)]

        return self._run(read, write=False)

    def history(self, *, limit: int = 50, since: datetime | None = None) -> list[EvaluationRecord]:
        """The most recent evaluations, newest first."""
        query = select(*RECORD_COLUMNS).select_from(JOINED).order_by(E.created_at.desc(), E.id.desc())
        if since:
            query = query.where(E.created_at >= since)
        return self._run(lambda c: [row_record(r) for r in c.execute(query.limit(limit))], write=False)

    def show(self, path: str | os.PathLike) -> ImageRecord:
        """Everything known about one image: evaluations (latest first, with distribution and critiques),
        ratings (latest first).

        Raises:
            LibraryError: the image is not in the library.
        """
        where = path_key(path)

        def read(conn: Connection) -> ImageRecord:
            image = conn.execute(select(images).where(IMG.path == where)).first()
            if image is None:
                raise LibraryError(f"{where}: not in the library (score it first)")
            rows = conn.execute(
                select(*RECORD_COLUMNS, E.distribution)
                .select_from(JOINED)
                .where(E.image_id == image.id)
                .order_by(E.created_at.desc(), E.id.desc())
            ).all()
            texts = _critiques(conn, [r.evaluation_id for r in rows])
            rated = conn.execute(
                select(ratings)
                .where(ratings.c.image_id == image.id)
                .order_by(ratings.c.id.desc())  # appended: the latest row is the image's state
            )
            return ImageRecord(
                path=image.path,
                content_hash=image.content_hash,
                size=image.size,
                width=image.width,
                height=image.height,
                category=image.category,
                category_source=image.category_source,
                category_confidence=image.category_confidence,
                first_seen=iso_utc(image.first_seen),
                missing=image.missing,
                evaluations=[row_record(r, critiques=texts.get(r.evaluation_id, {})) for r in rows],
                ratings=[
                    RatingRecord(
                        image.path,
                        r.score,
                        r.stars,
                        iso_utc(r.created_at),
                        image.category,
                        r.source,
                        r.rejected,
                        r.picked,
                    )
                    for r in rated
                ],
            )

        return self._run(read, write=False)

    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        """Critiques matching ``query`` (``search.SEARCH_SYNTAX``: prefix words, stems, phrases, OR, -word),
        best match first (``fulltext``: SQLite's FTS5, PostgreSQL's tsvector; substrings elsewhere).

        Raises:
            InvalidValue: an empty query.
        """
        C = critiques.c
        columns = select(
            IMG.path, C.attribute, C.text, E.score, E.model_name, E.id, C.id.label("critique_id")
        ).select_from(critiques.join(evaluations, C.evaluation_id == E.id).join(images, IMG.id == E.image_id))

        found = matching_critiques(self.engine.dialect.name, query, limit)

        def read(conn: Connection) -> list[SearchHit]:
            if found is None:
                return []
            ids = list(conn.execute(found).scalars())
            order = {critique_id: i for i, critique_id in enumerate(ids)}
            rows = sorted(conn.execute(columns.where(C.id.in_(ids))).all(), key=lambda r: order[r.critique_id])
            return [SearchHit(r.path, r.attribute, r.text, r.score, r.model_name, r.id) for r in rows]

        return self._run(read, write=False)

    def stats(
        self, *, model: str | None = None, adapter: str | None = None, dimension: str = PRIMARY_DIMENSION
    ) -> LibraryStats:
        """Row counts, and per category the count, mean and percentiles of current scores of ``dimension`` (in
        SQL); with ``model``/``adapter`` (as ``top``) of that model's or adapter's scores only."""
        only = model_filter(model, adapter)
        return self._run(lambda c: library_stats(c, only=only, dimension=dimension), write=False)

    def percentile_ranks(self, scored: Sequence[tuple[str, str, float]]) -> list[float | None]:
        """For each (model fingerprint, dimension, score) of a current evaluation: the percentage (0-100) of
        the other current scores of that dimension by that same model that it beats, ties counting half, so a
        reader needs no knowledge of the checkpoint's scale ("better than 83 % of your library"). None when
        there is no other such score. One query (``ranks``: counts of index ranges, no score read out)."""
        return self._run(lambda conn: ranks.percentile_ranks(conn, scored), write=False)

    def export(
        self, *, current_only: bool = True, dimension: str | None = None, rating: str | None = None
    ) -> Iterator[EvaluationRecord]:
        """Every (current) evaluation with its distribution (of ``dimension`` only, when given; each record
        names its dimension) and the user's latest decision on the image, oldest first, streamed 1000 rows at
        a time; ``rating``: only images matching this decision filter (as ``top``).

        Raises:
            InvalidValue: an unknown decision filter.
            LibraryError: the database fails mid-stream (rows already yielded are all there were before it).
        """
        joined, decided, decision = with_decisions()
        query = select(*RECORD_COLUMNS, *decided, E.distribution).select_from(joined).order_by(E.id)
        if rating:
            query = query.where(decision_condition(decision, rating))
        if dimension:
            query = query.where(E.dimension == dimension)
        if current_only:
            query = query.where(E.current.is_(True))
        try:
            with self.engine.connect() as conn:
                for row in conn.execution_options(yield_per=1000).execute(query):
                    yield row_record(row)
        except DatabaseError as exc:  # a damaged page mid-stream: the caller says the export is incomplete
            raise self.database_error(exc) from exc


def model_filter(model: str | None, adapter: str | None) -> list[ColumnElement[bool]]:
    """Conditions on evaluations: by this model name, by this adapter (``"none"``: no adapter)."""
    conditions: list[ColumnElement[bool]] = []
    if model:
        conditions.append(E.model_name == model)
    if adapter:
        conditions.append(same_adapter(None if adapter.lower() == "none" else adapter))
    return conditions


def _one_record(conn: Connection, query: Any) -> EvaluationRecord | None:
    row = conn.execute(query).first()
    if row is None:
        return None
    return row_record(row, critiques=_critiques(conn, [row.evaluation_id]).get(row.evaluation_id, {}))


def _current_record(conn: Connection, query: Any) -> EvaluationRecord | None:
    """The latest current row of each dimension, as one record: the ``iaa`` row (else the first written)
    with every dimension's score, spread and distribution."""
    latest: dict[str, Any] = {}
    for row in conn.execute(query):
        latest.setdefault(row.dimension, row)
    if not latest:
        return None
    rows = sorted(latest.values(), key=lambda r: r.evaluation_id)
    primary = latest.get(PRIMARY_DIMENSION) or rows[0]
    return row_record(
        primary,
        critiques=_critiques(conn, [primary.evaluation_id]).get(primary.evaluation_id, {}),
        scores={r.dimension: r.score for r in rows},
        stds={r.dimension: r.std for r in rows},
        distributions={r.dimension: r.distribution for r in rows},
    )


def _critiques(conn: Connection, evaluation_ids: list[int]) -> dict[int, dict[str, str]]:
    """evaluation id -> {attribute: text}; a later critique of the same attribute wins."""
    if not evaluation_ids:
        return {}
    found: dict[int, dict[str, str]] = {}
    query = select(critiques).where(critiques.c.evaluation_id.in_(evaluation_ids)).order_by(critiques.c.id)
    for c in conn.execute(query):
        found.setdefault(c.evaluation_id, {})[c.attribute] = c.text
    return found


def row_record(r: Any, **extra: Any) -> EvaluationRecord:
    """An ``EvaluationRecord`` from a row of ``RECORD_COLUMNS`` (and the distribution, when selected)."""
    data = r._asdict()
    data["created_at"] = iso_utc(data["created_at"])
    for flag in ("picked", "rejected"):
        if flag in data:
            data[flag] = bool(data[flag])
    return EvaluationRecord(**data, **extra)
