"""`artimuse watch`: a folder-watching daemon, a thin adapter over the engine and the library's job queue."""

from .daemon import Watcher, WatcherSettings

__all__ = ["Watcher", "WatcherSettings"]
