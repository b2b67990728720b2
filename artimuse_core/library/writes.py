"""Recording: scores (with their image, category and critiques), critiques, errors, categories, moves and
deletions, adapters (the user's ratings: ``decisions``). Only the library door (``ingest``) and the user's own
actions (``categorize``) call these; front ends never write rows themselves."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from ..categories import CategorySource, normalise_category
from ..errors import LibraryError
from ..families import PRIMARY_DIMENSION
from ..paths import display_path, path_key
from ..results import ScoreResult
from .jobs import add_job, finish_job
from .records import FileFacts, JobOptions, ScoredFile
from .session import LibrarySession, same_adapter, under
from .stack_index import join_stack
from .tables import adapters, critiques, errors, evaluations, images, utcnow

#: Category sources that replace whatever the image had; "predicted" only fills an empty or predicted one.
AUTHORITATIVE_SOURCES: tuple[CategorySource, ...] = ("option", "config", "user")


class Writes(LibrarySession):
    """Recording (part of ``Library``): every write is one transaction."""

    def record_scores(self, items: Iterable[ScoredFile]) -> list[int]:
        """Store many scores in one transaction; returns their evaluation ids, in order.

        Each item's critiques (``result.critiques``) are stored with its evaluation; its watcher job (if any)
        completes, its follow-up job (if any) is queued and it joins its stack (with its ``perceptual_hash``)
        in that same transaction, so a crash leaves either all of them or none.
        """
        items = list(items)

        def write(conn: Connection) -> list[int]:
            ids = []
            for item in items:
                result = item.result
                image = upsert_image(conn, item.facts, result.width, result.height, item.captured_at)
                if item.category and (
                    item.category_source in AUTHORITATIVE_SOURCES
                    or not image["category"]
                    or image["category_source"] == "predicted"
                ):
                    _set_category(conn, image, item.category, item.category_source, item.category_confidence)
                evaluation_id = _add_evaluation(conn, image, result)
                _add_critiques(conn, evaluation_id, result.critiques)
                _resolve_errors(conn, [image["path"]])
                if item.perceptual_hash is not None:  # its stack, in the score's own transaction
                    taken = item.captured_at if item.captured_at is not None else image.get("captured_at")
                    join_stack(conn, image["id"], item.perceptual_hash, taken, self.config.stack_settings())
                ids.append(evaluation_id)
                if item.job_id is not None:
                    finish_job(conn, item.job_id, "done", evaluation_id=evaluation_id)
                if item.follow_up is not None:
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

    def queue_follow_up(self, path: str, evaluation_id: int, options: JobOptions, job_id: int | None = None) -> None:
        """Queue a critique job for a stored evaluation; completes ``job_id`` in the same transaction."""

        def write(conn: Connection) -> None:
            add_job(conn, "critique", path, options=options, evaluation_id=evaluation_id)
            if job_id is not None:
                finish_job(conn, job_id, "done", evaluation_id=evaluation_id)

        self._run(write)

    def record_error(
        self, path: str | os.PathLike, kind: str, message: str, job_id: int | None = None, status: str = "failed"
    ) -> None:
        """Record why a file could not be scored (under its absolute path, ``paths.path_key``, like every
        other row); ends ``job_id`` with ``status`` (failed or gone). The error stays open until the same
        file succeeds (``record_scores``, ``resolve_errors``)."""

        def write(conn: Connection) -> None:
            conn.execute(insert(errors).values(path=path_key(path), kind=kind, message=message))
            if job_id is not None:
                finish_job(conn, job_id, status, error=message)

        self._run(write)

    def resolve_errors(self, paths: Iterable[str | os.PathLike]) -> int:
        """Close the open errors of these files (they have just succeeded, e.g. a slow copy that failed as
        truncated and is now complete); returns how many were closed. ``record_scores``
        does this itself; the watcher calls it for a file it finds cached."""
        where = [path_key(p) for p in paths]
        open_ = select(errors.c.id).where(errors.c.resolved_at.is_(None), errors.c.path.in_(where)).limit(1)
        if not where or self._run(lambda c: c.scalar(open_), write=False) is None:
            return 0  # the usual case: a read, no write lock
        return self._run(lambda c: _resolve_errors(c, where))

    def set_category(self, path: str | os.PathLike, category: str, source: CategorySource = "user") -> str:
        """Set an image's category by hand (source ``user``: it then wins over predictions) or by an explicit
        option (``option``); returns its id.

        Raises:
            InvalidValue: not a category.
            LibraryError: the image is not in the library.
        """
        category = normalise_category(category)
        where = path_key(path)

        def write(conn: Connection) -> None:
            image = conn.execute(select(images).where(images.c.path == where)).mappings().first()
            if image is None:
                raise LibraryError(f"{display_path(where)}: not in the library (score it first)")
            _set_category(conn, dict(image), category, source, None)

        self._run(write)
        return category

    def set_categories(self, paths: Iterable[str | os.PathLike], category: str) -> list[tuple[str, str]]:
        """Set the category (source ``user``) of many images at once: each path a file in the library or a
        folder (every image under it), in one transaction; returns (path, category) per image changed.

        Raises:
            InvalidValue: not a category.
            LibraryError: a path that is neither an image in the library nor a folder holding some (nothing
                is changed then).
        """
        category = normalise_category(category)
        given = list(paths)

        def write(conn: Connection) -> list[tuple[str, str]]:
            found: dict[int, dict[str, Any]] = {}
            unknown = []
            for path in given:
                if os.path.isdir(path):
                    rows = conn.execute(select(images).where(under(path))).mappings().all()
                else:
                    rows = conn.execute(select(images).where(images.c.path == path_key(path))).mappings().all()
                if not rows:
                    unknown.append(display_path(path))
                found.update((row["id"], dict(row)) for row in rows)
            if unknown:
                raise LibraryError(f"not in the library (score them first): {', '.join(unknown)}")
            for image in found.values():
                _set_category(conn, image, category, "user", None)
            return [(image["path"], category) for image in found.values()]

        return self._run(write)

    def register_adapter(self, **fields: Any) -> None:
        """Add or replace an adapter's record (name, path, base_model, base_fingerprint, sizes, metrics...)."""

        def write(conn: Connection) -> None:
            conn.execute(delete(adapters).where(adapters.c.name == fields["name"]))
            conn.execute(insert(adapters).values(**fields))

        self._run(write)

    def remove_adapter(self, name: str) -> bool:
        """Forget an adapter's record (its files are the caller's); False when there was none."""
        return self._run(lambda c: c.execute(delete(adapters).where(adapters.c.name == name)).rowcount > 0)


def _resolve_errors(conn: Connection, paths: list[str]) -> int:
    """Mark the open errors of these (absolute) paths resolved now."""
    query = update(errors).where(errors.c.resolved_at.is_(None), errors.c.path.in_(paths)).values(resolved_at=utcnow())
    return conn.execute(query).rowcount


def upsert_image(
    conn: Connection, facts: FileFacts, width: int | None, height: int | None, captured_at: float | None = None
) -> dict[str, Any]:
    """The image row for this file (as a dict); a file moved or renamed keeps its row (and history) by
    content hash; new content at the same path retires the old scores. ``captured_at`` (EXIF) is kept when
    given."""
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
    if captured_at is not None:
        values["captured_at"] = captured_at
    conn.execute(update(images).where(images.c.id == row["id"]).values(**values))
    row.update(values)
    return row


def _set_category(
    conn: Connection, image: dict[str, Any], category: str, source: CategorySource | None, confidence: float | None
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
        rows = [(PRIMARY_DIMENSION, result.score, result.std, result.distribution)]
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
