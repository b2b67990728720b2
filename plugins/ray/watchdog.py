"""The watchdog of a private Ray instance: when the driver that started it dies without stopping it (SIGKILL,
the OOM killer), the watchdog stops every process that Ray instance left.

Why it is needed: Ray's head processes share the driver's fate, but its agents (``ray::DashboardAgent``,
``ray::RuntimeEnvAgent``) notice the raylet's death and then wait on the dead GCS for minutes before they
exit (measured with Ray 2.60: still running two minutes after a SIGKILL of the driver). A driver cannot run
code after SIGKILL, so a separate process watches it: started before ``ray.init``, in a session of its own
(a Ctrl-C to the terminal does not stop it first), it reads a pipe from the driver, which the kernel closes
however the driver ends. Meanwhile it records, every ``POLL_SECONDS``, every process descending from the
driver that was not there before (so it still knows the agents once their parent, the raylet, is gone);
at the end it sends them SIGTERM, then SIGKILL after ``GRACE_SECONDS``. After a normal ``ray.shutdown()``
nothing is left to stop and it exits at once. psutil compares start times, so a PID reused meanwhile is
never signalled.

    python -m artimuse_batch.watchdog DRIVER_PID [EXCLUDED_PID...]   # stdin: the pipe from the driver
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from typing import IO, Any

POLL_SECONDS = 0.5
GRACE_SECONDS = 5.0


def start(exclude: set[int] | None = None) -> subprocess.Popen[bytes]:
    """Start the watchdog of this process (the driver); ``exclude``: PIDs it must never stop (children the
    driver had before Ray). Keep the returned process referenced: its stdin is the pipe it watches; closing
    it (or this process ending) ends the watch."""
    import psutil

    before = {child.pid for child in psutil.Process().children(recursive=True)} | set(exclude or ())
    command = [sys.executable, "-m", "artimuse_batch.watchdog", str(os.getpid()), *map(str, sorted(before))]
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def watch(driver_pid: int, excluded: set[int], pipe: IO[bytes]) -> int:
    """Track the driver's new descendants until ``pipe`` closes; then stop those still running. Returns how
    many were stopped."""
    import psutil

    excluded = excluded | {os.getpid()}
    tracked: dict[int, psutil.Process] = {}
    try:
        driver = psutil.Process(driver_pid)
    except psutil.NoSuchProcess:
        return 0
    while True:
        try:
            for child in driver.children(recursive=True):
                if child.pid not in excluded and child.pid not in tracked:
                    tracked[child.pid] = child
        except psutil.NoSuchProcess:
            pass  # the driver is gone: the pipe says so next
        readable, _, _ = select.select([pipe], [], [], POLL_SECONDS)
        if readable and not os.read(pipe.fileno(), 4096):
            break
    alive = [p for p in tracked.values() if _running(p)]
    for process in alive:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, still = psutil.wait_procs(alive, timeout=GRACE_SECONDS)
    for process in still:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    return len(alive)


def _running(process: Any) -> bool:
    import psutil

    try:
        return bool(process.is_running()) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def main(argv: list[str]) -> int:
    driver_pid, *excluded = (int(a) for a in argv)
    watch(driver_pid, set(excluded), sys.stdin.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
