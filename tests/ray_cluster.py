"""A real multi-process Ray cluster for the tests: `ray start --head` and one more node joining it with
`ray start --address`, all on loopback ports picked free, a small object store, usage stats off, and a
short temporary `--temp-dir` (Ray's unix sockets live under it; their paths must stay under 108 bytes).

Each `ray start` runs in a session of its own, so every process of a node (its GCS, raylet, agents and
workers, which Ray puts in process groups of their own) shares that session id: `stop` ends exactly those,
by session, never with `ray stop` (which stops every Ray on the machine). The nodes outlive `ray start`
(daemons, not children), so a guard process holds a pipe from the test run: should the run die before its
teardown (SIGKILL, a CI time-out's SIGTERM), the pipe closes and the guard ends those sessions. Also
runnable by hand:

    python -m tests.ray_cluster            # starts one, prints its addresses, stops it on Enter
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
OBJECT_STORE_BYTES = 100_000_000
#: Environment variables that would point a test's Ray at something else than the cluster it started.
RAY_VARIABLES = ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


def require_ray() -> None:
    """Skip the calling test module where the ray extra is not installed; in CI (``CI`` set), which installs
    it (.ci/run), fail instead: the Ray tests must run there, never be skipped."""
    import pytest

    try:
        import ray  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the ray extra is not installed ({exc}): CI installs it, so its tests must run there")
        pytest.skip("the ray extra is not installed", allow_module_level=True)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def clean_environment(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without Ray's address and token variables, with ``HOME`` set to ``home``
    (a private Ray generates a token into ``~/.ray/auth_token``; tests keep the real home clean)."""
    env = {k: v for k, v in os.environ.items() if k not in RAY_VARIABLES}
    env.update(HOME=str(home), RAY_USAGE_STATS_ENABLED="0", **extra)
    return env


@dataclass
class RayCluster:
    """A head node (with a Ray Client server) plus ``workers`` more nodes, ``cpus`` logical CPUs each, in
    ``root`` (a folder of its own: its Ray files and HOME; removed by the guard should the run die).
    ``auth_token``: start it with token authentication (``RAY_AUTH_MODE=token``)."""

    root: Path
    cpus: int = 1
    workers: int = 1
    auth_token: str | None = None
    gcs_port: int = 0
    client_port: int = 0
    sessions: list[int] = field(default_factory=list)
    guard: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        """The GCS address a driver on the cluster's network joins (``--ray HOST:PORT``)."""
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def client_address(self) -> str:
        return f"ray://127.0.0.1:{self.client_port}"

    @property
    def temp_dir(self) -> Path:
        return self.root / "ray"

    def environment(self) -> dict[str, str]:
        auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.auth_token} if self.auth_token else {}
        return clean_environment(self.root / "home", **(auth or {"RAY_AUTH_MODE": "disabled"}))

    def start(self) -> RayCluster:
        (self.root / "home").mkdir(parents=True, exist_ok=True)
        self.guard = subprocess.Popen(
            [sys.executable, __file__, "guard", str(self.root)],
            stdin=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.gcs_port, self.client_port = free_ports(2)
        self._node("--head", "--port", str(self.gcs_port), "--ray-client-server-port", str(self.client_port))
        for _ in range(self.workers):
            self._node("--address", self.address)
        self.wait_for_nodes(1 + self.workers)
        return self

    def _node(self, *where: str) -> None:
        agent, agent_grpc, runtime_env, metrics = free_ports(4)
        command = [str(VENV_BIN / "ray"), "start", *where, "--node-ip-address", "127.0.0.1"]
        command += ["--num-cpus", str(self.cpus), "--object-store-memory", str(OBJECT_STORE_BYTES)]
        command += ["--temp-dir", str(self.temp_dir), "--disable-usage-stats"]
        command += ["--include-dashboard", "false"] if "--head" in where else []
        command += ["--dashboard-agent-listen-port", str(agent), "--dashboard-agent-grpc-port", str(agent_grpc)]
        command += ["--runtime-env-agent-port", str(runtime_env), "--metrics-export-port", str(metrics)]
        process = subprocess.Popen(
            command,
            env=self.environment(),
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.sessions.append(process.pid)  # the session leader's PID is the session id
        if self.guard is not None and self.guard.stdin is not None:
            self.guard.stdin.write(f"{process.pid}\n")
            self.guard.stdin.flush()
        out, _ = process.communicate(timeout=180)
        if process.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray start {' '.join(where)} failed ({process.returncode}):\n{out[-3000:]}")

    def query(self, code: str) -> object:
        """Run ``code`` (which sets ``result``) in a fresh driver joined to the cluster; ``result`` as JSON."""
        script = f"import json, ray\nray.init({self.address!r}, log_to_driver=False)\n{code}\nprint(json.dumps(result))"
        done = subprocess.run(
            [sys.executable, "-c", script], env=self.environment(), capture_output=True, text=True, timeout=180
        )
        if done.returncode != 0:
            raise RuntimeError(f"cluster query failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def wait_for_nodes(self, count: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            alive = self.query("result = sum(1 for n in ray.nodes() if n['Alive'])")
            if alive == count or time.monotonic() > deadline:
                assert alive == count, f"{alive} of {count} nodes alive"
                return
            time.sleep(1)

    def live_actors_of_driver(self, driver_pid: int) -> list[str]:
        """Class names of the live actors of the job whose driver had ``driver_pid``."""
        return self.query(  # type: ignore[return-value]
            "from ray._private import state\n"
            f"jobs = [j['JobID'] for j in state.jobs() if j['DriverPid'] == {driver_pid}]\n"
            "result = sorted(a['ActorClassName'] for a in state.actors().values()\n"
            "                if a['JobID'] in jobs and a['State'] != 'DEAD')"
        )

    def live_actor_classes(self) -> list[str]:
        """Class names of every live actor of every job (the querying driver has none)."""
        return self.query(  # type: ignore[return-value]
            "from ray._private import state\n"
            "result = sorted(a['ActorClassName'] for a in state.actors().values() if a['State'] != 'DEAD')"
        )

    def processes(self) -> list[int]:
        """PIDs of every live process of this cluster's nodes (by session)."""
        return session_processes(set(self.sessions))

    def stop(self, grace: float = 5) -> None:
        """SIGTERM every process of the cluster's sessions, SIGKILL what is left after ``grace`` seconds."""
        left = end_sessions(set(self.sessions), grace)
        if self.guard is not None:
            if self.guard.stdin is not None:
                self.guard.stdin.close()  # nothing left for it to end: it exits
            self.guard.wait(timeout=60)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        assert not left, f"Ray processes left running: {left}"


def session_processes(sessions: set[int]) -> list[int]:
    """PIDs of the live processes (not zombies) whose session id is in ``sessions``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.getsid(int(entry)) in sessions and not _zombie(int(entry)):
                    found.append(int(entry))
    return found


def end_sessions(sessions: set[int], grace: float = 5) -> list[int]:
    """SIGTERM every process of ``sessions``, SIGKILL what is left after ``grace`` seconds; what is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10)):
        for pid in session_processes(sessions):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while session_processes(sessions) and time.monotonic() < deadline:
            time.sleep(0.2)
    return session_processes(sessions)


def guard(pipe, root: Path) -> None:
    """Read session ids, one a line, until the pipe closes (the test run ended, however); end them and
    remove the cluster's folder ``root``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C to the run is the run's to handle
    sessions = {int(line) for line in pipe if line.strip()}
    end_sessions(sessions)
    shutil.rmtree(root, ignore_errors=True)


def _zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0] == "Z"


def short_temp_dir(prefix: str = "amr-") -> Path:
    """A short folder under /tmp (not pytest's long tmp_path: Ray's socket paths must stay short)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


if __name__ == "__main__" and sys.argv[1:2] == ["guard"]:
    guard(sys.stdin, Path(sys.argv[2]))
elif __name__ == "__main__":
    root = short_temp_dir()
    ray_cluster = RayCluster(root).start()
    print(f"GCS {ray_cluster.address}, Ray Client {ray_cluster.client_address}, temp {ray_cluster.temp_dir}")
    try:
        input("Enter stops it. ")
    finally:
        ray_cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
