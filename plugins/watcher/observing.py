"""Which observer watches each folder: inotify (watchdog's native ``Observer``) where the kernel lets us,
watchdog's ``PollingObserver`` where it does not.

inotify needs one watch per directory, and ``fs.inotify.max_user_watches`` caps them per user (and one
instance per observer, capped by ``fs.inotify.max_user_instances``). When the watch cap is hit, watchdog
raises ``OSError(ENOSPC)`` for the folder itself but silently skips subfolders it cannot watch (files there
would never be noticed), so after scheduling we compare the directories inotify really watches with the
directories on disk, now and every ``VERIFY_EVERY_S``; the instance cap (or the open-file limit) is
``OSError(EMFILE)``. Either way the folder falls back to polling, with one message naming the limit that was
actually hit and how to raise it: in a user namespace (a container) that is the namespace's own
``user.max_inotify_watches``/``user.max_inotify_instances`` when it is below the host's setting. Network
shares (SMB/NFS), where inotify sees no changes made by other machines, use polling from the start
(``poll=True``, ``artimuse watch --poll``).
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from artimuse_core import display_path

from .logs import LOGGER as log

#: Seconds between two polls of a polled folder (a full directory listing of the tree each time).
POLL_INTERVAL_S = 1.0
#: Seconds between two checks that inotify still covers every subfolder of a watched folder.
VERIFY_EVERY_S = 10.0

#: Per limit: (the host's sysctl, the user namespace's, a value to suggest).
LIMITS = {
    "watch": ("fs.inotify.max_user_watches", "user.max_inotify_watches", 524288),
    "instance": ("fs.inotify.max_user_instances", "user.max_inotify_instances", 1024),
}
POLLING = "polling {folder} instead (slower to notice files, same results). To watch with inotify, raise it: "


def _sysctl(name: str) -> int | None:
    try:
        return int(Path("/proc/sys", *name.split(".")).read_text().strip())
    except (OSError, ValueError):
        return None


def _out_of_files() -> int | None:
    """The open-file limit (``ulimit -n``) when this process is at it (EMFILE is then that, not inotify)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        return soft if soft != resource.RLIM_INFINITY and len(os.listdir("/proc/self/fd")) >= soft - 1 else None
    except (ImportError, OSError, ValueError):
        return None


def limit_help(folder: str, error: int = errno.ENOSPC) -> str:
    """The one message for an inotify limit hit while watching ``folder``: ``ENOSPC`` is the watch limit,
    ``EMFILE`` the instance limit (or the open-file limit, when the process is at it); it names the setting
    that was hit with its value (this user namespace's when lower than the host's) and how to raise it."""
    if error == errno.EMFILE and (files := _out_of_files()) is not None:
        return f"the open-file limit (ulimit -n = {files}) is reached; {POLLING.format(folder=folder)}`ulimit -n 65536`"
    kind = "instance" if error == errno.EMFILE else "watch"
    host_name, namespace_name, suggested = LIMITS[kind]
    host, namespace = _sysctl(host_name), _sysctl(namespace_name)
    if namespace is not None and (host is None or namespace < host):
        return (
            f"the inotify {kind} limit of this user namespace ({namespace_name} = {namespace}; the host's "
            f"{host_name} is {host if host is not None else '?'}) is reached; {POLLING.format(folder=folder)}"
            f"`sysctl {namespace_name}={suggested}` where the namespace (the container) is set up"
        )
    return (
        f"the inotify {kind} limit ({host_name} = {host if host is not None else '?'}) is reached; "
        f"{POLLING.format(folder=folder)}`sudo sysctl {host_name}={suggested}` (add `{host_name}={suggested}` "
        "to /etc/sysctl.d/90-inotify.conf to keep it)"
    )


class Observers:
    """One inotify observer and one polling observer, started lazily; ``schedule`` picks per folder."""

    def __init__(self, poll_all: bool = False):
        self.poll_all = poll_all
        self.native: Any = None
        self.polling: Any = None
        self.watches: dict[Path, tuple[str, Any]] = {}  # folder -> ("inotify" | "polling", watch)
        self._verified_at = 0.0
        self._suspect: dict[Path, set[str]] = {}  # missing at the last check: a new folder may just be late
        self._native_error: int | None = None  # why there is no inotify observer (EMFILE, ENOSPC)

    def start(self) -> None:
        """Start the inotify observer (watchdog opens its inotify instance here: past the instance limit,
        every folder is polled, each saying so once)."""
        if not self.poll_all:
            try:
                self.native = Observer()
                self.native.start()
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EMFILE):
                    raise
                self.native, self._native_error = None, exc.errno

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
                self._fall_back(folder, handler, None, exc.errno)
                return
            self.watches[folder] = ("inotify", watch)
            if self.uncovered(folder):
                self._fall_back(folder, handler, watch)
            return
        if self._native_error is not None:
            self._fall_back(folder, handler, None, self._native_error)
            return
        self.watches[folder] = ("polling", self._polling().schedule(handler, str(folder), recursive=True))
        log.info("polling %s (--poll)", display_path(folder), extra={"event": "polling", "folder": str(folder)})

    def _fall_back(self, folder: Path, handler: FileSystemEventHandler, watch: Any, error: int = errno.ENOSPC) -> None:
        """Poll ``folder`` instead, saying which limit (``error``: ENOSPC watches, EMFILE instances) was hit."""
        if watch is not None:
            try:
                self.native.unschedule(watch)
            except (KeyError, ValueError, OSError):
                pass
        log.warning(limit_help(display_path(folder), error), extra={"event": "inotify_limit", "folder": str(folder)})
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

    def verify(self, handlers: Mapping[Path, FileSystemEventHandler]) -> None:
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
