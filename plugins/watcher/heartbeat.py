"""Is the watcher alive, and what is it doing? Two facts `artimuse status` can trust:

- an OS lock (``fcntl.flock``) held for the daemon's life on ``<library>.watch.lock``: one watcher per library,
  so two daemons never score the same job twice; the lock file names its holder (pid,
  host, start time) for the message a second watcher prints. The kernel drops the lock when the holder dies,
  even by ``kill -9``: a stale lock file never blocks a restart.
- a heartbeat file (``run/watcher.json``) rewritten by the worker and settler loops as they go round, with
  the state (``starting`` while the model loads, ``running``, ``waiting`` with the reason while the library
  is unavailable (a full disk, a lock held too long), ``failed`` with the reason) and each loop's last beat.
  A pid that is alive is not enough: a thread may be dead or stuck; a beat is.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from .logs import LOGGER as log

#: A loop that has not beaten for this long (seconds) is reported as stuck. The settler beats every
#: debounce/4 s; the worker beats per image scored, per critique token and while idle, but one batch of a
#: big model on a CPU may take minutes before its first image is done.
STALE_AFTER_S = {"settler": 60.0, "worker": 900.0}
#: The heartbeat file is rewritten at most this often (seconds), however fast the loops go round.
WRITE_EVERY_S = 1.0

try:
    import fcntl
except ImportError:  # Windows: no flock; one watcher per library is then the user's business
    fcntl = None  # type: ignore[assignment]


class AlreadyWatching(Exception):
    """Another live watcher holds this library's lock; the message names it."""


class LibraryLock:
    """The one-watcher-per-library lock (see the module docstring)."""

    def __init__(self, path: Path):
        self.path = path
        self._handle: Any = None

    def acquire(self) -> None:
        """Take the lock or raise ``AlreadyWatching`` naming the holder (pid, host, since when)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the daemon's life
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                    raise
                handle.seek(0)
                holder = _parse(handle.read())
                handle.close()
                raise AlreadyWatching(
                    f"another watcher already watches this library (pid {holder.get('pid', '?')} on "
                    f"{holder.get('host', '?')}, since {_when(holder.get('started_at'))}): stop it first "
                    f"(lock {self.path})"
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started_at": time.time()}))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing drops the flock
            self._handle = None


class Heartbeat:
    """The heartbeat file: state, folders, counters and each loop's last beat, written aside and renamed into
    place (a reader never sees half a file). A write that fails (disk full, read-only) is logged once per
    kind of failure and never stops the daemon; the beats go on and the next write retries."""

    def __init__(self, path: Path, folders: list[str]):
        self.path = path
        self.info: dict[str, Any] = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": time.time(),
            "state": "starting",
            "folders": folders,
            "polling": [],
            "processed": 0,
            "beats": {},
            "error": None,
        }
        self._lock = threading.Lock()
        self._written_at = 0.0
        self._write_error: str | None = None

    def beat(self, loop: str, force: bool = False, **fields: Any) -> None:
        """``loop`` is alive now; ``fields`` update the file (state, processed...). Cheap: writes at most
        every ``WRITE_EVERY_S`` unless ``force``."""
        with self._lock:
            self.info["beats"][loop] = time.time()
            self.info.update(fields)
            if not force and time.monotonic() - self._written_at < WRITE_EVERY_S:
                return
            self._written_at = time.monotonic()
            text = json.dumps(self.info)
        self._write(text)

    def _write(self, text: str) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(text)
            os.replace(partial, self.path)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT) and self._overwrite(text):
                partial.unlink(missing_ok=True)
                return  # a full disk: written in place, in the blocks the file already has
            message = f"cannot write the status file {self.path}: {exc.strerror or exc}"
            if message != self._write_error:  # one line per kind of failure, not one per beat
                log.error(
                    "%s; still working, `artimuse status` may be out of date",
                    message,
                    extra={"event": "status_error", "error": message},
                )
                self._write_error = message
            try:
                partial.unlink()
            except OSError:
                pass
            return
        if self._write_error:
            log.info("status file written again", extra={"event": "status_ok"})
            self._write_error = None

    def _overwrite(self, text: str) -> bool:
        """Rewrite the existing file in place (no new file, so no new space on a full disk; a reader may
        see it half-written for a moment and reads that as unknown, not as a state)."""
        try:
            with open(self.path, "r+", encoding="utf-8") as handle:
                handle.write(text)
                handle.truncate()
            return True
        except OSError:
            return False

    def remove(self) -> None:
        try:
            self.path.unlink()
        except OSError:
            pass


def read_heartbeat(status_file: Path, now: float | None = None) -> dict[str, Any]:
    """What the heartbeat file says, checked: ``state`` is one of ``starting``, ``running``, ``waiting`` (alive,
    backing off until the library is available again; ``error`` says why), ``stuck`` (alive but a loop has
    not beaten for its ``STALE_AFTER_S``), ``failed`` (exited non-zero; ``error`` says why),
    ``killed`` (its pid is gone without a clean stop) or ``not running`` (no file)."""
    now = time.time() if now is None else now
    empty: dict[str, Any] = {"state": "not running", "running": False, "pid": None, "folders": [], "workers": []}
    if not status_file.is_file():
        return empty
    try:
        data = json.loads(status_file.read_text())
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return dict(empty, state="killed", stale_status_file=True)
    local = data.get("host") == socket.gethostname()
    alive = _alive(pid) if local else True
    state = data.get("state", "running")
    beats = {k: now - v for k, v in (data.get("beats") or {}).items()}
    if state == "failed":
        pass
    elif not alive:
        state = "killed"
    elif state == "running" and any(age > STALE_AFTER_S.get(loop, 60.0) for loop, age in beats.items()):
        state = "stuck"
    worker = {
        "pid": pid,
        "host": data.get("host"),
        "state": state,
        "started_at": data.get("started_at"),
        "beat_ages_s": {k: round(v, 1) for k, v in beats.items()},
        "polling": data.get("polling", []),
        "processed": data.get("processed", 0),
        "error": data.get("error"),
    }
    return {
        "state": state,
        "running": state in ("starting", "running", "waiting", "stuck"),
        "pid": pid,
        "folders": data.get("folders", []),
        "started_at": data.get("started_at"),
        "stale_status_file": state in ("killed",),
        "error": data.get("error"),
        "workers": [worker] if alive and state != "failed" else [],
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _parse(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


def _when(stamp: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(float(stamp)))
    except (TypeError, ValueError):
        return "?"
