"""Which files are complete: a file is ready once its size and mtime have not changed for the debounce
interval. An empty file is ready too (the door records it once as "empty file (0 bytes)"; if it grows
later, the new version is queued and scored); a file that cannot be examined (a symlink loop, no
permission, a dangling link) is ready at once, so the door records its error instead of it waiting for
ever. Exports written as temp-then-rename, browser .part/.crdownload files, hidden files and non-image names
never become candidates; symlinks are not followed out of the watched folders."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from artimuse_core import inside, is_image_name


@dataclass
class _Seen:
    size: int
    mtime: float
    stable_since: float


def should_watch(path: Path, root: Path) -> tuple[bool, str]:
    """(True, '') for an image file we should score; (False, reason) otherwise."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        return False, "outside the watched folder"
    if any(part.startswith(".") for part in relative.parts):
        return False, "hidden"
    if not is_image_name(path):
        return False, "not an image name (temp, partial download or other file)"
    try:
        if path.is_symlink() and not inside(path, root):
            return False, "symlink pointing outside the watched folder"
    except (OSError, RuntimeError):  # a symlink loop: the door records it as that file's error
        return True, ""
    return True, ""


class StabilityTracker:
    """Candidates waiting for their writes to settle. Thread-safe: the observer adds, the settler polls."""

    def __init__(self, debounce_s: float):
        self.debounce_s = debounce_s
        self._files: dict[Path, _Seen | None] = {}
        self._lock = threading.Lock()

    def touch(self, path: Path) -> None:
        with self._lock:
            self._files[path] = None  # re-examined from scratch at the next poll

    def add(self, path: Path) -> None:
        """Like ``touch`` for a scan: a file already settling keeps its clock."""
        with self._lock:
            self._files.setdefault(path, None)

    def forget(self, path: Path) -> None:
        with self._lock:
            self._files.pop(path, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._files)

    def ready(self, now: float | None = None) -> list[tuple[Path, int, float]]:
        """Files unchanged for the debounce interval: (path, size, mtime). They leave the tracker."""
        now = time.monotonic() if now is None else now
        done = []
        with self._lock:
            items = list(self._files.items())
        for path, seen in items:
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                self.forget(path)  # deleted or renamed away (temp-then-rename): the new name has its own event
                if os.path.islink(path):  # a dangling symlink: the door says so (once per version)
                    done.append((path, 0, 0.0))
                continue
            except OSError:
                self.forget(path)
                done.append((path, 0, 0.0))  # unexaminable: the door says why (once per version)
                continue
            with self._lock:
                if path not in self._files:
                    continue
                current = self._files[path]
                if current is not seen:  # touched again meanwhile
                    continue
                if seen is None or (seen.size, seen.mtime) != (stat.st_size, stat.st_mtime):
                    self._files[path] = _Seen(stat.st_size, stat.st_mtime, now)
                elif now - seen.stable_since >= self.debounce_s:
                    del self._files[path]
                    done.append((path, stat.st_size, stat.st_mtime))
        return done
