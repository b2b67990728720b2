"""Which observer watches each folder: inotify (watchdog's native ``Observer``) where the kernel lets us,
watchdog's ``PollingObserver`` where it does not.

inotify needs one watch per directory, and ``fs.inotify.max_user_watches`` caps them per user. When the cap
is hit, watchdog raises ``OSError(ENOSPC)`` for the folder itself but silently skips subfolders it cannot
watch (files there would never be noticed), so after scheduling we compare the directories inotify really
watches with the directories on disk, now and every ``VERIFY_EVERY_S``. Either way the folder falls back to
polling, with one message naming the limit and how to raise it. Network shares (SMB/NFS), where inotify sees
no changes made by other machines, use polling from the start (``poll=True``, ``artimuse watch --poll``).
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from artimuse_core.paths import display_path

from .logs import LOGGER as log

#: Seconds between two polls of a polled folder (a full directory listing of the tree each time).
POLL_INTERVAL_S = 1.0
#: Seconds between two checks that inotify still covers every subfolder of a watched folder.
VERIFY_EVERY_S = 10.0

LIMIT_HELP = (
    "the inotify watch limit (fs.inotify.max_user_watches = {limit}) is reached; polling {folder} instead "
    "(slower to notice files, same results). To watch with inotify, raise it: "
    "`sudo sysctl fs.inotify.max_user_watches=524288` (add `fs.inotify.max_user_watches=524288` to "
    "/etc/sysctl.d/90-inotify.conf to keep it)"
)


def inotify_limit() -> str:
    try:
        return Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
    except OSError:
        return "?"


class Observers:
    """One inotify observer and one polling observer, started lazily; ``schedule`` picks per folder."""

    def __init__(self, poll_all: bool = False):
        self.poll_all = poll_all
        self.native: Any = None
        self.polling: Any = None
        self.watches: dict[Path, tuple[str, Any]] = {}  # folder -> ("inotify" | "polling", watch)
        self._verified_at = 0.0
        self._suspect: dict[Path, set[str]] = {}  # missing at the last check: a new folder may just be late

    def start(self) -> None:
        if not self.poll_all:
            self.native = Observer()
            self.native.start()

    def _polling(self) -> Any:
        if self.polling is None:
            self.polling = PollingObserver(timeout=POLL_INTERVAL_S)
            self.polling.start()
        return self.polling

    def polled(self) -> list[str]:
        return [str(f) for f, (how, _) in self.watches.items() if how == "polling"]

    def schedule(self, folder: Path, handler: FileSystemEventHandler) -> None:
        """Watch ``folder`` (recursively) with inotify, else by polling. Raises OSError only when polling
        cannot watch it either (the folder is gone or unreadable)."""
        if self.native is not None:
            try:
                watch = self.native.schedule(handler, str(folder), recursive=True)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EMFILE):
                    raise
                self._fall_back(folder, handler, None)
                return
            self.watches[folder] = ("inotify", watch)
            if self.uncovered(folder):
                self._fall_back(folder, handler, watch)
            return
        self.watches[folder] = ("polling", self._polling().schedule(handler, str(folder), recursive=True))
        log.info("polling %s (--poll)", display_path(folder), extra={"event": "polling", "folder": str(folder)})

    def _fall_back(self, folder: Path, handler: FileSystemEventHandler, watch: Any) -> None:
        if watch is not None:
            try:
                self.native.unschedule(watch)
            except (KeyError, ValueError, OSError):
                pass
        log.warning(
            LIMIT_HELP.format(limit=inotify_limit(), folder=display_path(folder)),
            extra={"event": "inotify_limit", "folder": str(folder)},
        )
        self.watches[folder] = ("polling", self._polling().schedule(handler, str(folder), recursive=True))

    def unschedule(self, folder: Path) -> None:
        how, watch = self.watches.pop(folder, (None, None))
        observer = self.native if how == "inotify" else self.polling
        try:
            if observer is not None:
                observer.unschedule(watch)
        except (KeyError, ValueError, OSError):
            pass

    def uncovered(self, folder: Path) -> list[str]:
        """Directories under ``folder`` that inotify does not watch (watchdog skipped them silently when the
        watch limit was hit). Empty when all are covered or when watchdog's bookkeeping is not readable."""
        how, watch = self.watches.get(folder, (None, None))
        if how != "inotify":
            return []
        emitter = getattr(self.native, "_emitter_for_watch", {}).get(watch)
        group = getattr(emitter, "_inotify", None)
        watched = getattr(group, "_active_callbacks_by_path", None)
        if watched is None:
            return []
        watched = {os.fsdecode(p) for p in list(watched)}
        missing = []
        for dirpath, dirnames, _ in os.walk(folder):
            for name in dirnames:
                full = os.path.join(dirpath, name)
                if full not in watched and not os.path.islink(full) and os.path.isdir(full):
                    missing.append(full)
        return missing

    def verify(self, handlers: dict[Path, FileSystemEventHandler]) -> None:
        """Every ``VERIFY_EVERY_S``: folders whose new subfolders inotify could not watch fall back to polling."""
        if time.monotonic() - self._verified_at < VERIFY_EVERY_S:
            return
        self._verified_at = time.monotonic()
        for folder, (how, watch) in list(self.watches.items()):
            if how != "inotify" or folder not in handlers:
                continue
            missing = set(self.uncovered(folder))
            if missing & self._suspect.get(folder, set()):  # still unwatched 10 s later: not just late
                self._fall_back(folder, handlers[folder], watch)
                missing = set()
            self._suspect[folder] = missing

    def dead(self) -> list[str]:
        """Observers whose thread died (an exception inside watchdog): the caller restarts them."""
        return [
            n for n, o in (("inotify", self.native), ("polling", self.polling)) if o is not None and not o.is_alive()
        ]

    def stop(self) -> None:
        for observer in (self.native, self.polling):
            if observer is not None:
                observer.stop()
        for observer in (self.native, self.polling):
            if observer is not None and observer.is_alive():
                observer.join(timeout=5)
