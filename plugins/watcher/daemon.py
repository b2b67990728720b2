"""The watcher: a real watchdog observer feeds a stability tracker; settled files become durable jobs in
the library; one worker (the only thread that touches the model) scores jobs in batches, then critiques.

Crash safety comes from the job table: a job is written before its file is processed and completed in the
transaction that stores its results, so after ``kill -9`` a restart finds exactly the unfinished jobs
(run first), and the start-up scan finds files that changed while nothing was watching.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from artimuse_core.config import paths as artimuse_paths
from artimuse_core.errors import ArtiMuseError
from artimuse_core.library import Library, critique_jobs, ingest
from artimuse_core.spec import default_of

from .logs import LOGGER as log
from .tracker import StabilityTracker, should_watch


@dataclass
class WatcherSettings:
    folders: list[tuple[Path, str | None]]  # (folder, category or None)
    category: str | None = None  # --category: wins over the per-folder ones
    critique: tuple[str, ...] = ()
    max_new_tokens: int = default_of("max_new_tokens")
    debounce_s: float = 1.0
    flush_after_s: float = 0.3
    batch_size: int = default_of("batch_size")
    status_file: Path = field(default_factory=lambda: artimuse_paths().run_dir / "watcher.json")


class _Events(FileSystemEventHandler):
    """Observer callbacks: cheap bookkeeping only; the model never runs on this thread."""

    def __init__(self, watcher: Watcher, root: Path):
        self.watcher, self.root = watcher, root

    def _candidate(self, path: str) -> None:
        candidate = Path(path)
        ok, reason = should_watch(candidate, self.root)
        if ok:
            self.watcher.tracker.touch(candidate)
        else:
            log.debug("ignored %s: %s", path, reason, extra={"event": "ignored", "path": path})

    def on_created(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            self.watcher.scan(Path(event.src_path), self.root)
        else:
            self._candidate(event.src_path)

    def on_modified(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._candidate(event.src_path)

    def on_closed(self, event: FileSystemEvent) -> None:
        self._candidate(event.src_path)

    def on_moved(self, event: FileSystemEvent) -> None:
        source, destination = Path(event.src_path), Path(event.dest_path)
        inside_root = should_watch(destination, self.root)[0] if not event.is_directory else True
        try:
            destination.relative_to(self.root)
        except ValueError:
            inside_root = False
        if event.is_directory:
            self.watcher.safely(self.watcher.library.mark_missing_under, source)
            if inside_root:
                self.watcher.scan(destination, self.root)
            return
        self.watcher.tracker.forget(source)
        if inside_root:
            moved = self.watcher.safely(self.watcher.library.move, source, destination)
            if moved:
                log.info(
                    "moved %s -> %s (history kept)",
                    source,
                    destination,
                    extra={"event": "moved", "path": str(destination)},
                )
            self._candidate(event.dest_path)
        else:
            self.watcher.safely(self.watcher.library.mark_missing, source)

    def on_deleted(self, event: FileSystemEvent) -> None:
        path = Path(event.src_path)
        self.watcher.tracker.forget(path)
        if event.is_directory:
            self.watcher.safely(self.watcher.library.mark_missing_under, path)
        elif self.watcher.safely(self.watcher.library.mark_missing, path):
            log.info("deleted %s: marked missing", path, extra={"event": "missing", "path": str(path)})


class Watcher:
    """Watches ``settings.folders`` and scores settled files into ``library`` through the library door.

    ``engine_factory`` builds the engine once, on first need (the model loads in the worker, never on the
    observer thread); tests and hosts pass their own (``lambda: FakeEngine()``).
    """

    def __init__(self, settings: WatcherSettings, library: Library, engine_factory: Callable):
        self.settings = settings
        self.library = library
        self._engine_factory = engine_factory
        self._engine = None
        self.tracker = StabilityTracker(settings.debounce_s)
        self.stop_event = threading.Event()
        self.work_event = threading.Event()
        self._observer = None
        self._watched: dict[Path, object] = {}
        self.processed = 0

    # ----------------------------------------------------------------------------------- plumbing
    @property
    def engine(self):
        if self._engine is None:
            self._engine = self._engine_factory()  # once per process
        return self._engine

    def safely(self, func, *args):
        """Library calls from the observer/settler threads: a locked or full database is logged, not fatal."""
        try:
            return func(*args)
        except ArtiMuseError as exc:
            log.error("%s", exc, extra={"event": "library_error", "error": str(exc)})
            return None

    # ----------------------------------------------------------------------------------- discovery
    def scan(self, directory: Path, root: Path) -> int:
        """Start-up catch-up (and folders moved in): queue files new or changed since the library saw them."""
        known = self.safely(self.library.known_files, directory) or {}
        queued = 0
        for dirpath, dirnames, filenames in os.walk(directory, followlinks=False):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                path = Path(dirpath) / name
                if not should_watch(path, root)[0]:
                    continue
                try:
                    stat = path.stat()
                except OSError:
                    continue
                seen = known.pop(str(path), None)
                if seen and (seen.size, seen.mtime) == (stat.st_size, stat.st_mtime) and not seen.missing:
                    continue
                self.tracker.touch(path)
                queued += 1
        for gone, record in known.items():  # in the library, no longer on disk
            if not record.missing and not Path(gone).exists():
                self.safely(self.library.mark_missing, gone)
        return queued

    def _settle(self) -> None:
        """Settler thread: move stable files into the durable queue; notice vanished/returned folders."""
        interval = max(0.05, self.settings.debounce_s / 4)
        while not self.stop_event.wait(interval):
            self._check_folders()
            for path, size, mtime in self.tracker.ready():
                options = (
                    {"critique": list(self.settings.critique), "max_new_tokens": self.settings.max_new_tokens}
                    if self.settings.critique
                    else None
                )
                queued = self.safely(self.library.enqueue, str(path), size, mtime, "score", options)
                if queued is None:
                    self.tracker.touch(path)  # library unavailable: try again later
                elif queued:
                    self.work_event.set()

    def _check_folders(self) -> None:
        for folder, _ in self.settings.folders:
            watching = folder in self._watched
            exists = folder.is_dir()
            if watching and not exists:
                log.warning(
                    "folder %s vanished; waiting for it to come back",
                    folder,
                    extra={"event": "folder_vanished", "folder": str(folder)},
                )
                try:
                    self._observer.unschedule(self._watched.pop(folder))
                except (KeyError, ValueError, OSError):
                    self._watched.pop(folder, None)
            elif not watching and exists:
                self._schedule(folder)
                queued = self.scan(folder, folder)
                log.info(
                    "watching %s (%d file(s) to check)",
                    folder,
                    queued,
                    extra={"event": "watching", "folder": str(folder), "count": queued},
                )

    def _schedule(self, folder: Path) -> None:
        try:
            self._watched[folder] = self._observer.schedule(_Events(self, folder), str(folder), recursive=True)
        except OSError as exc:
            log.error("cannot watch %s: %s", folder, exc, extra={"event": "watch_error", "folder": str(folder)})

    # ----------------------------------------------------------------------------------- work
    def _process_scores(self) -> int:
        jobs = self.safely(self.library.pending_jobs, "score", self.settings.batch_size)
        if jobs and len(jobs) < self.settings.batch_size and len(self.tracker) and self.settings.flush_after_s > 0:
            time.sleep(self.settings.flush_after_s)  # more files are settling: let the batch fill
            jobs = self.safely(self.library.pending_jobs, "score", self.settings.batch_size)
        if not jobs:
            return 0
        # Jobs queued by an earlier run may ask for other critiques: one door call per request.
        by_request: dict[tuple[tuple[str, ...], int], dict[str, int]] = {}
        for job in jobs:
            request = (
                tuple(job.options.get("critique") or ()),
                job.options.get("max_new_tokens") or self.settings.max_new_tokens,
            )
            mapping = by_request.setdefault(request, {})
            if job.path in mapping:  # the file changed again before its first job ran: one score will do
                self.library.finish_jobs([mapping[job.path]], "done", "superseded by a newer version")
            mapping[job.path] = job.id
        for (attributes, max_new_tokens), mapping in by_request.items():
            for result in ingest(
                self.engine,
                self.library,
                list(mapping),
                category=self.settings.category,
                critique=attributes,
                max_new_tokens=max_new_tokens,
                queue_critiques=True,
                folders=self.settings.folders,
                jobs=mapping,
            ):
                self.processed += 1
                self._log(result)
        return len(jobs)

    def _log(self, result) -> None:
        extra = {
            "event": result.status,
            "path": result.path,
            "score": result.score,
            "scores": dict(result.scores),  # every dimension (UniPercept: iaa, iqa, ista)
            "category": result.category,
            "error": result.error,
        }
        if result.status == "scored":
            suffix = "?" if result.category_source == "predicted" else ""
            several = len(result.scores) > 1
            log.info(
                "scored %s %s (%s%s)",
                "  ".join(f"{d} {v:.2f}" for d, v in result.scores.items())
                if several
                else f"{result.score:.2f} ± {result.std:.2f}",
                result.path,
                result.category,
                suffix,
                extra=extra,
            )
        elif result.status == "failed":
            log.warning("error %s", result.error, extra=extra)
        else:
            log.info("%s %s", result.status, result.path, extra=extra)

    def _process_critiques(self) -> int:
        jobs = self.safely(self.library.pending_jobs, "critique", self.settings.batch_size)
        if not jobs:
            return 0
        for result in critique_jobs(self.engine, self.library, jobs):  # one job (image) at a time
            if result.ok:
                log.info("critiqued %s", result.path, extra={"event": "critiqued", "path": result.path})
            else:
                log.warning(
                    "error %s", result.error, extra={"event": result.status, "path": result.path, "error": result.error}
                )
            if self.stop_event.is_set() or (self.safely(self.library.queue_length) or {}).get("score"):
                break  # scores of new files go first
        return len(jobs)

    def _write_status(self) -> None:
        status = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": time.time(),
            "folders": [str(f) for f, _ in self.settings.folders],
        }
        self.settings.status_file.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed into place: a reader (`artimuse status`) never sees a half-written file.
        partial = self.settings.status_file.with_name(self.settings.status_file.name + ".partial")
        partial.write_text(json.dumps(status))
        os.replace(partial, self.settings.status_file)

    def request_stop(self, *_args) -> None:
        self.stop_event.set()
        self.work_event.set()

    def run(self, install_signals: bool = True) -> int:
        """Watch until SIGINT/SIGTERM: the batch in progress finishes and commits, then exit 0."""
        if install_signals:
            signal.signal(signal.SIGINT, self.request_stop)
            signal.signal(signal.SIGTERM, self.request_stop)
        _ = self.engine  # load the model before watching: errors surface now
        self._observer = Observer()
        self._observer.start()
        self._write_status()
        pending = self.safely(self.library.queue_length) or {}
        if pending:
            log.info(
                "resuming %d unfinished job(s) first",
                sum(pending.values()),
                extra={"event": "resume", "queue": pending},
            )
        self._check_folders()
        settler = threading.Thread(target=self._settle, name="artimuse-settle", daemon=True)
        settler.start()
        backoff = 1.0
        try:
            while not self.stop_event.is_set():
                try:
                    done = self._process_scores() or self._process_critiques()
                    backoff = 1.0
                except ArtiMuseError as exc:  # locked or full database: report, wait, retry
                    log.error("%s; retrying in %.0f s", exc, backoff, extra={"event": "retry", "error": str(exc)})
                    self.stop_event.wait(backoff)
                    backoff = min(backoff * 2, 60)
                    continue
                if not done:
                    self.work_event.wait(0.5)
                    self.work_event.clear()
        finally:
            self.stop_event.set()
            self._observer.stop()
            self._observer.join(timeout=5)
            settler.join(timeout=5)
            try:
                self.settings.status_file.unlink()
            except FileNotFoundError:
                pass
            log.info("stopped after %d file(s)", self.processed, extra={"event": "stopped", "count": self.processed})
        return 0


def read_status(library: Library, status_file: Path | None = None) -> dict:
    """What `artimuse status` shows: is a watcher running, on what, how far behind, what went wrong."""
    status_file = status_file or artimuse_paths().run_dir / "watcher.json"
    info: dict = {"running": False, "pid": None, "folders": [], "stale_status_file": False}
    if status_file.is_file():
        try:
            data = json.loads(status_file.read_text())
            alive = _alive(data["pid"]) if data.get("host") == socket.gethostname() else None
            info.update(
                running=bool(alive),
                pid=data["pid"],
                folders=data.get("folders", []),
                started_at=data.get("started_at"),
                stale_status_file=alive is False,
            )
        except (OSError, ValueError, KeyError):
            info["stale_status_file"] = True
    info["queue"] = library.queue_length()
    last = library.last_processed()
    info["last_processed"] = last.to_dict() if last else None
    info["errors"] = library.stats().counts["errors"]
    return info


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
