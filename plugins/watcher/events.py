"""Observer callbacks: cheap bookkeeping only (the model never runs on the observer thread).

Every callback is guarded: an unexpected exception (a symlink loop, a name the library rejects, a bug) is
logged with its traceback and recorded against the file, and the observer thread carries on. Without the
guard one bad event kills watchdog's thread silently and the watcher goes deaf.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from artimuse_core.paths import display_path

from .logs import LOGGER as log
from .tracker import should_watch

if TYPE_CHECKING:
    from .daemon import Watcher


def guarded(callback: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(callback)
    def run(self: Events, event: FileSystemEvent) -> None:
        try:
            callback(self, event)
        except Exception as exc:  # noqa: BLE001 - the observer thread must survive any one event
            self.watcher.unexpected("observer", exc, event.src_path)

    return run


class Events(FileSystemEventHandler):
    """Turns watchdog events under ``root`` into tracker candidates and library moves/deletions."""

    def __init__(self, watcher: Watcher, root: Path):
        self.watcher, self.root = watcher, root

    def _candidate(self, path: Any) -> None:
        candidate = Path(path)
        ok, reason = should_watch(candidate, self.root)
        if ok:
            self.watcher.tracker.touch(candidate)
        else:
            log.debug(
                "ignored %s: %s", display_path(path), reason, extra={"event": "ignored", "path": display_path(path)}
            )

    @guarded
    def on_created(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            self.watcher.scan(Path(event.src_path), self.root)
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
        source, destination = Path(event.src_path), Path(event.dest_path)
        inside_root = should_watch(destination, self.root)[0] if not event.is_directory else True
        try:
            destination.relative_to(self.root)
        except ValueError:
            inside_root = False
        library = self.watcher.library
        if event.is_directory:
            self.watcher.safely(library.mark_missing_under, source)
            if inside_root:
                self.watcher.scan(destination, self.root)
            return
        self.watcher.tracker.forget(source)
        if inside_root:
            if self.watcher.safely(library.move, source, destination):
                log.info(
                    "moved %s -> %s (history kept)",
                    display_path(source),
                    display_path(destination),
                    extra={"event": "moved", "path": display_path(destination)},
                )
            self._candidate(event.dest_path)
        else:
            self.watcher.safely(library.mark_missing, source)

    @guarded
    def on_deleted(self, event: FileSystemEvent) -> None:
        path = Path(event.src_path)
        self.watcher.tracker.forget(path)
        if event.is_directory:
            self.watcher.safely(self.watcher.library.mark_missing_under, path)
        elif self.watcher.safely(self.watcher.library.mark_missing, path):
            log.info(
                "deleted %s: marked missing", display_path(path), extra={"event": "missing", "path": display_path(path)}
            )
