"""Reading the library: the cache lookup of the door, rankings, one image's history, search, stats,
export, errors, ratings and adapters. Every method returns typed records (``records``)."""

from __future__ import annotations

import heapq
import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, text
from sqlalchemy.orm import Session

from ..categories import normalise_category
from ..errors import InvalidValue, LibraryError
from .models import Adapter, Critique, ErrorRecord, Evaluation, Image, Rating, utcnow
from .records import (
    AdapterRecord,
    ErrorEntry,
    EvaluationRecord,
    FileFacts,
    ImageRecord,
    LibraryStats,
    RatingRecord,
    SearchHit,
)
from .search import fts_query
from .session import LibrarySession, absolute, same_adapter, under
from .stats import library_stats

RANKS = ("mean", "lower")


def parse_since(text_value: str | None) -> datetime | None:
    """'7d', '12h', '30m', '2w' ago, or an ISO date/time; None for None or ''.

    Raises:
        InvalidValue: anything else (the message names the ``since`` setting and shows the forms).
    """
    if not text_value:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text_value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        delta = {
            "m": timedelta(minutes=amount),
            "h": timedelta(hours=amount),
            "d": timedelta(days=amount),
            "w": timedelta(weeks=amount),
        }[unit]
        return utcnow() - delta
    try:
        return datetime.fromisoformat(text_value)
    except ValueError:
        raise InvalidValue(f"since {text_value!r}: use 30m, 12h, 7d, 2w or a date like 2026-11-01") from None


class Queries(LibrarySession):
    """Reading the library (part of ``Library``)."""

    def find_current(self, facts: FileFacts, fingerprint: str, adapter: str | None) -> EvaluationRecord | None:
        """The stored current evaluation of this exact file content by this model (+ adapter), with its
        distribution and critiques; None when there is none (the door then scores the file)."""

        def query(session: Session) -> EvaluationRecord | None:
            row = session.execute(
                select(Evaluation, Image)
                .join(Image)
                .where(
                    Image.path == str(facts.path),
                    Image.content_hash == facts.content_hash,
                    Evaluation.model_fingerprint == fingerprint,
                    Evaluation.current.is_(True),
                    same_adapter(adapter),
                )
                .order_by(Evaluation.id.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            critiques = _critiques(session, [row[0].id]).get(row[0].id, {})
            return evaluation_record(row[0], row[1], distribution=row[0].distribution, critiques=critiques)

        return self._run(query, write=False)

    def evaluation(self, evaluation_id: int) -> EvaluationRecord | None:
        """One evaluation by id, with its distribution and critiques (None when it no longer exists)."""

        def query(session: Session) -> EvaluationRecord | None:
            row = session.execute(select(Evaluation, Image).join(Image).where(Evaluation.id == evaluation_id)).first()
            if row is None:
                return None
            critiques = _critiques(session, [evaluation_id]).get(evaluation_id, {})
            return evaluation_record(row[0], row[1], distribution=row[0].distribution, critiques=critiques)

        return self._run(query, write=False)

    def image_category(self, path: str | os.PathLike) -> str | None:
        """The category the library holds for this image, if any."""
        where = str(path)
        return self._run(lambda s: s.scalar(select(Image.category).where(Image.path == where)), write=False)

    def top(
        self,
        *,
        category: str | None = None,
        limit: int = 20,
        since: datetime | None = None,
        min_score: float | None = None,
        model: str | None = None,
        folder: str | os.PathLike | None = None,
        rank: str = "mean",
        k: float = 1.0,
        include_missing: bool = False,
    ) -> list[EvaluationRecord]:
        """Best images by current score (``rank='mean'``) or by the lower bound score - k * std (``'lower'``).

        Rows come off the (current, category, score) index in score order; for the lower bound the scan stops
        as soon as the score itself falls below the limit-th best bound, which no later row can beat.

        Raises:
            InvalidValue: an unknown category or rank.
        """
        if rank not in RANKS:
            raise InvalidValue(f"rank must be one of {', '.join(RANKS)}, not {rank!r}")
        conditions: list[ColumnElement[bool]] = [Evaluation.current.is_(True)]
        if category:
            conditions.append(Evaluation.category == normalise_category(category))
        if since:
            conditions.append(Evaluation.created_at >= since)
        if min_score is not None:
            conditions.append(Evaluation.score >= min_score)
        if model:
            conditions.append(Evaluation.model_name == model)
        if folder:
            conditions.append(under(folder))
        if not include_missing:
            conditions.append(Image.missing.is_(False))
        query = (
            select(*RECORD_COLUMNS)
            .join(Image, Image.id == Evaluation.image_id)
            .where(and_(*conditions))
            .order_by(Evaluation.score.desc())
        )

        def read(session: Session) -> list[EvaluationRecord]:
            if rank == "mean":
                return [row_record(r, lower_bound=r.score - k * r.std) for r in session.execute(query.limit(limit))]
            best: list[tuple[float, int, Any]] = []
            for r in session.execute(query.execution_options(yield_per=500)):
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
        query = (
            select(*RECORD_COLUMNS)
            .join(Image, Image.id == Evaluation.image_id)
            .order_by(Evaluation.created_at.desc(), Evaluation.id.desc())
        )
        if since:
            query = query.where(Evaluation.created_at >= since)
        return self._run(lambda s: [row_record(r) for r in s.execute(query.limit(limit))], write=False)

    def show(self, path: str | os.PathLike) -> ImageRecord:
        """Everything known about one image: evaluations (latest first, with distribution and critiques),
        ratings (latest first).

        Raises:
            LibraryError: the image is not in the library.
        """
        where = absolute(path)

        def read(session: Session) -> ImageRecord:
            image = session.scalar(select(Image).where(Image.path == where))
            if image is None:
                raise LibraryError(f"{where}: not in the library (score it first)")
            evaluations = session.scalars(
                select(Evaluation)
                .where(Evaluation.image_id == image.id)
                .order_by(Evaluation.created_at.desc(), Evaluation.id.desc())
            ).all()
            critiques = _critiques(session, [e.id for e in evaluations])
            ratings = session.scalars(
                select(Rating).where(Rating.image_id == image.id).order_by(Rating.created_at.desc(), Rating.id.desc())
            ).all()
            return ImageRecord(
                path=image.path,
                content_hash=image.content_hash,
                size=image.size,
                width=image.width,
                height=image.height,
                category=image.category,
                category_source=image.category_source,
                category_confidence=image.category_confidence,
                first_seen=image.first_seen.isoformat(),
                missing=image.missing,
                evaluations=[
                    evaluation_record(e, image, distribution=e.distribution, critiques=critiques.get(e.id, {}))
                    for e in evaluations
                ],
                ratings=[
                    RatingRecord(image.path, r.score, r.stars, r.created_at.isoformat(), image.category)
                    for r in ratings
                ],
            )

        return self._run(read, write=False)

    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        """Critiques matching ``query`` (``SEARCH_SYNTAX``: prefix words, stems, phrases, OR, -word), best
        match first (FTS5 with the porter tokenizer on SQLite; every word as a substring elsewhere).

        Raises:
            InvalidValue: an empty query.
        """

        def read(session: Session) -> list[SearchHit]:
            if self._search_fts:
                ids = [
                    r[0]
                    for r in session.execute(
                        text("SELECT rowid FROM critiques_fts WHERE critiques_fts MATCH :q ORDER BY rank LIMIT :n"),
                        {"q": fts_query(query), "n": limit},
                    )
                ]
                condition: ColumnElement[bool] = Critique.id.in_(ids)
            else:
                words = [w for w in re.findall(r"\w+", query)]
                if not words:
                    raise InvalidValue(f"search {query!r}: give at least one word to look for")
                condition = and_(*[Critique.text.ilike(f"%{w}%") for w in words])
                ids = []
            rows = list(
                session.execute(
                    select(Critique, Evaluation, Image)
                    .select_from(Critique)
                    .join(Evaluation, Critique.evaluation_id == Evaluation.id)
                    .join(Image, Image.id == Evaluation.image_id)
                    .where(condition)
                    .limit(limit)
                ).all()
            )
            order = {rowid: i for i, rowid in enumerate(ids)}
            rows.sort(key=lambda r: order.get(r[0].id, 0))
            return [SearchHit(i.path, c.attribute, c.text, e.score, e.model_name, e.id) for c, e, i in rows]

        return self._run(read, write=False)

    def stats(self) -> LibraryStats:
        """Row counts, and per category the count, mean and percentiles of current scores (in SQL)."""
        return self._run(library_stats, write=False)

    def export(self, *, current_only: bool = True) -> Iterator[EvaluationRecord]:
        """Every (current) evaluation with its distribution, oldest first, streamed 1000 rows at a time."""
        query = select(Evaluation, Image).join(Image).order_by(Evaluation.id)
        if current_only:
            query = query.where(Evaluation.current.is_(True))
        with self._read() as session:
            for evaluation, image in session.execute(query.execution_options(yield_per=1000)):
                yield evaluation_record(evaluation, image, distribution=evaluation.distribution)

    def errors(self, *, limit: int = 100, since: datetime | None = None) -> list[ErrorEntry]:
        """Files that could not be scored, newest first."""
        query = select(ErrorRecord).order_by(ErrorRecord.created_at.desc(), ErrorRecord.id.desc())
        if since:
            query = query.where(ErrorRecord.created_at >= since)
        return self._run(
            lambda s: [
                ErrorEntry(e.path, e.kind, e.message, e.created_at.isoformat()) for e in s.scalars(query.limit(limit))
            ],
            write=False,
        )

    def adapters(self) -> list[AdapterRecord]:
        """Every registered adapter, oldest first."""
        return self._run(
            lambda s: [adapter_record(a) for a in s.scalars(select(Adapter).order_by(Adapter.created_at))], write=False
        )

    def adapter(self, name: str) -> AdapterRecord | None:
        """One adapter's record by name (None when there is none)."""
        row = self._run(lambda s: s.scalar(select(Adapter).where(Adapter.name == name)), write=False)
        return adapter_record(row) if row else None

    def ratings(self, *, category: str | None = None, folder: str | os.PathLike | None = None) -> list[RatingRecord]:
        """The latest rating of each image that still exists: what fine-tuning learns from."""
        latest = select(Rating.image_id, func.max(Rating.id).label("rid")).group_by(Rating.image_id).subquery()
        query = (
            select(Rating, Image)
            .select_from(Rating)
            .join(latest, latest.c.rid == Rating.id)
            .join(Image, Image.id == Rating.image_id)
            .where(Image.missing.is_(False))
        )
        if category:
            query = query.where(Image.category == normalise_category(category))
        if folder:
            query = query.where(under(folder))
        return self._run(
            lambda s: [
                RatingRecord(i.path, r.score, r.stars, r.created_at.isoformat(), i.category)
                for r, i in s.execute(query.order_by(Image.id))
            ],
            write=False,
        )


def _critiques(session: Session, evaluation_ids: list[int]) -> dict[int, dict[str, str]]:
    """evaluation id -> {attribute: text}; a later critique of the same attribute wins."""
    if not evaluation_ids:
        return {}
    found: dict[int, dict[str, str]] = {}
    for c in session.scalars(select(Critique).where(Critique.evaluation_id.in_(evaluation_ids)).order_by(Critique.id)):
        found.setdefault(c.evaluation_id, {})[c.attribute] = c.text
    return found


#: The columns of an ``EvaluationRecord`` without the distribution (rankings never read it).
RECORD_COLUMNS = (
    Evaluation.id.label("evaluation_id"),
    Image.path,
    Evaluation.score,
    Evaluation.std,
    Evaluation.model_name.label("model"),
    Evaluation.model_fingerprint.label("fingerprint"),
    Evaluation.adapter,
    Image.category,
    Image.category_source,
    Evaluation.prompt_hash,
    Evaluation.engine_version,
    Evaluation.device,
    Evaluation.dtype,
    Evaluation.created_at,
    Evaluation.current,
    Image.width,
    Image.height,
)


def row_record(r: Any, **extra: Any) -> EvaluationRecord:
    """An ``EvaluationRecord`` from a row (``sqlalchemy.Row``) of ``RECORD_COLUMNS``."""
    data = r._asdict()
    data["created_at"] = data["created_at"].isoformat()
    return EvaluationRecord(**data, **extra)


def evaluation_record(e: Evaluation, i: Image, **extra: Any) -> EvaluationRecord:
    """An ``EvaluationRecord`` from ORM rows (``extra``: distribution, critiques, lower_bound)."""
    return EvaluationRecord(
        evaluation_id=e.id,
        path=i.path,
        score=e.score,
        std=e.std,
        model=e.model_name,
        fingerprint=e.model_fingerprint,
        adapter=e.adapter,
        category=i.category,
        category_source=i.category_source,
        prompt_hash=e.prompt_hash,
        engine_version=e.engine_version,
        device=e.device,
        dtype=e.dtype,
        created_at=e.created_at.isoformat(),
        current=e.current,
        width=i.width,
        height=i.height,
        **extra,
    )


def adapter_record(a: Adapter) -> AdapterRecord:
    """An ``AdapterRecord`` from its ORM row."""
    return AdapterRecord(
        a.name,
        a.path,
        a.base_model,
        a.base_fingerprint,
        a.train_size,
        a.val_size,
        a.metrics,
        a.hyperparameters,
        a.created_at.isoformat(),
    )
