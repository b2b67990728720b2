"""The watcher's durable job queue: a job is written before its file is processed and completed in the
same transaction as its results, so a killed watcher resumes exactly the unfinished work."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, case, func, insert, select, update

from .records import JobOptions, JobRecord, KnownFile
from .session import LibrarySession, under
from .tables import evaluations, images, jobs, utcnow

#: Job states: pending until its results commit; then done, failed (with the error), gone or passed_over
#: (with the reason).
JOB_STATUSES = ("pending", "done", "failed", "gone", "passed_over")


class Jobs(LibrarySession):
    """The watcher's job queue (part of ``Library``)."""

    def enqueue(
        self,
        path: str | os.PathLike[str],
        size: int,
        mtime: float,
        kind: str = "score",
        options: JobOptions | None = None,
    ) -> bool:
        """Queue a file unless this exact version (size in bytes, mtime) is already scored, queued or failed;
        ``options``: what the job asks for beyond the score (critiques).

        Returns True when a job was added.
        """
        where = str(path)

        def write(conn: Connection) -> bool:
            image = conn.execute(
                select(images.c.id, images.c.size, images.c.mtime, images.c.missing).where(images.c.path == where)
            ).first()
            if image is not None and not image.missing and (image.size, image.mtime) == (size, mtime):
                scored = conn.scalar(
                    select(evaluations.c.id)
                    .where(evaluations.c.image_id == image.id, evaluations.c.current.is_(True))
                    .limit(1)
                )
                if scored:
                    return False
            seen = conn.scalar(
                select(jobs.c.id)
                .where(jobs.c.path == where, jobs.c.kind == kind, jobs.c.size == size, jobs.c.mtime == mtime)
                .limit(1)
            )
            if seen:
                return False
            add_job(conn, kind, where, options=options, size=size, mtime=mtime)
            return True

        return self._run(write)

    def pending_jobs(self, kind: str = "score", limit: int = 64) -> list[JobRecord]:
        """Oldest pending jobs first (so after a restart the interrupted ones run before new files)."""
        query = select(jobs).where(jobs.c.status == "pending", jobs.c.kind == kind).order_by(jobs.c.id).limit(limit)
        return self._run(lambda c: [job_record(j) for j in c.execute(query)], write=False)

    def finish_jobs(self, job_ids: Iterable[int], status: str, error: str | None = None) -> None:
        """Mark jobs done, failed or gone (``error`` says why)."""

        def write(conn: Connection) -> None:
            for job_id in job_ids:
                finish_job(conn, job_id, status, error=error)

        self._run(write)

    def count_attempt(self, job_ids: Iterable[int], by: int = 1, error: str | None = None) -> None:
        """One more try of these jobs (``by=-1`` gives back a try that was interrupted on purpose);
        ``error`` keeps why the last try failed, for the message when the watcher gives up on a job."""
        ids = list(job_ids)
        # Never below 0 (CASE, not SQLite's two-argument max(): PostgreSQL spells that GREATEST).
        values: dict[str, Any] = {"attempts": case((jobs.c.attempts + by < 0, 0), else_=jobs.c.attempts + by)}
        if error is not None:
            values["error"] = error
        self._run(lambda c: c.execute(update(jobs).where(jobs.c.id.in_(ids)).values(**values)))

    def queue_length(self) -> dict[str, int]:
        """Pending jobs per kind: {"score": n, "critique": m} (kinds with none are absent)."""
        query = select(jobs.c.kind, func.count()).where(jobs.c.status == "pending").group_by(jobs.c.kind)
        return self._run(lambda c: {kind: count for kind, count in c.execute(query)}, write=False)

    def last_processed(self) -> JobRecord | None:
        """The job that finished last (done, failed, gone or passed over), if any."""
        query = (
            select(jobs)
            .where(jobs.c.status.in_(JOB_STATUSES[1:]))
            .order_by(jobs.c.updated_at.desc(), jobs.c.id.desc())
            .limit(1)
        )

        def read(conn: Connection) -> JobRecord | None:
            row = conn.execute(query).first()
            return job_record(row) if row else None

        return self._run(read, write=False)

    def known_files(self, folder: str | os.PathLike[str]) -> dict[str, KnownFile]:
        """path -> what the library last saw of each of its images under ``folder``."""
        query = select(images.c.path, images.c.size, images.c.mtime, images.c.missing).where(under(folder))
        return self._run(
            lambda c: {p: KnownFile(size, mtime, bool(missing)) for p, size, mtime, missing in c.execute(query)},
            write=False,
        )


def finish_job(
    conn: Connection, job_id: int, status: str, *, error: str | None = None, evaluation_id: int | None = None
) -> None:
    """Complete one job inside the caller's transaction (nothing happens when it no longer exists)."""
    values: dict[str, Any] = {"status": status, "error": error, "updated_at": utcnow()}
    if evaluation_id is not None:
        values["evaluation_id"] = evaluation_id
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def add_job(
    conn: Connection,
    kind: str,
    path: str,
    *,
    options: JobOptions | None,
    evaluation_id: int | None = None,
    size: int | None = None,
    mtime: float | None = None,
) -> None:
    """Queue a job inside the caller's transaction: a file's (``size``, ``mtime``: the version seen), or a
    follow-up of a stored evaluation (``evaluation_id``: a critique of it)."""
    conn.execute(
        insert(jobs).values(
            kind=kind,
            path=path,
            size=size,
            mtime=mtime,
            status="pending",
            options=options.to_json() if options is not None else None,
            evaluation_id=evaluation_id,
        )
    )


def job_record(row: Any) -> JobRecord:
    """A ``JobRecord`` from a row of the jobs table."""
    return JobRecord(
        id=row.id,
        kind=row.kind,
        path=row.path,
        status=row.status,
        options=JobOptions.from_json(row.options),
        evaluation_id=row.evaluation_id,
        attempts=row.attempts,
        updated_at=row.updated_at.isoformat(),
        error=row.error,
    )
