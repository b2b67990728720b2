"""Recording: scores (with their image, category and critiques), critiques, errors, ratings, categories,
moves and deletions, adapters. Only the library door (``ingest``) and the user's own actions (``rate``,
``categorize``) call these; front ends never write rows themselves."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from ..categories import normalise_category
from ..errors import InvalidValue, LibraryError
from ..results import ScoreResult
from .jobs import add_job, finish_job
from .records import FileFacts, RatingRecord, ScoredFile, file_facts, stars_to_score
from .session import LibrarySession, absolute, same_adapter, under
from .tables import adapters, critiques, errors, evaluations, images, ratings, utcnow

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

        def write(conn: Connection) -> list[int]:
            ids = []
            for item in items:
                result = item.result
                image = _upsert_image(conn, item.facts, result.width, result.height)
                if item.category and (
                    item.category_source in AUTHORITATIVE_SOURCES
                    or not image["category"]
                    or image["category_source"] == "predicted"
                ):
                    _set_category(conn, image, item.category, item.category_source, item.category_confidence)
                evaluation_id = _add_evaluation(conn, image, result)
                _add_critiques(conn, evaluation_id, result.critiques)
                ids.append(evaluation_id)
                if item.job_id is not None:
                    finish_job(conn, item.job_id, "done", evaluation_id=evaluation_id)
                if item.follow_up:
                    add_job(
                        conn,
                        "critique",
                        image["path"],
                        options=item.follow_up,
                        evaluation_id=evaluation_id,
                        size=item.facts.size,
                        mtime=item.facts.mtime,
                    )
            return ids

        return self._run(write)

    def record_critiques(self, evaluation_id: int, texts: dict[str, str], job_id: int | None = None) -> None:
        """Attach critiques (attribute -> text) to a stored evaluation; completes ``job_id`` with them."""

        def write(conn: Connection) -> None:
            _add_critiques(conn, evaluation_id, texts)
            if job_id is not None:
                finish_job(conn, job_id, "done")

        self._run(write)

    def queue_follow_up(
        self, path: str, evaluation_id: int, options: dict[str, Any], job_id: int | None = None
    ) -> None:
        """Queue a critique job for a stored evaluation; completes ``job_id`` in the same transaction."""

        def write(conn: Connection) -> None:
            add_job(conn, "critique", path, options=options, evaluation_id=evaluation_id)
            if job_id is not None:
                finish_job(conn, job_id, "done", evaluation_id=evaluation_id)

        self._run(write)

    def record_error(
        self, path: str | os.PathLike, kind: str, message: str, job_id: int | None = None, status: str = "failed"
    ) -> None:
        """Record why a file could not be scored; ends ``job_id`` with ``status`` (failed or gone)."""

        def write(conn: Connection) -> None:
            conn.execute(insert(errors).values(path=str(path), kind=kind, message=message))
            if job_id is not None:
                finish_job(conn, job_id, status, error=message)

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
        now = utcnow()

        def write(conn: Connection) -> RatingRecord:
            image = _upsert_image(conn, facts, None, None)
            conn.execute(insert(ratings).values(image_id=image["id"], score=value, stars=stars, created_at=now))
            return RatingRecord(image["path"], value, stars, now.isoformat(), image["category"])

        return self._run(write)

    def set_category(self, path: str | os.PathLike, category: str) -> str:
        """Set an image's category by hand (source ``user``: it then wins over predictions); returns its id.

        Raises:
            InvalidValue: not a category.
            LibraryError: the image is not in the library.
        """
        category = normalise_category(category)
        where = absolute(path)

        def write(conn: Connection) -> None:
            image = conn.execute(select(images).where(images.c.path == where)).mappings().first()
            if image is None:
                raise LibraryError(f"{where}: not in the library")
            _set_category(conn, dict(image), category, "user", None)

        self._run(write)
        return category

    def move(self, source: str | os.PathLike, destination: str | os.PathLike) -> bool:
        """Follow a rename/move: the image keeps its row and history under its new path."""

        def write(conn: Connection) -> bool:
            taken = conn.scalar(select(images.c.id).where(images.c.path == str(destination)))
            if taken:
                return False
            return (
                conn.execute(update(images).where(images.c.path == str(source)).values(path=str(destination))).rowcount
                > 0
            )

        return self._run(write)

    def mark_missing_under(self, folder: str | os.PathLike) -> int:
        """Mark every image under ``folder`` missing (it leaves the rankings; history stays)."""
        return self._run(lambda c: c.execute(update(images).where(under(folder)).values(missing=True)).rowcount)

    def mark_missing(self, path: str | os.PathLike) -> bool:
        """Mark one image missing (deleted, or moved out of view); False when it is not in the library."""
        where = absolute(path)
        return self._run(
            lambda c: c.execute(update(images).where(images.c.path == where).values(missing=True)).rowcount > 0
        )

    def register_adapter(self, **fields: Any) -> None:
        """Add or replace an adapter's record (name, path, base_model, base_fingerprint, sizes, metrics...)."""

        def write(conn: Connection) -> None:
            conn.execute(delete(adapters).where(adapters.c.name == fields["name"]))
            conn.execute(insert(adapters).values(**fields))

        self._run(write)

    def remove_adapter(self, name: str) -> bool:
        """Forget an adapter's record (its files are the caller's); False when there was none."""
        return self._run(lambda c: c.execute(delete(adapters).where(adapters.c.name == name)).rowcount > 0)


def _upsert_image(conn: Connection, facts: FileFacts, width: int | None, height: int | None) -> dict[str, Any]:
    """The image row for this file (as a dict); a file moved or renamed keeps its row (and history) by
    content hash; new content at the same path retires the old scores."""
    now = utcnow()
    image = conn.execute(select(images).where(images.c.path == str(facts.path))).mappings().first()
    if image is None:
        for candidate in conn.execute(select(images).where(images.c.content_hash == facts.content_hash)).mappings():
            if candidate["missing"] or not Path(candidate["path"]).exists():
                image = candidate
                break
    if image is None:
        new = conn.execute(
            insert(images).values(
                path=str(facts.path),
                content_hash=facts.content_hash,
                size=facts.size,
                mtime=facts.mtime,
                first_seen=now,
                last_seen=now,
            )
        )
        row: dict[str, Any] = {"id": _new_id(new), "category": None, "category_source": None}
    else:
        row = dict(image)
        if row["content_hash"] != facts.content_hash:
            # Same path, new content: old scores describe other pixels and no longer rank it.
            conn.execute(update(evaluations).where(evaluations.c.image_id == row["id"]).values(current=False))
    values: dict[str, Any] = {
        "path": str(facts.path),
        "content_hash": facts.content_hash,
        "size": facts.size,
        "mtime": facts.mtime,
        "last_seen": now,
        "missing": False,
    }
    if width:
        values.update(width=width, height=height)
    conn.execute(update(images).where(images.c.id == row["id"]).values(**values))
    row.update(values)
    return row


def _set_category(
    conn: Connection, image: dict[str, Any], category: str, source: str | None, confidence: float | None
) -> None:
    if image["category"] != category:
        conn.execute(update(evaluations).where(evaluations.c.image_id == image["id"]).values(category=category))
    conn.execute(
        update(images)
        .where(images.c.id == image["id"])
        .values(category=category, category_source=source, category_confidence=confidence)
    )
    image.update(category=category, category_source=source, category_confidence=confidence)


def _add_evaluation(conn: Connection, image: dict[str, Any], result: ScoreResult) -> int:
    """One row per dimension of ``result`` (the primary one first; a result without ``scores`` is ``iaa``),
    each retiring the earlier current row of its dimension; returns the primary row's id (critiques and jobs
    point at it)."""
    p = result.provenance
    if p is None or result.score is None or result.std is None:
        raise ValueError(f"{result.path}: only a scored result with its provenance can be stored")
    rows = [(d, result.scores[d], result.stds.get(d, result.std), result.distributions.get(d)) for d in result.scores]
    if not rows:
        rows = [("iaa", result.score, result.std, result.distribution)]
    ids = []
    for dimension, score, std, distribution in rows:
        conn.execute(
            update(evaluations)
            .where(
                evaluations.c.image_id == image["id"],
                evaluations.c.model_fingerprint == p.fingerprint,
                evaluations.c.dimension == dimension,
                same_adapter(p.adapter),
            )
            .values(current=False)
        )
        new = conn.execute(
            insert(evaluations).values(
                image_id=image["id"],
                model_name=p.model,
                model_fingerprint=p.fingerprint,
                adapter=p.adapter,
                dimension=dimension,
                score=score,
                std=std,
                distribution=distribution if distribution is not None else result.distribution,
                prompt_hash=p.prompt_hash,
                engine_version=p.engine_version,
                device=p.device,
                dtype=p.dtype,
                current=True,
                category=image["category"],
            )
        )
        ids.append(_new_id(new))
    return ids[0]


def _new_id(result: Any) -> int:
    """The primary key of the row an INSERT just made."""
    return int(result.inserted_primary_key[0])


def _add_critiques(conn: Connection, evaluation_id: int, texts: dict[str, str]) -> None:
    """One multi-row INSERT (the FTS5 trigger indexes each row)."""
    if texts:
        now = utcnow()
        conn.execute(
            insert(critiques),
            [{"evaluation_id": evaluation_id, "attribute": a, "text": t, "created_at": now} for a, t in texts.items()],
        )
