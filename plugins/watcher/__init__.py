"""`artimuse watch`: a folder-watching daemon, a thin adapter over the engine and the library's job queue.

Modules: ``daemon`` (the ``Watcher``: start, the settler, discovery, stop), ``context`` (what its threads
share: settings, tracker, heartbeat, guards), ``events`` (observer callbacks), ``work`` (the one thread that
runs the model), ``tracker``, ``observing``, ``heartbeat``, ``logs``, ``service``.
"""

from .context import WatcherSettings
from .daemon import Watcher

__all__ = ["Watcher", "WatcherSettings"]
