"""The watcher's durable job queue: a job is written before its file is processed and completed in the
same transaction as its results, so a killed watcher resumes exactly the unfinished work."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .models import Evaluation, Image, Job, utcnow
from .records import JobRecord, KnownFile
from .session import LibrarySession, under

#: Job states: pending until its results commit; then done, failed (with the error) or gone.
JOB_STATUSES = ("pending", "done", "failed", "gone")


class Jobs(LibrarySession):
    """The watcher's job queue (part of ``Library``)."""

    def enqueue(
        self,
        path: str | os.PathLike,
        size: int,
        mtime: float,
        kind: str = "score",
        options: dict[str, Any] | None = None,
    ) -> bool:
        """Queue a file unless this exact version (size in bytes, mtime) is already scored, queued or failed.

        Returns True when a job was added.
        """
        absolute = str(path)

        def write(session: Session) -> bool:
            image = session.scalar(select(Image).where(Image.path == absolute))
            if (
                image is not None
                and not image.missing
                and image.size == size
                and image.mtime == mtime
                and session.scalar(
                    select(Evaluation.id).where(Evaluation.image_id == image.id, Evaluation.current.is_(True)).limit(1)
                )
            ):
                return False
            seen = session.scalar(
                select(Job.id)
                .where(Job.path == absolute, Job.kind == kind, Job.size == size, Job.mtime == mtime)
                .limit(1)
            )
            if seen:
                return False
            session.add(Job(kind=kind, path=absolute, size=size, mtime=mtime, status="pending", options=options))
            return True

        return self._run(write)

    def pending_jobs(self, kind: str = "score", limit: int = 64) -> list[JobRecord]:
        """Oldest pending jobs first (so after a restart the interrupted ones run before new files)."""
        query = select(Job).where(Job.status == "pending", Job.kind == kind).order_by(Job.id).limit(limit)
        return self._run(lambda s: [job_record(j) for j in s.scalars(query)], write=False)

    def finish_jobs(self, job_ids: Iterable[int], status: str, error: str | None = None) -> None:
        """Mark jobs done, failed or gone (``error`` says why)."""

        def write(session: Session) -> None:
            for job_id in job_ids:
                finish_job(session, job_id, status, error=error)

        self._run(write)

    def count_attempt(self, job_ids: Iterable[int]) -> None:
        """One more try of these jobs."""
        ids = list(job_ids)
        self._run(lambda s: s.execute(update(Job).where(Job.id.in_(ids)).values(attempts=Job.attempts + 1)))

    def queue_length(self) -> dict[str, int]:
        """Pending jobs per kind: {"score": n, "critique": m} (kinds with none are absent)."""
        rows = self._run(
            lambda s: s.execute(select(Job.kind, func.count()).where(Job.status == "pending").group_by(Job.kind)).all(),
            write=False,
        )
        return {kind: count for kind, count in rows}

    def last_processed(self) -> JobRecord | None:
        """The job that finished last (done or failed), if any."""

        def read(session: Session) -> JobRecord | None:
            job = session.scalar(
                select(Job)
                .where(Job.status.in_(("done", "failed")))
                .order_by(Job.updated_at.desc(), Job.id.desc())
                .limit(1)
            )
            return job_record(job) if job else None

        return self._run(read, write=False)

    def known_files(self, folder: str | os.PathLike) -> dict[str, KnownFile]:
        """path -> what the library last saw of each of its images under ``folder``."""
        query = select(Image.path, Image.size, Image.mtime, Image.missing).where(under(folder))
        return self._run(
            lambda s: {p: KnownFile(size, mtime, bool(missing)) for p, size, mtime, missing in s.execute(query)},
            write=False,
        )


def finish_job(
    session: Session, job_id: int, status: str, *, error: str | None = None, evaluation_id: int | None = None
) -> Job | None:
    """Complete one job inside the caller's transaction; returns it (None when it no longer exists)."""
    job = session.get(Job, job_id)
    if job is None:
        return None
    job.status, job.error, job.updated_at = status, error, utcnow()
    if evaluation_id is not None:
        job.evaluation_id = evaluation_id
    return job


def add_job(
    session: Session,
    kind: str,
    path: str,
    *,
    options: dict[str, Any],
    evaluation_id: int,
    size: int | None = None,
    mtime: float | None = None,
) -> None:
    """Queue a follow-up job (a critique of a stored evaluation) inside the caller's transaction."""
    session.add(
        Job(
            kind=kind, path=path, size=size, mtime=mtime, status="pending", options=options, evaluation_id=evaluation_id
        )
    )


def job_record(job: Job) -> JobRecord:
    """A ``JobRecord`` from its ORM row."""
    return JobRecord(
        id=job.id,
        kind=job.kind,
        path=job.path,
        status=job.status,
        options=job.options or {},
        evaluation_id=job.evaluation_id,
        attempts=job.attempts,
        updated_at=job.updated_at.isoformat(),
        error=job.error,
    )
