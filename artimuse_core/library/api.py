"""The library API: record scores, critiques, ratings and errors; query, rank and export them.

Every front end (CLI, watcher, ComfyUI) goes through this class; none of them writes SQL.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..categories import normalise_category
from ..config import Config, database_url, load_config
from ..results import Provenance, ScoreResult
from .database import BUSY_TIMEOUT_S, LibraryError, open_engine
from .models import Adapter, Critique, ErrorRecord, Evaluation, Image, Job, Rating, utcnow

STAR_SCORES = "score = stars x 20 - 10: 1 star = 10, 2 = 30, 3 = 50, 4 = 70, 5 = 90 (half stars allowed)"


def stars_to_score(stars: float) -> float:
    """Five equal bins over 0..100, each star at its bin's centre. Documented in STAR_SCORES."""
    if not 0.5 <= stars <= 5:
        raise ValueError("stars must be between 0.5 and 5")
    return stars * 20 - 10


@dataclass(frozen=True)
class FileFacts:
    path: Path
    size: int
    mtime: float
    content_hash: str


def file_facts(path: str | os.PathLike) -> FileFacts:
    """Absolute path, size, mtime and sha256 of a file (read once, in 1 MiB blocks)."""
    path = Path(path).expanduser().absolute()
    stat = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return FileFacts(path, stat.st_size, stat.st_mtime, digest.hexdigest())


def parse_since(text_value: str | None) -> datetime | None:
    """'7d', '12h', '30m', '2w' ago, or an ISO date/time."""
    if not text_value:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text_value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        delta = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount),
                 "w": timedelta(weeks=amount)}[unit]
        return utcnow() - delta
    try:
        return datetime.fromisoformat(text_value)
    except ValueError:
        raise ValueError(f"--since {text_value!r}: use 30m, 12h, 7d, 2w or a date like 2026-11-01") from None


class Library:
    """One database of images, evaluations, critiques, ratings and errors."""

    def __init__(self, url: str | None = None, config: Config | None = None,
                 busy_timeout_s: float = BUSY_TIMEOUT_S):
        self.config = config or load_config()
        self.url = url or database_url(self.config)
        self.busy_timeout_s = busy_timeout_s
        self.engine = open_engine(self.url, busy_timeout_s)
        self._search_fts = self.engine.dialect.name == "sqlite"

    @classmethod
    def at(cls, path: str | os.PathLike, **kwargs) -> Library:
        return cls(f"sqlite:///{Path(path).expanduser()}", **kwargs)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------------------------- sessions
    def _write(self) -> Session:
        return Session(self.engine.execution_options(write=True), expire_on_commit=False)

    def _read(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _run(self, func_, write: bool = True):
        """Run ``func_(session)`` in one transaction; lock timeouts become one clear error."""
        try:
            with (self._write() if write else self._read()) as session, session.begin():
                return func_(session)
        except OperationalError as exc:
            if "locked" in str(exc.orig) or "busy" in str(exc.orig):
                raise LibraryError(f"{self.url}: database is locked by another process for more than "
                                   f"{self.busy_timeout_s:g} s ({exc.orig})") from exc
            raise LibraryError(f"{self.url}: {exc.orig}") from exc

    # ------------------------------------------------------------------------------------- writing
    def find_current(self, facts: FileFacts, fingerprint: str, adapter: str | None) -> dict | None:
        """The stored current evaluation of this exact file content by this model, if any."""
        def query(session):
            row = session.execute(
                select(Evaluation, Image).join(Image).where(
                    Image.path == str(facts.path), Image.content_hash == facts.content_hash,
                    Evaluation.model_fingerprint == fingerprint, Evaluation.current.is_(True),
                    _same_adapter(adapter))
                .order_by(Evaluation.id.desc()).limit(1)).first()
            return dict(_evaluation_row(*row), distribution=row[0].distribution) if row else None
        return self._run(query, write=False)

    def image_category(self, path: Path) -> str | None:
        return self._run(lambda s: s.scalar(select(Image.category).where(Image.path == str(path))), write=False)

    def record_score(self, facts: FileFacts, result: ScoreResult, category: str | None = None,
                     category_source: str | None = None, category_confidence: float | None = None,
                     critiques: dict[str, str] | None = None) -> int:
        """Store one successful score (and its image); returns the evaluation id."""
        return self.record_scores([(facts, result, category, category_source, category_confidence, critiques)])[0]

    def record_scores(self, items: Iterable[tuple], jobs: Iterable[int | None] | None = None) -> list[int]:
        """Store many in one transaction: (facts, result, category, source, confidence, critiques).

        ``jobs`` (aligned with ``items``) are watcher jobs completed in that same transaction, so a crash
        leaves either both the results and the completed jobs, or neither.
        """
        items = list(items)
        job_ids = list(jobs) if jobs is not None else [None] * len(items)

        def write(session):
            ids = []
            for (facts, result, category, source, confidence, critiques), job_id in zip(items, job_ids):
                image = _upsert_image(session, facts, result.width, result.height)
                if category and (source in ("option", "config", "user") or not image.category
                                 or image.category_source == "predicted"):
                    _set_category(session, image, category, source, confidence)
                evaluation = _add_evaluation(session, image, result)
                for attribute, text_value in (critiques or {}).items():
                    session.add(Critique(evaluation=evaluation, attribute=attribute, text=text_value))
                session.flush()
                ids.append(evaluation.id)
                if job_id is not None:
                    _finish_job(session, job_id, "done", evaluation_id=evaluation.id)
            return ids
        return self._run(write)

    def record_critiques(self, evaluation_id: int, critiques: dict[str, str], job_id: int | None = None) -> None:
        def write(session):
            for attribute, text_value in critiques.items():
                session.add(Critique(evaluation_id=evaluation_id, attribute=attribute, text=text_value))
            if job_id is not None:
                _finish_job(session, job_id, "done")
        self._run(write)

    def record_error(self, path: str | os.PathLike, kind: str, message: str, job_id: int | None = None) -> None:
        def write(session):
            session.add(ErrorRecord(path=str(path), kind=kind, message=message))
            if job_id is not None:
                _finish_job(session, job_id, "failed", error=message)
        self._run(write)

    # ------------------------------------------------------------------------------------- job queue
    def enqueue(self, path: str | os.PathLike, size: int, mtime: float, kind: str = "score",
                options: dict | None = None) -> bool:
        """Queue a file unless this exact version (size, mtime) is already scored, queued or failed."""
        absolute = str(path)

        def write(session):
            image = session.scalar(select(Image).where(Image.path == absolute))
            if image is not None and not image.missing and image.size == size and image.mtime == mtime and \
                    session.scalar(select(Evaluation.id).where(Evaluation.image_id == image.id,
                                                               Evaluation.current.is_(True)).limit(1)):
                return False
            seen = session.scalar(select(Job.id).where(Job.path == absolute, Job.kind == kind, Job.size == size,
                                                       Job.mtime == mtime).limit(1))
            if seen:
                return False
            session.add(Job(kind=kind, path=absolute, size=size, mtime=mtime, status="pending", options=options))
            return True
        return self._run(write)

    def pending_jobs(self, kind: str = "score", limit: int = 64) -> list[dict]:
        """Oldest pending jobs first (so after a restart the interrupted ones run before new files)."""
        query = select(Job).where(Job.status == "pending", Job.kind == kind).order_by(Job.id).limit(limit)
        return self._run(lambda s: [{"id": j.id, "path": j.path, "options": j.options or {},
                                     "evaluation_id": j.evaluation_id, "attempts": j.attempts}
                                    for j in s.scalars(query)], write=False)

    def finish_jobs(self, job_ids: Iterable[int], status: str, error: str | None = None) -> None:
        def write(session):
            for job_id in job_ids:
                _finish_job(session, job_id, status, error=error)
        self._run(write)

    def count_attempt(self, job_ids: Iterable[int]) -> None:
        ids = list(job_ids)
        self._run(lambda s: s.execute(update(Job).where(Job.id.in_(ids)).values(attempts=Job.attempts + 1)))

    def queue_length(self) -> dict[str, int]:
        rows = self._run(lambda s: s.execute(select(Job.kind, func.count()).where(Job.status == "pending")
                                             .group_by(Job.kind)).all(), write=False)
        return {kind: count for kind, count in rows}

    def last_processed(self) -> dict | None:
        def read(session):
            job = session.scalar(select(Job).where(Job.status.in_(("done", "failed")))
                                 .order_by(Job.updated_at.desc(), Job.id.desc()).limit(1))
            return {"path": job.path, "status": job.status, "at": job.updated_at.isoformat()} if job else None
        return self._run(read, write=False)

    def known_files(self, folder: str | os.PathLike) -> dict[str, tuple[int, float, bool]]:
        """path -> (size, mtime, missing) of the library's images under ``folder``."""
        query = select(Image.path, Image.size, Image.mtime, Image.missing).where(_under(folder))
        return self._run(lambda s: {p: (size, mtime, missing) for p, size, mtime, missing in s.execute(query)},
                         write=False)

    def move(self, source: str | os.PathLike, destination: str | os.PathLike) -> bool:
        """Follow a rename/move: the image keeps its row and history under its new path."""
        def write(session):
            image = session.scalar(select(Image).where(Image.path == str(source)))
            if image is None or session.scalar(select(Image.id).where(Image.path == str(destination))):
                return False
            image.path = str(destination)
            return True
        return self._run(write)

    def rate(self, path: str | os.PathLike, *, stars: float | None = None, score: float | None = None) -> dict:
        """Record the user's own rating of an image (added to the library if new)."""
        if (stars is None) == (score is None):
            raise ValueError("give either stars (0.5-5) or a score (0-100)")
        if score is not None and not 0 <= score <= 100:
            raise ValueError("score must be between 0 and 100")
        value = stars_to_score(stars) if stars is not None else float(score)
        facts = file_facts(path)

        def write(session):
            image = _upsert_image(session, facts, None, None)
            session.add(Rating(image=image, score=value, stars=stars))
            return {"path": image.path, "score": value, "stars": stars}
        return self._run(write)

    def set_category(self, path: str | os.PathLike, category: str) -> None:
        category = normalise_category(category)
        absolute = _absolute(path)

        def write(session):
            image = session.scalar(select(Image).where(Image.path == absolute))
            if image is None:
                raise LibraryError(f"{absolute}: not in the library")
            _set_category(session, image, category, "user", None)
        self._run(write)

    def mark_missing_under(self, folder: str | os.PathLike) -> int:
        return self._run(lambda s: s.execute(update(Image).where(_under(folder)).values(missing=True)).rowcount)

    def mark_missing(self, path: str | os.PathLike) -> bool:
        absolute = _absolute(path)
        return bool(self._run(lambda s: s.execute(
            update(Image).where(Image.path == absolute).values(missing=True)).rowcount))

    # ------------------------------------------------------------------------------------- queries
    def top(self, *, category: str | None = None, limit: int = 20, since: datetime | None = None,
            min_score: float | None = None, model: str | None = None, folder: str | os.PathLike | None = None,
            rank: str = "mean", k: float = 1.0, include_missing: bool = False) -> list[dict]:
        """Best images by current score (``rank='mean'``) or by the lower bound score - k * std.

        Rows come off the (current, score) index in score order; for the lower bound the scan stops as
        soon as the score itself falls below the limit-th best bound, which no later row can beat.
        """
        conditions = [Evaluation.current.is_(True)]
        if category:
            conditions.append(Evaluation.category == normalise_category(category))
        if since:
            conditions.append(Evaluation.created_at >= since)
        if min_score is not None:
            conditions.append(Evaluation.score >= min_score)
        if model:
            conditions.append(Evaluation.model_name == model)
        if folder:
            conditions.append(_under(folder))
        if not include_missing:
            conditions.append(Image.missing.is_(False))
        query = (select(Evaluation.id, Evaluation.score, Evaluation.std, Evaluation.model_name,
                        Evaluation.adapter, Evaluation.created_at, Image.path, Image.category,
                        Image.category_source, Image.width, Image.height)
                 .join(Image, Image.id == Evaluation.image_id).where(and_(*conditions))
                 .order_by(Evaluation.score.desc()))

        def read(session):
            if rank == "mean":
                return [_top_row(r, k) for r in session.execute(query.limit(limit))]
            best: list[tuple[float, int, dict]] = []
            for r in session.execute(query.execution_options(yield_per=500)):
                if len(best) >= limit and r.score < best[0][0]:
                    break
                row = _top_row(r, k)
                item = (row["lower_bound"], -row["evaluation_id"], row)
                if len(best) < limit:
                    heapq.heappush(best, item)
                elif item > best[0]:
                    heapq.heapreplace(best, item)
            return [item[2] for item in sorted(best, reverse=True)]
        if rank not in ("mean", "lower"):
            raise ValueError("rank must be 'mean' or 'lower'")
        return self._run(read, write=False)

    def history(self, *, limit: int = 50, since: datetime | None = None) -> list[dict]:
        query = select(Evaluation, Image).join(Image).order_by(Evaluation.created_at.desc(), Evaluation.id.desc())
        if since:
            query = query.where(Evaluation.created_at >= since)
        return self._run(lambda s: [_evaluation_row(e, i) for e, i in s.execute(query.limit(limit))], write=False)

    def show(self, path: str | os.PathLike) -> dict:
        """Everything known about one image: evaluations (latest first), distribution, critiques, ratings."""
        absolute = _absolute(path)

        def read(session):
            image = session.scalar(select(Image).where(Image.path == absolute))
            if image is None:
                raise LibraryError(f"{absolute}: not in the library (score it first)")
            evaluations = session.scalars(select(Evaluation).where(Evaluation.image_id == image.id)
                                          .order_by(Evaluation.created_at.desc(), Evaluation.id.desc())).all()
            ids = [e.id for e in evaluations]
            critiques = session.scalars(select(Critique).where(Critique.evaluation_id.in_(ids))
                                        .order_by(Critique.id)).all() if ids else []
            by_evaluation: dict[int, list] = {}
            for c in critiques:
                by_evaluation.setdefault(c.evaluation_id, []).append({"attribute": c.attribute, "text": c.text})
            ratings = session.scalars(select(Rating).where(Rating.image_id == image.id)
                                      .order_by(Rating.created_at.desc())).all()
            return {
                **_image_row(image),
                "evaluations": [dict(_evaluation_row(e, image), distribution=e.distribution,
                                     critiques=by_evaluation.get(e.id, [])) for e in evaluations],
                "ratings": [{"score": r.score, "stars": r.stars, "created_at": r.created_at.isoformat()}
                            for r in ratings],
            }
        return self._run(read, write=False)

    def search(self, text_query: str, *, limit: int = 50) -> list[dict]:
        """Critiques whose text matches (FTS5 on SQLite, words ANDed; LIKE elsewhere)."""
        def read(session):
            if self._search_fts:
                terms = " ".join('"' + word.replace('"', '""') + '"' for word in text_query.split())
                ids = [r[0] for r in session.execute(
                    text("SELECT rowid FROM critiques_fts WHERE critiques_fts MATCH :q ORDER BY rank LIMIT :n"),
                    {"q": terms, "n": limit})]
                condition = Critique.id.in_(ids)
            else:
                condition = Critique.text.ilike(f"%{text_query}%")
            rows = session.execute(select(Critique, Evaluation, Image).select_from(Critique)
                                   .join(Evaluation, Critique.evaluation_id == Evaluation.id)
                                   .join(Image, Image.id == Evaluation.image_id)
                                   .where(condition).limit(limit)).all()
            return [{"path": i.path, "attribute": c.attribute, "text": c.text, "score": e.score,
                     "model": e.model_name} for c, e, i in rows]
        return self._run(read, write=False)

    def stats(self) -> dict:
        def read(session):
            counts = {name: session.scalar(select(func.count()).select_from(model)) for name, model in
                      (("images", Image), ("evaluations", Evaluation), ("critiques", Critique),
                       ("ratings", Rating), ("errors", ErrorRecord))}
            counts["missing_images"] = session.scalar(select(func.count()).where(Image.missing.is_(True)))
            per_category: dict[str, list[float]] = {}
            for category, score in session.execute(
                    select(Image.category, Evaluation.score).join(Image)
                    .where(Evaluation.current.is_(True)).order_by(Evaluation.score)):
                per_category.setdefault(category or "uncategorised", []).append(score)
            return {"counts": counts, "categories": {c: _percentiles(s) for c, s in sorted(per_category.items())}}
        return self._run(read, write=False)

    def export(self, *, current_only: bool = True) -> Iterator[dict]:
        query = select(Evaluation, Image).join(Image).order_by(Evaluation.id)
        if current_only:
            query = query.where(Evaluation.current.is_(True))
        with self._read() as session:
            for evaluation, image in session.execute(query.execution_options(yield_per=1000)):
                yield dict(_evaluation_row(evaluation, image), distribution=evaluation.distribution)

    def errors(self, *, limit: int = 100, since: datetime | None = None) -> list[dict]:
        query = select(ErrorRecord).order_by(ErrorRecord.created_at.desc(), ErrorRecord.id.desc())
        if since:
            query = query.where(ErrorRecord.created_at >= since)
        return self._run(lambda s: [{"path": e.path, "kind": e.kind, "message": e.message,
                                     "created_at": e.created_at.isoformat()}
                                    for e in s.scalars(query.limit(limit))], write=False)

    # ------------------------------------------------------------------------------------- adapters
    def register_adapter(self, **fields) -> None:
        """Add or replace an adapter's record (name, path, base_model, base_fingerprint, sizes, metrics...)."""
        def write(session):
            existing = session.scalar(select(Adapter).where(Adapter.name == fields["name"]))
            if existing is not None:
                session.delete(existing)
                session.flush()
            session.add(Adapter(**fields))
        self._run(write)

    def adapters(self) -> list[dict]:
        return self._run(lambda s: [_adapter_row(a) for a in s.scalars(select(Adapter).order_by(Adapter.created_at))],
                         write=False)

    def adapter(self, name: str) -> dict | None:
        row = self._run(lambda s: s.scalar(select(Adapter).where(Adapter.name == name)), write=False)
        return _adapter_row(row) if row else None

    def remove_adapter(self, name: str) -> bool:
        return bool(self._run(lambda s: s.execute(Adapter.__table__.delete().where(Adapter.name == name)).rowcount))

    def ratings(self, *, category: str | None = None, folder: str | os.PathLike | None = None) -> list[dict]:
        """The latest rating of each image that still exists: what fine-tuning learns from."""
        latest = select(Rating.image_id, func.max(Rating.id).label("rid")).group_by(Rating.image_id).subquery()
        query = (select(Rating, Image).select_from(Rating).join(latest, latest.c.rid == Rating.id)
                 .join(Image, Image.id == Rating.image_id).where(Image.missing.is_(False)))
        if category:
            query = query.where(Image.category == normalise_category(category))
        if folder:
            query = query.where(_under(folder))
        return self._run(lambda s: [{"path": i.path, "score": r.score, "stars": r.stars, "category": i.category}
                                    for r, i in s.execute(query.order_by(Image.id))], write=False)


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
        image = Image(path=str(facts.path), content_hash=facts.content_hash, size=facts.size, mtime=facts.mtime,
                      first_seen=now, last_seen=now)
        session.add(image)
    elif image.content_hash != facts.content_hash:
        # Same path, new content: old scores describe other pixels and no longer rank it.
        session.execute(update(Evaluation).where(Evaluation.image_id == image.id).values(current=False))
        image.content_hash, image.size = facts.content_hash, facts.size
    image.mtime, image.last_seen, image.missing = facts.mtime, now, False
    if width:
        image.width, image.height = width, height
    return image


def _absolute(path: str | os.PathLike) -> str:
    """How the library stores paths: absolute, ~ expanded, symlinks not resolved."""
    return str(Path(path).expanduser().absolute())


def _under(folder: str | os.PathLike):
    """Images whose path lies inside ``folder``."""
    return Image.path.startswith(_absolute(folder).rstrip(os.sep) + os.sep, autoescape=True)


def _same_adapter(adapter: str | None):
    return Evaluation.adapter.is_(None) if adapter is None else Evaluation.adapter == adapter


def _adapter_row(a: Adapter) -> dict:
    return {"name": a.name, "path": a.path, "base_model": a.base_model, "base_fingerprint": a.base_fingerprint,
            "train_size": a.train_size, "val_size": a.val_size, "metrics": a.metrics,
            "hyperparameters": a.hyperparameters, "created_at": a.created_at.isoformat()}


def _finish_job(session: Session, job_id: int, status: str, *, error: str | None = None,
                evaluation_id: int | None = None) -> None:
    job = session.get(Job, job_id)
    if job is None:
        return
    job.status, job.error, job.updated_at = status, error, utcnow()
    if evaluation_id is not None:
        job.evaluation_id = evaluation_id
        attributes = (job.options or {}).get("critique")
        if job.kind == "score" and attributes:  # the critique follows as its own job, durably queued now
            session.add(Job(kind="critique", path=job.path, size=job.size, mtime=job.mtime, status="pending",
                            options={"attributes": attributes,
                                     "max_new_tokens": (job.options or {}).get("max_new_tokens", 512)},
                            evaluation_id=evaluation_id))


def _set_category(session: Session, image: Image, category: str, source: str | None,
                  confidence: float | None) -> None:
    if image.id is not None and image.category != category:
        session.execute(update(Evaluation).where(Evaluation.image_id == image.id).values(category=category))
    image.category, image.category_source, image.category_confidence = category, source, confidence


def _add_evaluation(session: Session, image: Image, result: ScoreResult) -> Evaluation:
    p: Provenance = result.provenance
    if image.id is not None:
        session.execute(update(Evaluation).where(
            Evaluation.image_id == image.id, Evaluation.model_fingerprint == p.fingerprint,
            _same_adapter(p.adapter),
        ).values(current=False))
    evaluation = Evaluation(image=image, model_name=p.model, model_fingerprint=p.fingerprint, adapter=p.adapter,
                            score=result.score, std=result.std, distribution=result.probs,
                            prompt_hash=p.prompt_hash, engine_version=p.engine_version, device=p.device,
                            dtype=p.dtype, current=True, category=image.category)
    session.add(evaluation)
    return evaluation


def _image_row(image: Image) -> dict:
    return {"path": image.path, "content_hash": image.content_hash, "size": image.size, "width": image.width,
            "height": image.height, "category": image.category, "category_source": image.category_source,
            "category_confidence": image.category_confidence, "first_seen": image.first_seen.isoformat(),
            "missing": image.missing}


def _evaluation_row(evaluation: Evaluation, image: Image) -> dict:
    return {"evaluation_id": evaluation.id, "path": image.path, "score": evaluation.score, "std": evaluation.std,
            "model": evaluation.model_name, "fingerprint": evaluation.model_fingerprint,
            "adapter": evaluation.adapter, "category": image.category, "prompt_hash": evaluation.prompt_hash,
            "engine_version": evaluation.engine_version, "device": evaluation.device, "dtype": evaluation.dtype,
            "created_at": evaluation.created_at.isoformat(), "current": evaluation.current}


def _top_row(r, k: float) -> dict:
    return {"evaluation_id": r.id, "path": r.path, "score": r.score, "std": r.std,
            "lower_bound": r.score - k * r.std, "model": r.model_name, "adapter": r.adapter,
            "category": r.category, "category_source": r.category_source, "width": r.width, "height": r.height,
            "created_at": r.created_at.isoformat()}


def _percentiles(sorted_scores: list[float]) -> dict:
    def at(q):
        position = q * (len(sorted_scores) - 1)
        low = int(position)
        high = min(low + 1, len(sorted_scores) - 1)
        return sorted_scores[low] + (sorted_scores[high] - sorted_scores[low]) * (position - low)
    return {"count": len(sorted_scores), "mean": sum(sorted_scores) / len(sorted_scores),
            **{f"p{int(q * 100)}": at(q) for q in (0.1, 0.25, 0.5, 0.75, 0.9)}}
