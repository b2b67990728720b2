"""Recording: scores (with their image, category and critiques), critiques, errors, ratings, categories,
moves and deletions, adapters. Only the library door (``ingest``) and the user's own actions (``rate``,
``categorize``) call these; front ends never write rows themselves."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, delete, insert, select, update
from sqlalchemy.orm import Session

from ..categories import normalise_category
from ..errors import InvalidValue, LibraryError
from ..results import ScoreResult
from .jobs import add_job, finish_job
from .models import Adapter, Critique, ErrorRecord, Evaluation, Image, Rating, utcnow
from .records import FileFacts, RatingRecord, ScoredFile, file_facts, stars_to_score
from .session import LibrarySession, absolute, same_adapter, under

#: Category sources that replace whatever the image had; "predicted" only fills an empty or predicted one.
AUTHORITATIVE_SOURCES = ("option", "config", "user")


class Writes(LibrarySession):
    """Recording (part of ``Library``): every write is one transaction."""

    def record_scores(self, items: Iterable[ScoredFile]) -> list[int]:
        """Store many scores in one transaction; returns their evaluation ids, in order.

        Each item's critiques (``result.critiques``) are stored with its evaluation; its watcher job (if any)
        completes and its follow-up job (if any) is queued in that same transaction, so a crash leaves
        either all of them or none.
        """
        items = list(items)

        def write(session: Session) -> list[int]:
            ids = []
            for item in items:
                result = item.result
                image = _upsert_image(session, item.facts, result.width, result.height)
                if item.category and (
                    item.category_source in AUTHORITATIVE_SOURCES
                    or not image.category
                    or image.category_source == "predicted"
                ):
                    _set_category(session, image, item.category, item.category_source, item.category_confidence)
                evaluation = _add_evaluation(session, image, result)
                for attribute, text_value in result.critiques.items():
                    session.add(Critique(evaluation=evaluation, attribute=attribute, text=text_value))
                session.flush()
                ids.append(evaluation.id)
                if item.job_id is not None:
                    finish_job(session, item.job_id, "done", evaluation_id=evaluation.id)
                if item.follow_up:
                    add_job(
                        session,
                        "critique",
                        image.path,
                        options=item.follow_up,
                        evaluation_id=evaluation.id,
                        size=item.facts.size,
                        mtime=item.facts.mtime,
                    )
            return ids

        return self._run(write)

    def record_critiques(self, evaluation_id: int, critiques: dict[str, str], job_id: int | None = None) -> None:
        """Attach critiques (attribute -> text) to a stored evaluation; completes ``job_id`` with them."""

        def write(session: Session) -> None:
            if critiques:  # one multi-row INSERT (the FTS5 trigger indexes each row)
                session.execute(
                    insert(Critique),
                    [
                        {"evaluation_id": evaluation_id, "attribute": a, "text": t, "created_at": utcnow()}
                        for a, t in critiques.items()
                    ],
                )
            if job_id is not None:
                finish_job(session, job_id, "done")

        self._run(write)

    def queue_follow_up(
        self, path: str, evaluation_id: int, options: dict[str, Any], job_id: int | None = None
    ) -> None:
        """Queue a critique job for a stored evaluation; completes ``job_id`` in the same transaction."""

        def write(session: Session) -> None:
            add_job(session, "critique", path, options=options, evaluation_id=evaluation_id)
            if job_id is not None:
                finish_job(session, job_id, "done", evaluation_id=evaluation_id)

        self._run(write)

    def record_error(
        self, path: str | os.PathLike, kind: str, message: str, job_id: int | None = None, status: str = "failed"
    ) -> None:
        """Record why a file could not be scored; ends ``job_id`` with ``status`` (failed or gone)."""

        def write(session: Session) -> None:
            session.add(ErrorRecord(path=str(path), kind=kind, message=message))
            if job_id is not None:
                finish_job(session, job_id, status, error=message)

        self._run(write)

    def rate(self, path: str | os.PathLike, *, stars: float | None = None, score: float | None = None) -> RatingRecord:
        """Record the user's own rating of an image (added to the library if new).

        Raises:
            InvalidValue: neither or both of stars and score, or a value out of range.
            OSError: the file cannot be read.
        """
        if (stars is None) == (score is None):
            raise InvalidValue("give either stars (0.5-5) or a score (0-100)")
        if score is not None and not 0 <= score <= 100:
            raise InvalidValue(f"score must be between 0 and 100, not {score:g}")
        value = stars_to_score(stars) if stars is not None else float(score)  # type: ignore[arg-type]
        facts = file_facts(path)

        def write(session: Session) -> RatingRecord:
            image = _upsert_image(session, facts, None, None)
            session.add(Rating(image=image, score=value, stars=stars, created_at=utcnow()))
            return RatingRecord(
                path=image.path, score=value, stars=stars, created_at=utcnow().isoformat(), category=image.category
            )

        return self._run(write)

    def set_category(self, path: str | os.PathLike, category: str) -> str:
        """Set an image's category by hand (source ``user``: it then wins over predictions); returns its id.

        Raises:
            InvalidValue: not a category.
            LibraryError: the image is not in the library.
        """
        category = normalise_category(category)
        where = absolute(path)

        def write(session: Session) -> None:
            image = session.scalar(select(Image).where(Image.path == where))
            if image is None:
                raise LibraryError(f"{where}: not in the library")
            _set_category(session, image, category, "user", None)

        self._run(write)
        return category

    def move(self, source: str | os.PathLike, destination: str | os.PathLike) -> bool:
        """Follow a rename/move: the image keeps its row and history under its new path."""

        def write(session: Session) -> bool:
            image = session.scalar(select(Image).where(Image.path == str(source)))
            if image is None or session.scalar(select(Image.id).where(Image.path == str(destination))):
                return False
            image.path = str(destination)
            return True

        return self._run(write)

    def mark_missing_under(self, folder: str | os.PathLike) -> int:
        """Mark every image under ``folder`` missing (it leaves the rankings; history stays)."""
        return self._run(lambda s: _count(s.execute(update(Image).where(under(folder)).values(missing=True))))

    def mark_missing(self, path: str | os.PathLike) -> bool:
        """Mark one image missing (deleted, or moved out of view); False when it is not in the library."""
        where = absolute(path)
        return bool(
            self._run(lambda s: _count(s.execute(update(Image).where(Image.path == where).values(missing=True))))
        )

    def register_adapter(self, **fields: Any) -> None:
        """Add or replace an adapter's record (name, path, base_model, base_fingerprint, sizes, metrics...)."""

        def write(session: Session) -> None:
            existing = session.scalar(select(Adapter).where(Adapter.name == fields["name"]))
            if existing is not None:
                session.delete(existing)
                session.flush()
            session.add(Adapter(**fields))

        self._run(write)

    def remove_adapter(self, name: str) -> bool:
        """Forget an adapter's record (its files are the caller's); False when there was none."""
        return bool(self._run(lambda s: _count(s.execute(delete(Adapter).where(Adapter.name == name)))))


def _count(result: Any) -> int:
    """Rows an UPDATE or DELETE touched."""
    return cast(CursorResult[Any], result).rowcount


def _upsert_image(session: Session, facts: FileFacts, width: int | None, height: int | None) -> Image:
    """The image row for this file; a file moved or renamed keeps its row (and history) by content hash."""
    now = utcnow()
    image = session.scalar(select(Image).where(Image.path == str(facts.path)))
    if image is None:
        for candidate in session.scalars(select(Image).where(Image.content_hash == facts.content_hash)):
            if candidate.missing or not Path(candidate.path).exists():
                image = candidate
                image.path = str(facts.path)
                break
    if image is None:
        image = Image(
            path=str(facts.path),
            content_hash=facts.content_hash,
            size=facts.size,
            mtime=facts.mtime,
            first_seen=now,
            last_seen=now,
        )
        session.add(image)
    elif image.content_hash != facts.content_hash:
        # Same path, new content: old scores describe other pixels and no longer rank it.
        session.execute(update(Evaluation).where(Evaluation.image_id == image.id).values(current=False))
        image.content_hash, image.size = facts.content_hash, facts.size
    image.mtime, image.last_seen, image.missing = facts.mtime, now, False
    if width:
        image.width, image.height = width, height
    return image


def _set_category(session: Session, image: Image, category: str, source: str | None, confidence: float | None) -> None:
    if image.id is not None and image.category != category:
        session.execute(update(Evaluation).where(Evaluation.image_id == image.id).values(category=category))
    image.category, image.category_source, image.category_confidence = category, source, confidence


def _add_evaluation(session: Session, image: Image, result: ScoreResult) -> Evaluation:
    p = result.provenance
    if p is None or result.score is None or result.std is None:
        raise ValueError(f"{result.path}: only a scored result with its provenance can be stored")
    if image.id is not None:
        session.execute(
            update(Evaluation)
            .where(
                Evaluation.image_id == image.id,
                Evaluation.model_fingerprint == p.fingerprint,
                same_adapter(p.adapter),
            )
            .values(current=False)
        )
    evaluation = Evaluation(
        image=image,
        model_name=p.model,
        model_fingerprint=p.fingerprint,
        adapter=p.adapter,
        score=result.score,
        std=result.std,
        distribution=result.distribution,
        prompt_hash=p.prompt_hash,
        engine_version=p.engine_version,
        device=p.device,
        dtype=p.dtype,
        current=True,
        category=image.category,
    )
    session.add(evaluation)
    return evaluation
