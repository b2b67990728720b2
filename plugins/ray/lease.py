"""A batch run's lease on its output folder: one writer at a time, so that no input is ever written twice.

The lease is a small JSON file in the output (``.lease.json``: host, PID, the PID's start time, when the run
started, its last heartbeat, a run id). A second run into the same output finds it and is refused with a
one-line ``OutputInUse`` naming the holder, unless the lease is stale:

- on the same host, the holder's PID is gone, or belongs to a process started at another time (the PID was
  reused): a driver killed with SIGKILL leaves such a lease, and the next run takes it over at once;
- on another host (an output on shared storage), its heartbeat is older than ``EXPIRES_SECONDS``; the
  holder rewrites it every ``HEARTBEAT_SECONDS``. Hosts' clocks must agree to within a few seconds (NTP).

Every change of the lease (take, heartbeat, release) and every part moved into place happens under an
``fcntl`` lock of a guard file beside it (``.lease.lock``; POSIX record locks, which NFS carries through
its lock manager), so a run that lost its lease (paused past the expiry, then taken over) finds out before
it writes its next part and stops instead: a taker reads what is done only after it holds the lease, so
the two runs never both write one input.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from artimuse_core import ArtiMuseError, display_path

LEASE_NAME = ".lease.json"
GUARD_NAME = ".lease.lock"
#: The holder rewrites its heartbeat this often (seconds).
HEARTBEAT_SECONDS = 10.0
#: A lease from another host whose heartbeat is older than this (seconds) is stale.
EXPIRES_SECONDS = 60.0
#: The run id of a lease file that cannot be read (stale at once).
UNREADABLE = "unreadable"


class OutputInUse(ArtiMuseError):
    """Another live run holds the output's lease."""


class LeaseLost(ArtiMuseError):
    """This run's lease was taken over by another run (it was judged stale): this run stops writing."""


class OutputUnwritable(ArtiMuseError):
    """The output folder cannot be created or written (permissions, read-only or full file system)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease. ``pid_started``: the PID's process start time (epoch seconds; tells a reused PID
    apart); ``started`` and ``heartbeat``: epoch seconds."""

    host: str
    pid: int
    pid_started: float
    started: float
    heartbeat: float
    run_id: str

    def describe(self, now: float | None = None) -> str:
        """``"host web-3, PID 4242, since 2026-12-07 08:03:38 UTC, heartbeat 4 s ago"``."""
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        ago = max(0.0, (now or time.time()) - self.heartbeat)
        return f"host {self.host}, PID {self.pid}, since {since}, heartbeat {ago:.0f} s ago"


def stale_reason(holder: Holder, *, host: str | None = None, now: float | None = None) -> str | None:
    """Why ``holder`` no longer holds its lease (None: it does). ``host`` and ``now`` default to this host
    and this moment (tests pass others)."""
    host = host or socket.gethostname()
    now = time.time() if now is None else now
    if holder.run_id == UNREADABLE:
        return "the lease file was unreadable"
    if holder.host == host:
        started = process_started(holder.pid)
        if started is None:
            return f"PID {holder.pid} on {holder.host} is gone"
        if abs(started - holder.pid_started) > 1.0:
            return f"PID {holder.pid} on {holder.host} is now another process"
        return None
    if now - holder.heartbeat > EXPIRES_SECONDS:
        return f"no heartbeat from {holder.host} for {now - holder.heartbeat:.0f} s"
    return None


def process_started(pid: int) -> float | None:
    """The start time (epoch seconds) of process ``pid`` on this host, or None when there is none."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return None


class Lease:
    """This run's lease on ``folder``: ``acquire`` it, ``holds`` it around each part moved into place, then
    ``release`` it (or use it as a context manager). A heartbeat thread keeps it fresh meanwhile.

    Raises (``acquire``):
        OutputInUse: a live run holds it. OutputUnwritable: the folder cannot be written.
    """

    def __init__(self, folder: str | os.PathLike[str], *, heartbeat_seconds: float = HEARTBEAT_SECONDS):
        self.folder = Path(folder)
        self.path = self.folder / LEASE_NAME
        self.heartbeat_seconds = heartbeat_seconds
        now = time.time()
        pid = os.getpid()
        self.holder = Holder(socket.gethostname(), pid, process_started(pid) or now, now, now, uuid.uuid4().hex)
        self.took_over: str | None = None  # why the lease found was stale, when one was
        self.lost: Holder | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def acquire(self) -> Lease:
        with self._guard():
            current = self._read()
            if current is not None and current.run_id != self.holder.run_id:
                reason = stale_reason(current)
                if reason is None:
                    raise OutputInUse(
                        f"{display_path(self.folder)}: in use by another artimuse batch run ({current.describe()}); "
                        "wait for it to finish, or write to another --output"
                    )
                self.took_over = f"took over a stale lease ({reason})"
            self._write(self.holder)
        self._thread = threading.Thread(target=self._beat, name="artimuse-batch-lease", daemon=True)
        self._thread.start()
        return self

    @contextlib.contextmanager
    def holds(self) -> Iterator[None]:
        """Hold the guard while this run still holds the lease (to move a finished part into place).

        Raises:
            LeaseLost: another run took the lease over.
        """
        with self._guard():
            current = self._read()
            if current is None or current.run_id != self.holder.run_id:
                self._lose(current)
            yield

    def check(self) -> None:
        """Raise ``LeaseLost`` when the heartbeat found the lease taken over."""
        if self.lost is not None:
            self._lose(self.lost)

    def release(self) -> None:
        """Give the lease back (only if it is still this run's); the heartbeat stops."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with contextlib.suppress(OSError), self._guard():
            current = self._read()
            if current is not None and current.run_id == self.holder.run_id:
                self.path.unlink()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                with self._guard():
                    current = self._read()
                    if current is None or current.run_id != self.holder.run_id:
                        self.lost = current or self.holder
                        return
                    self.holder = Holder(**{**asdict(self.holder), "heartbeat": time.time()})
                    self._write(self.holder)
            except OSError:
                continue  # a file system hiccup: the next beat tries again (the expiry allows several)

    def _lose(self, current: Holder | None) -> None:
        who = current.describe() if current is not None and current.run_id != self.holder.run_id else "nobody"
        raise LeaseLost(
            f"{display_path(self.folder)}: another run took over this run's lease (now held by {who}); "
            "this run stopped writing: nothing was written twice"
        )

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            fd = os.open(self.folder / GUARD_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise unwritable(self.folder, exc) from exc
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self) -> Holder | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return Holder(**{name: data[name] for name in Holder.__dataclass_fields__})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            # Unreadable or from an unknown writer: treat it as a lease of nobody alive, so that a
            # half-written file (a crash mid-write cannot make one: it is renamed into place) never locks
            # an output forever.
            return Holder("?", 0, 0.0, 0.0, 0.0, UNREADABLE)

    def _write(self, holder: Holder) -> None:
        temporary = self.path.with_name(f"{LEASE_NAME}.{holder.run_id}.tmp")
        try:
            temporary.write_text(json.dumps(asdict(holder)), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as exc:
            raise unwritable(self.folder, exc) from exc


def unwritable(folder: Path, exc: OSError) -> OutputUnwritable:
    """The one-line error of an output that cannot be written."""
    return OutputUnwritable(f"{display_path(folder)}: cannot write the output here ({exc.strerror or exc})")
