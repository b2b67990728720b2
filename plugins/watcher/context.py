"""What the watcher's threads share, and nothing more: its settings, the stability tracker, the heartbeat,
the stop and work signals, the library once it is open, and the two guards every thread uses.

The observer callbacks (``events``) and the worker (``work``) are handed a ``WatchContext`` rather than the
``Watcher``: they cannot reach the observers, the settler or the start-up sequence, and the daemon that
assembles them imports them, never the other way round.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from artimuse_core import ArtiMuseError, default_of, display_path, home_paths
from artimuse_core.library import is_disk_full

from .heartbeat import Heartbeat
from .logs import LOGGER as log
from .tracker import StabilityTracker

if TYPE_CHECKING:
    from artimuse_core import ScoreResult
    from artimuse_core.library import Library

#: Longest wait (seconds) between two tries of a job, and between two database retries.
RETRY_CAP_S = 60.0


@dataclass
class WatcherSettings:
    folders: list[tuple[Path, str | None]]  # (folder, category or None)
    category: str | None = None  # --category: wins over the per-folder ones
    critique: tuple[str, ...] = ()
    max_new_tokens: int = default_of("max_new_tokens")
    debounce_s: float = 1.0
    flush_after_s: float = 0.3
    batch_size: int = default_of("batch_size")
    poll: bool = False  # --poll: poll every folder (network shares) instead of inotify
    retry_after_s: float = 2.0  # a failed job waits retry_after_s * 2**(attempts-1), at most 60 s
    status_file: Path = field(default_factory=lambda: home_paths().run_dir / "watcher.json")
    # Called with each door call's results once the library recorded them (``watch --xmp`` writes sidecars).
    after_scoring: Callable[[list[ScoreResult]], object] | None = None


class Backoff:
    """Exponential backoff with a cap for a failing resource, with one log line per step (not per try).
    ``on_change(reason)`` hears each new step (``reason``: what failed, and the wait) and the recovery
    (``None``): the watcher's heartbeat says ``waiting`` meanwhile."""

    def __init__(
        self,
        what: str,
        first_s: float = 1.0,
        cap_s: float = RETRY_CAP_S,
        on_change: Callable[[str | None], None] | None = None,
    ):
        self.what, self.first_s, self.cap_s = what, first_s, cap_s
        self.on_change = on_change
        self.delay = 0.0
        self.until = 0.0

    def failed(self, exc: BaseException) -> float:
        """Record a failure; returns how long to wait. Logs only when a new step starts."""
        now = time.monotonic()
        if now < self.until:
            return self.until - now  # same step: already said
        self.delay = min(self.cap_s, self.delay * 2 if self.delay else self.first_s)
        self.until = now + self.delay
        full = is_disk_full(exc)
        log.error(
            "%s unavailable%s: %s; retrying in %.0f s%s",
            self.what,
            " (the disk is full)" if full else "",
            exc,
            self.delay,
            ": free some space and it resumes by itself" if full else "",
            extra={"event": "retry", "error": str(exc), "disk_full": full},
        )
        if self.on_change is not None:
            said = "the disk is full: " if full else ""
            self.on_change(f"{self.what} unavailable ({said}{exc}); retrying every {self.delay:.0f} s")
        return self.delay

    def waiting(self) -> bool:
        return time.monotonic() < self.until

    def ok(self) -> None:
        if self.delay:
            log.info("%s available again", self.what, extra={"event": "recovered"})
            if self.on_change is not None:
                self.on_change(None)
        self.delay = 0.0
        self.until = 0.0


class WatchContext:
    """The watcher's shared state (see the module docstring). ``library`` is None until the daemon has
    opened it; ``state`` is what the heartbeat says when no loop waits (``starting``, then ``running``)."""

    def __init__(self, settings: WatcherSettings):
        self.settings = settings
        self.tracker = StabilityTracker(settings.debounce_s)
        self.heartbeat = Heartbeat(settings.status_file, [str(f) for f, _ in settings.folders])
        self.stop_event = threading.Event()
        self.work_event = threading.Event()
        self.library: Library | None = None
        self.state = "starting"
        self._waiting: dict[str, str] = {}  # loop -> why it waits for the library (the heartbeat says so)
        self._db_backoff = Backoff("database", on_change=lambda reason: self.unavailable("settler", reason))

    @property
    def open_library(self) -> Library:
        """The library, once the daemon opened it (the observers and the worker start only after that)."""
        assert self.library is not None, "the watcher opens the library before any thread starts"
        return self.library

    def call_library(self, func: Callable[..., Any], *args: Any) -> Any:
        """Library calls from the observer/settler threads: a locked or full database is logged (one line
        per backoff step, not per call) and gives None."""
        try:
            result = func(*args)
        except ArtiMuseError as exc:
            self._db_backoff.failed(exc)
            return None
        self._db_backoff.ok()
        return result

    def database_waiting(self) -> bool:
        """True while the observer/settler threads' last library call failed and its backoff step lasts."""
        return self._db_backoff.waiting()

    def unavailable(self, loop: str, reason: str | None) -> None:
        """``loop`` waits for the library (``reason``) or no longer does (None): the heartbeat's state is
        ``waiting`` with the reason while any loop waits, else ``state``."""
        if reason is None:
            self._waiting.pop(loop, None)
        else:
            self._waiting[loop] = reason
        waiting = self.waiting_for()
        self.heartbeat.beat(loop, force=True, state="waiting" if waiting else self.state, error=waiting)

    def waiting_for(self) -> str | None:
        """Why some loop waits for the library now, or None."""
        return next(iter(self._waiting.values()), None)

    def record_internal_error(self, where: str, exc: BaseException, path: Any = None) -> None:
        """Any exception nobody expected: logged with its traceback, recorded against ``path`` (when there is
        one) as an ``internal`` error, and the calling thread carries on."""
        shown = display_path(path) if path is not None else None
        message = f"unexpected {type(exc).__name__} in the {where}: {exc}"
        log.error(
            "%s%s\n%s",
            message,
            f" ({shown})" if shown else "",
            "".join(traceback.format_exception(exc)).rstrip(),
            extra={"event": "internal_error", "path": shown, "error": message},
        )
        if path is not None and self.library is not None:
            self.call_library(self.library.record_error, os.fsdecode(path), "internal", message)


__all__ = ["RETRY_CAP_S", "Backoff", "WatchContext", "WatcherSettings"]
