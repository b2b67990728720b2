"""Observer callbacks: cheap bookkeeping only (the model never runs on the observer thread).

Every callback is guarded: an unexpected exception (a symlink loop, a name the library rejects, a bug) is
logged with its traceback and recorded against the file, and the observer thread carries on. Without the
guard one bad event kills watchdog's thread silently and the watcher goes deaf.

The callbacks see the watcher's shared state (``context.WatchContext``) and one action of the daemon's,
``scan`` (a folder created or moved in is caught up on); nothing else of the ``Watcher``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from artimuse_core import display_path

from .context import WatchContext
from .logs import LOGGER as log
from .tracker import should_watch

#: ``scan(folder, root)``: queue the files under ``folder`` (inside the watched ``root``) that the library
#: has not seen as they are now; returns how many.
Scan = Callable[[Path, Path], int]


def guarded(callback: Callable[[Events, FileSystemEvent], None]) -> Callable[[Events, FileSystemEvent], None]:
    @functools.wraps(callback)
    def run(self: Events, event: FileSystemEvent) -> None:
        try:
            callback(self, event)
        except Exception as exc:  # noqa: BLE001 - the observer thread must survive any one event
            self.context.record_internal_error("observer", exc, event.src_path)

    return run


class Events(FileSystemEventHandler):
    """Turns watchdog events under ``root`` into tracker candidates and library moves/deletions."""

    def __init__(self, context: WatchContext, root: Path, scan: Scan):
        self.context, self.root, self.scan = context, root, scan

    def _candidate(self, path: Any) -> None:
        candidate = Path(path)
        ok, reason = should_watch(candidate, self.root)
        if ok:
            self.context.tracker.touch(candidate)
        else:
            log.debug(
                "ignored %s: %s", display_path(path), reason, extra={"event": "ignored", "path": display_path(path)}
            )

    @guarded
    def on_created(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            self.scan(Path(os.fsdecode(event.src_path)), self.root)
        else:
            self._candidate(event.src_path)

    @guarded
    def on_modified(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._candidate(event.src_path)

    @guarded
    def on_closed(self, event: FileSystemEvent) -> None:
        self._candidate(event.src_path)

    @guarded
    def on_moved(self, event: FileSystemEvent) -> None:
        source, destination = Path(os.fsdecode(event.src_path)), Path(os.fsdecode(event.dest_path))
        inside_root = should_watch(destination, self.root)[0] if not event.is_directory else True
        try:
            destination.relative_to(self.root)
        except ValueError:
            inside_root = False
        context, library = self.context, self.context.open_library
        if event.is_directory:
            context.call_library(library.mark_missing_under, source)
            if inside_root:
                self.scan(destination, self.root)
            return
        context.tracker.forget(source)
        if inside_root:
            if context.call_library(library.move, source, destination):
                log.info(
                    "moved %s -> %s (history kept)",
                    display_path(source),
                    display_path(destination),
                    extra={"event": "moved", "path": display_path(destination)},
                )
            self._candidate(event.dest_path)
        else:
            context.call_library(library.mark_missing, source)

    @guarded
    def on_deleted(self, event: FileSystemEvent) -> None:
        path, context = Path(os.fsdecode(event.src_path)), self.context
        context.tracker.forget(path)
        if event.is_directory:
            context.call_library(context.open_library.mark_missing_under, path)
        elif context.call_library(context.open_library.mark_missing, path):
            log.info(
                "deleted %s: marked missing", display_path(path), extra={"event": "missing", "path": display_path(path)}
            )
