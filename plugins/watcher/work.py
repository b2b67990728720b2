"""The worker: the only thread that runs the model. It takes pending jobs from the library's durable queue,
scores them through the library door in batches, then writes queued critiques.

Poison jobs: every try is counted in ``jobs.attempts`` before it runs, so even a try that
kills the process counts. A job tried before (attempts > 0) runs alone, never in a batch with good files; a
try that raises waits ``retry_after_s * 2**(attempts - 1)`` seconds (at most ``RETRY_CAP_S``); after
``MAX_ATTEMPTS`` tries the job is recorded as failed (``artimuse errors``, kind ``internal``) with its last
error. A failing database is not the job's fault: its try is given back and the worker backs off.

The worker sees the watcher's shared state (``context.WatchContext``) and one check of the daemon's,
``check_threads`` (raises when the settler thread died); nothing else of the ``Watcher``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from artimuse_core import LibraryError, ScoringEngine, collect_images, display_path, path_key
from artimuse_core.library import NOT_SAVED, JobRecord, critique_jobs, ingest  # NOT_SAVED: a result not written

from .context import RETRY_CAP_S, Backoff, WatchContext
from .logs import LOGGER as log

if TYPE_CHECKING:
    from artimuse_core import ScoreResult
    from artimuse_core.library import Library

#: Problems of the walk that mean the file went away before its turn (not an error).
GONE = ("missing", "gone")
#: Tries of one job before it is recorded as failed.
MAX_ATTEMPTS = 3


class Stopping(Exception):
    """Raised from the engine's ``on_step`` hook when a stop was requested: the critique ends now."""


class Worker:
    """The job loop of one watcher (see the module docstring)."""

    def __init__(
        self, context: WatchContext, engine_factory: Callable[[], ScoringEngine], check_threads: Callable[[], None]
    ):
        self.context = context
        self.settings = context.settings
        self._engine_factory = engine_factory
        self._check_threads = check_threads
        self._engine: ScoringEngine | None = None
        self._identity: Any = None
        self._not_before: dict[int, float] = {}  # job id -> monotonic time of its next try
        self.backoff = Backoff("database", on_change=lambda reason: context.unavailable("worker", reason))
        self.processed = 0

    @property
    def library(self) -> Library:
        return self.context.open_library

    # ------------------------------------------------------------------------------------- the engine
    @property
    def engine(self) -> ScoringEngine:
        """The engine, built once and again only when its checkpoint's files change on disk."""
        identity = self._checkpoint_identity() if self._engine is not None else None
        if self._engine is not None and identity is not None and identity != self._identity:
            log.info("the checkpoint's files changed: reloading the model", extra={"event": "reload"})
            self._engine = None
        if self._engine is None:
            self._engine = built = self._engine_factory()
            self._identity = self._checkpoint_identity()
            return built
        return self._engine

    def _checkpoint_identity(self) -> Any:
        spec = self._engine.spec if self._engine is not None else None
        if spec is None:
            return None
        try:
            from artimuse_core import checkpoint_identity

            return checkpoint_identity(spec)
        except Exception:  # noqa: BLE001 - a name that resolves nowhere (a fake engine): nothing to watch
            return None

    def _on_step(self, _step: int, _limit: int) -> None:
        self.context.heartbeat.beat("worker")
        if self.context.stop_event.is_set():
            raise Stopping()

    def _progress(self, _count: int) -> None:
        self.context.heartbeat.beat("worker", processed=self.processed)

    # ------------------------------------------------------------------------------------- the loop
    def loop(self) -> None:
        context = self.context
        while not context.stop_event.is_set():
            context.heartbeat.beat("worker", processed=self.processed)
            self._check_threads()
            try:
                done = self.run_jobs("score") or self.run_jobs("critique")
            except Stopping:
                return
            except LibraryError as exc:  # locked, full or read-only database: wait, one line per step
                context.stop_event.wait(self.backoff.failed(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - not tied to one job: log it and go on
                context.record_internal_error("worker", exc)
                context.stop_event.wait(self.backoff.failed(exc))
                continue
            self.backoff.ok()
            if not done:
                context.work_event.wait(0.5)
                context.work_event.clear()

    def take(self, kind: str) -> list[JobRecord]:
        """Due pending jobs of ``kind``: a batch of fresh ones, or one that was tried before (alone). Jobs
        out of tries are recorded as failed here."""
        now = time.monotonic()
        limit = self.settings.batch_size
        jobs = self.library.pending_jobs(kind, limit + len(self._not_before))
        due = [j for j in jobs if self._not_before.get(j.id, 0.0) <= now]
        for job in [j for j in due if j.attempts >= MAX_ATTEMPTS]:
            reason = job.error or "the watcher stopped while processing it (a crash or a kill)"
            message = f"gave up after {job.attempts} tries: {reason}"
            self.library.record_error(job.path, "internal", message, job.id)
            log.error(
                "gave up on %s: %s",
                display_path(job.path),
                message,
                extra={"event": "gave_up", "path": display_path(job.path), "error": message},
            )
            self._not_before.pop(job.id, None)
        due = [j for j in due if j.attempts < MAX_ATTEMPTS]
        retried = [j for j in due if j.attempts > 0]
        return retried[:1] if retried else due[:limit]

    def run_jobs(self, kind: str) -> int:
        jobs = self.take(kind)
        if kind == "score" and jobs and len(jobs) < self.settings.batch_size and jobs[0].attempts == 0:
            if len(self.context.tracker) and self.settings.flush_after_s > 0:
                time.sleep(self.settings.flush_after_s)  # more files are settling: let the batch fill
                jobs = self.take(kind)
        if kind == "critique":
            jobs = jobs[:1]  # one image at a time: new scores may overtake the next one
        if not jobs:
            return 0
        ids = [j.id for j in jobs]
        self.library.count_attempt(ids)
        try:
            if kind == "score":
                self._score(jobs)
            else:
                self._critique(jobs)
        except (Stopping, LibraryError):
            self._give_back(ids)
            raise
        except Exception as exc:  # noqa: BLE001 - the jobs' fault until proven otherwise: retry them alone
            self._failed(jobs, exc)
        return len(jobs)

    def _give_back(self, ids: list[int]) -> None:
        try:
            self.library.count_attempt(ids, by=-1)
        except LibraryError:
            pass

    def _failed(self, jobs: list[JobRecord], exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        shown = ", ".join(display_path(j.path) for j in jobs[:3]) + (" ..." if len(jobs) > 3 else "")
        log.error(
            "%d job(s) failed (%s): %s; each will be retried alone",
            len(jobs),
            shown,
            message,
            exc_info=exc,
            extra={"event": "job_error", "path": shown, "error": message},
        )
        self.library.count_attempt([j.id for j in jobs], by=0, error=message)
        for job in jobs:
            delay = min(RETRY_CAP_S, self.settings.retry_after_s * 2 ** max(job.attempts, 0))
            self._not_before[job.id] = time.monotonic() + delay

    def _score(self, jobs: list[JobRecord]) -> None:
        # Jobs queued by an earlier run may ask for other critiques: one door call per request.
        by_request: dict[tuple[tuple[str, ...], int], dict[str, int]] = {}
        for job in jobs:
            request = (job.options.attributes, job.options.max_new_tokens or self.settings.max_new_tokens)
            mapping = by_request.setdefault(request, {})
            if job.path in mapping:  # the file changed again before its first job ran: one score will do
                self.library.finish_jobs([mapping[job.path]], "done", "superseded by a newer version")
            mapping[job.path] = job.id
        engine = self.engine
        for (attributes, max_new_tokens), mapping in by_request.items():
            # The walk's own rule for each file (a loop, a dangling link, a FIFO): the same outcome as `score`.
            found = collect_images(list(mapping))
            for path, _kind, message in [p for p in found.problems if p[0] in mapping and p[1] in GONE]:
                self.library.finish_jobs([mapping[path]], "gone", message)  # deleted before its turn: no error
            for passed in found.passed_over:
                self.library.finish_jobs([mapping[passed.path]], "passed_over", passed.message)
                log.info(
                    "passed over %s", passed.message, extra={"event": "passed_over", "path": display_path(passed.path)}
                )
            recorded: list[ScoreResult] = []
            job_of = {path_key(path): job_id for path, job_id in mapping.items()}  # results: the library's spelling
            for result in ingest(
                engine,
                self.library,
                [str(f) for f in found.files if str(f) in mapping],
                problems=[p for p in found.problems if p[0] in mapping and p[1] not in GONE],
                category=self.settings.category,
                critique=attributes,
                max_new_tokens=max_new_tokens,
                queue_critiques=True,
                folders=self.settings.folders,
                jobs=mapping,
                progress=self._progress,
                on_step=self._on_step,
            ):
                unsaved = [w for w in getattr(result, "warnings", None) or [] if w.startswith(NOT_SAVED)]
                if unsaved:  # the door kept going without the database: not this job's fault, back off
                    raise LibraryError(unsaved[0])
                self.processed += 1
                self._not_before.pop(job_of.get(result.path, -1), None)
                _log(result)
                recorded.append(result)
            if self.settings.after_scoring:  # `watch --xmp` writes the sidecars of what the library recorded
                try:
                    self.settings.after_scoring(recorded)
                except Exception as exc:  # a sidecar problem is logged; it never stops the scoring
                    self.context.record_internal_error("writing XMP sidecars", exc)

    def _critique(self, jobs: list[JobRecord]) -> None:
        engine = self.engine
        for job in jobs:
            for result in critique_jobs(engine, self.library, [job], on_step=self._on_step):
                self._not_before.pop(job.id, None)
                if result.ok:
                    log.info(
                        "critiqued %s",
                        display_path(result.path),
                        extra={"event": "critiqued", "path": display_path(result.path)},
                    )
                else:
                    log.warning(
                        "error %s",
                        result.error,
                        extra={"event": result.status, "path": display_path(result.path), "error": result.error},
                    )
            if self.context.stop_event.is_set() or self.library.queue_length().get("score"):
                break  # scores of new files go first


def _log(result: Any) -> None:
    shown = display_path(result.path)
    extra = {
        "event": result.status,
        "path": shown,
        "score": result.score,
        "scores": dict(result.scores),  # every dimension (UniPercept: iaa, iqa, ista)
        "category": result.category,
        "error": result.error,
    }
    if result.status == "scored":
        suffix = "?" if result.category_source == "predicted" else ""
        several = len(result.scores) > 1
        values = (
            "  ".join(f"{d} {v:.2f}" for d, v in result.scores.items())
            if several
            else f"{result.score:.2f} ± {result.std:.2f}"
        )
        log.info("scored %s %s (%s%s)", values, shown, result.category, suffix, extra=extra)
    elif result.status == "failed":
        log.warning("error %s", result.error, extra=extra)
    else:
        log.info("%s %s", result.status, shown, extra=extra)
