"""The watcher: watchdog observers feed a stability tracker; settled files become durable jobs in the
library; one worker (the only thread that touches the model) scores jobs in batches, then critiques.

Crash safety comes from the job table: a job is written before its file is processed and completed in the
transaction that stores its results, so after ``kill -9`` a restart finds exactly the unfinished jobs
(run first), and the start-up scan finds files that changed while nothing was watching. Every try of a job
is counted (``jobs.attempts``) before it runs, so a job that crashes the process or keeps raising is retried
alone, with backoff, ``MAX_ATTEMPTS`` times, then recorded as failed: it never blocks the queue.

No thread dies silently: each loop turn and each observer callback is guarded (the error is logged and
recorded against its file; the loop goes on); a failing database backs off exponentially with one log
line per step, and the heartbeat says ``waiting`` with the reason until it recovers. A library that cannot
be opened because its disk is full is waited for in the same way at start (the watcher never exits for
it). When the daemon cannot go on (the model does not load, a loop breaks), it exits non-zero and its
heartbeat says ``failed`` with the reason (`artimuse status`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from artimuse_core import ArtiMuseError, LibraryError, ScoringEngine, display_path, home_paths
from artimuse_core.library import JobOptions, Library, is_disk_full

from .context import Backoff, WatchContext, WatcherSettings
from .events import Events
from .heartbeat import LibraryLock
from .logs import LOGGER as log
from .observing import Observers
from .tracker import StabilityTracker, should_watch
from .work import Stopping, Worker


class Watcher:
    """Watches ``settings.folders`` and scores settled files into ``library`` through the library door.

    ``engine_factory`` builds the engine on first need (the model loads in the worker, never on the observer
    thread), and again when the checkpoint's files change on disk (the engine cache's staleness rule,
    ``engine_cache.checkpoint_identity``); tests and hosts pass their own (``lambda: FakeEngine()``).
    """

    def __init__(
        self,
        settings: WatcherSettings,
        library: Library | Callable[[], Library],
        engine_factory: Callable[[], ScoringEngine],
    ):
        """``library``: an open ``Library``, or what opens it (the watcher opens it at start, waiting while
        its disk is full)."""
        self.settings = settings
        self.context = WatchContext(settings)
        self._open_library = library if callable(library) else None
        self.context.library = None if callable(library) else library
        self.heartbeat, self.stop_event, self.work_event = (
            self.context.heartbeat,
            self.context.stop_event,
            self.context.work_event,
        )
        self.observers = Observers(poll_all=settings.poll)
        self.handlers: dict[Path, Events] = {}
        self.worker = Worker(self.context, engine_factory, self.check_threads)
        self.failure: str | None = None
        self._unwatchable: set[Path] = set()  # folders that could not be watched (said once)
        self._settler: threading.Thread | None = None
        self.settler_error: str | None = None

    @property
    def processed(self) -> int:
        return self.worker.processed

    @property
    def library(self) -> Library:
        """The open library (the watcher opens it at start when it was given what opens it)."""
        return self.context.open_library

    @property
    def tracker(self) -> StabilityTracker:
        return self.context.tracker

    # ----------------------------------------------------------------------------------- plumbing
    def _open(self) -> bool:
        """Open the library (when the watcher was given what opens it), waiting with backoff while its disk
        is full; False when a stop came first. Other errors (newer, damaged, foreign) end the start."""
        context = self.context
        backoff = Backoff("library", on_change=lambda reason: context.unavailable("worker", reason))
        while context.library is None and self._open_library is not None:
            try:
                context.library = self._open_library()
            except LibraryError as exc:
                if not is_disk_full(exc):
                    raise
                self.stop_event.wait(backoff.failed(exc))
                if self.stop_event.is_set():
                    return False
                continue
            backoff.ok()
        return True

    def check_threads(self) -> None:
        """Raise when the settler thread is gone (something no turn could catch): the daemon cannot go on
        deaf, so it exits non-zero and `status` says why."""
        if self._settler is not None and not self._settler.is_alive() and not self.stop_event.is_set():
            raise RuntimeError(f"the settler thread stopped ({self.settler_error}); new files would never be queued")

    def lock_path(self) -> Path:
        """The one-watcher lock lives beside the library's database file (else in the run folder)."""
        url = str(self.library.url)
        if url.startswith("sqlite:///") and ":memory:" not in url:
            database = Path(url[len("sqlite:///") :])
            return database.with_name(database.name + ".watch.lock")
        return self.settings.status_file.with_name("watcher.lock")

    # ----------------------------------------------------------------------------------- discovery
    def scan(self, directory: Path, root: Path) -> int:
        """Start-up catch-up (and folders moved in): queue files new or changed since the library saw them.
        Files already settling keep their clock (a rescan never restarts the debounce)."""
        known = self.context.call_library(self.library.known_files, directory) or {}
        queued = 0
        for dirpath, dirnames, filenames in os.walk(directory, followlinks=False):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    if not should_watch(path, root)[0]:
                        continue
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                except (OSError, RuntimeError):  # a symlink loop, a permission problem: that file's error
                    self.tracker.add(path)
                    queued += 1
                    continue
                seen = known.pop(str(path), None)
                if seen and (seen.size, seen.mtime) == (stat.st_size, stat.st_mtime) and not seen.missing:
                    continue
                self.tracker.add(path)
                queued += 1
        for gone, record in known.items():  # in the library, no longer on disk
            if not record.missing and not Path(gone).exists():
                self.context.call_library(self.library.mark_missing, gone)
        return queued

    def _settle(self) -> None:
        """Settler thread: move stable files into the durable queue; notice vanished/returned folders and
        dead observers. One turn's failure is logged and the next turn goes on."""
        interval = max(0.05, self.settings.debounce_s / 4)
        try:
            while not self.stop_event.wait(interval):
                self.heartbeat.beat("settler", processed=self.processed, polling=self.observers.polled())
                try:
                    self._check_folders()
                    self._queue_ready()
                except Exception as exc:  # noqa: BLE001 - the settler must not die
                    self.context.record_internal_error("settler", exc)
        except BaseException as exc:  # beyond any turn's guard: say it; the worker ends the daemon (exit 1)
            self.settler_error = f"{type(exc).__name__}: {exc}"
            log.error("the settler thread stopped: %s", self.settler_error, extra={"event": "thread_died"})

    def _queue_ready(self) -> None:
        if self.context.database_waiting():
            return  # the database failed lately: files stay in the tracker until the backoff step ends
        critique, tokens = self.settings.critique, self.settings.max_new_tokens
        options = JobOptions.of(critique, tokens) if critique else None
        for path, size, mtime in self.tracker.ready():
            try:
                queued = self.context.call_library(self.library.enqueue, str(path), size, mtime, "score", options)
            except Exception as exc:  # noqa: BLE001 - one file's problem, not the settler's
                self.context.record_internal_error("settler", exc, path)
                continue
            if queued is None:
                self.tracker.add(path)  # library unavailable: try again after the backoff
            elif queued:
                self.work_event.set()

    def _check_folders(self) -> None:
        for folder, _ in self.settings.folders:
            watching = folder in self.observers.watches
            exists = folder.is_dir()
            if watching and not exists:
                log.warning(
                    "folder %s vanished; waiting for it to come back",
                    display_path(folder),
                    extra={"event": "folder_vanished", "folder": display_path(folder)},
                )
                self.observers.unschedule(folder)
            elif not watching and exists:
                self._watch(folder)
        self.observers.verify(self.handlers)
        dead = self.observers.dead()
        if dead:
            log.error("the %s observer stopped; restarting it", dead[0], extra={"event": "observer_restart"})
            self.observers.stop()
            self.observers = Observers(poll_all=self.settings.poll)
            self.observers.start()

    def _watch(self, folder: Path) -> None:
        handler = self.handlers.setdefault(folder, Events(self.context, folder, self.scan))
        try:
            self.observers.schedule(folder, handler)
        except OSError as exc:
            if folder not in self._unwatchable:
                log.error(
                    "cannot watch %s: %s",
                    display_path(folder),
                    exc,
                    extra={"event": "watch_error", "folder": display_path(folder)},
                )
                self._unwatchable.add(folder)
            return
        self._unwatchable.discard(folder)
        queued = self.scan(folder, folder)
        log.info(
            "watching %s (%d file(s) to check)",
            display_path(folder),
            queued,
            extra={"event": "watching", "folder": display_path(folder), "count": queued},
        )

    # ----------------------------------------------------------------------------------- life
    def request_stop(self, *_args: Any) -> None:
        self.stop_event.set()
        self.work_event.set()

    def run(self, install_signals: bool = True) -> int:
        """Watch until SIGINT/SIGTERM, then exit 0: a critique in progress stops at its next token (its job
        stays pending and resumes next time); a batch of scores finishes and commits. Exits 1 when another
        watcher holds this library, when the model cannot load, or when a loop breaks (status: failed)."""
        import signal

        from .heartbeat import AlreadyWatching

        if install_signals:
            signal.signal(signal.SIGINT, self.request_stop)
            signal.signal(signal.SIGTERM, self.request_stop)
        self.heartbeat.beat("worker", force=True, state="starting")  # before the library takes the last space
        try:
            if not self._open():
                self.heartbeat.remove()
                return 0
        except LibraryError as exc:
            self.failure = str(exc)
            log.error("watcher failed: %s", self.failure, extra={"event": "failed", "error": self.failure})
            self.heartbeat.beat("worker", force=True, state="failed", error=self.failure)
            return 1
        lock = LibraryLock(self.lock_path())
        try:
            lock.acquire()
        except AlreadyWatching as exc:
            log.error("%s", exc, extra={"event": "already_watching", "error": str(exc)})
            return 1
        except OSError as exc:  # a read-only folder, a file system without locks: watch anyway, say so
            log.warning(
                "cannot take the one-watcher lock %s (%s): a second watcher on this library would not be refused",
                lock.path,
                exc.strerror or exc,
                extra={"event": "lock_error", "error": str(exc)},
            )
        settler = self._settler = threading.Thread(target=self._settle, name="artimuse-settle", daemon=True)
        try:
            self.heartbeat.beat("worker", force=True, state="starting")
            _ = self.worker.engine  # load the model before watching: errors surface now
            self.observers.start()
            pending = self.context.call_library(self.library.queue_length) or {}
            if pending:
                log.info(
                    "resuming %d unfinished job(s) first",
                    sum(pending.values()),
                    extra={"event": "resume", "queue": pending},
                )
            self._check_folders()
            self.context.state = "running"
            self.heartbeat.beat("worker", force=True, state="waiting" if self.context.waiting_for() else "running",
                                polling=self.observers.polled())  # fmt: skip
            settler.start()
            self.worker.loop()
        except Stopping:
            pass
        except BaseException as exc:  # the daemon cannot go on: say so where `status` looks, exit non-zero
            if isinstance(exc, KeyboardInterrupt):
                self.request_stop()
            else:
                self.failure = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ArtiMuseError) else str(exc)
                log.error("watcher failed: %s", self.failure, extra={"event": "failed", "error": self.failure})
        finally:
            self.stop_event.set()
            self.observers.stop()
            if settler.is_alive():
                settler.join(timeout=5)
            if self.failure:
                self.heartbeat.beat("worker", force=True, state="failed", error=self.failure)
            else:
                self.heartbeat.remove()
            lock.release()
            log.info("stopped after %d file(s)", self.processed, extra={"event": "stopped", "count": self.processed})
        return 1 if self.failure else 0


def read_status(
    library: Library | None, status_file: Path | None = None, library_error: str | None = None
) -> dict[str, Any]:
    """What `artimuse status` shows: the watcher's state from its heartbeat (starting, running, waiting,
    stuck, failed, killed, not running), its live workers, how far behind it is, what went wrong. Without
    a ``library`` (it cannot be opened: ``library_error`` says why) the queue and counts are unknown (None)."""
    from .heartbeat import read_heartbeat

    info = read_heartbeat(status_file or home_paths().run_dir / "watcher.json")
    info["library_error"] = library_error
    if library is None:
        info.update(queue=None, last_processed=None, errors=None)
        return info
    info["queue"] = library.queue_length()
    last = library.last_processed()
    info["last_processed"] = last.to_dict() if last else None
    info["errors"] = library.stats().counts["errors"]
    return info


__all__ = ["LibraryError", "Watcher", "WatcherSettings", "read_status"]
