"""What makes `artimuse batch` safe to run on a shared output and a shared cluster, without a cluster: the
output's lease (a second run refused, a dead or expired holder taken over, a run that lost its lease writes
nothing), `--retry-failed` replacing failed rows instead of adding a second row, how decoding and scoring
share scarce CPUs, which Ray a run joins (--ray > RAY_ADDRESS > local), the one-line errors of an
unwritable output and of an unreachable cluster, and the private Ray's watchdog. The real Ray runs are in
tests/test_batch_cluster.py (slow)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow", reason="the ray extra (pyarrow) is not installed")
from tests.ray_cluster import require_ray  # noqa: E402

require_ray()

from artimuse_batch import cluster, lease, parts, stages, watchdog  # noqa: E402
from artimuse_core.images import ImageOptions  # noqa: E402
from artimuse_core.testing import FakeEngine  # noqa: E402
from tests.batch_runs import running  # noqa: E402

MODEL_KEY = FakeEngine().provenance.fingerprint


def holder_file(folder, **changes) -> None:
    """Write a lease as another run would have left it."""
    now = time.time()
    data = {"host": socket.gethostname(), "pid": os.getpid(), "pid_started": lease.process_started(os.getpid())}
    data.update(started=now, heartbeat=now, run_id="someone-else")
    data.update(changes)
    (folder / lease.LEASE_NAME).write_text(json.dumps(data))


def test_a_second_run_into_an_output_is_refused_in_one_line(tmp_path):
    folder = parts.prepare(tmp_path / "out.parquet")
    with lease.Lease(folder):
        with pytest.raises(lease.OutputInUse) as refused:
            lease.Lease(folder).acquire()
    message = str(refused.value)
    assert "\n" not in message and "in use by another artimuse batch run" in message
    assert f"PID {os.getpid()}" in message and socket.gethostname() in message
    with lease.Lease(folder) as again:  # released: the next run gets it
        assert again.took_over is None
    assert not (folder / lease.LEASE_NAME).exists()


def test_the_lease_of_a_killed_driver_is_taken_over(tmp_path):
    folder = parts.prepare(tmp_path / "out.parquet")
    code = "import sys, time; from artimuse_batch.lease import Lease; Lease(sys.argv[1]).acquire(); time.sleep(600)"
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)])
    try:
        deadline = time.monotonic() + 60
        while not (folder / lease.LEASE_NAME).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(lease.OutputInUse, match=f"PID {holder.pid}"):
            lease.Lease(folder).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)  # no release: the lease file stays
        holder.wait()
    assert json.loads((folder / lease.LEASE_NAME).read_text())["pid"] == holder.pid
    with lease.Lease(folder) as taken:
        assert taken.took_over == f"took over a stale lease (PID {holder.pid} on {socket.gethostname()} is gone)"


def test_a_reused_pid_holds_no_lease(tmp_path):
    folder = parts.prepare(tmp_path / "out.parquet")
    holder_file(folder, pid_started=lease.process_started(os.getpid()) - 3600)  # our PID, another process's time
    with lease.Lease(folder) as taken:
        assert "is now another process" in taken.took_over


def test_an_unreadable_lease_is_taken_over_saying_so(tmp_path):
    folder = parts.prepare(tmp_path / "out.parquet")
    (folder / lease.LEASE_NAME).write_text("{not json")  # no writer leaves this (leases are renamed into place)
    with lease.Lease(folder) as taken:
        assert taken.took_over == "took over a stale lease (the lease file was unreadable)"
        assert json.loads((folder / lease.LEASE_NAME).read_text())["run_id"] == taken.holder.run_id


def test_another_hosts_lease_expires_with_its_heartbeat(tmp_path):
    folder = parts.prepare(tmp_path / "out.parquet")
    holder_file(folder, host="render-node-7", pid=1, heartbeat=time.time() - 10)
    with pytest.raises(lease.OutputInUse, match="host render-node-7, PID 1, .*heartbeat 1\\d s ago"):
        lease.Lease(folder).acquire()
    holder_file(folder, host="render-node-7", pid=1, heartbeat=time.time() - lease.EXPIRES_SECONDS - 5)
    with lease.Lease(folder) as taken:
        assert "no heartbeat from render-node-7 for 6" in taken.took_over


def test_a_run_that_lost_its_lease_writes_nothing(tmp_path):
    folder = parts.prepare(tmp_path / "out.parquet")
    mine = lease.Lease(folder, heartbeat_seconds=0.05).acquire()
    try:
        table = parts.table_of([])
        parts.write_part(folder, table, mine)  # held: written
        holder_file(folder, host="render-node-7", pid=1)  # another run judged it stale and took it over
        with pytest.raises(lease.LeaseLost, match="another run took over this run's lease .*render-node-7"):
            parts.write_part(folder, table, mine)
        assert len(parts.part_files(folder)) == 1
        assert [p.name for p in folder.iterdir() if p.name.startswith(".tmp")] == []
        deadline = time.monotonic() + 30
        while mine.lost is None and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(lease.LeaseLost):  # the heartbeat noticed too
            mine.check()
    finally:
        mine.release()
    assert json.loads((folder / lease.LEASE_NAME).read_text())["host"] == "render-node-7"  # not ours to remove


def test_the_heartbeat_keeps_the_lease_fresh(tmp_path):
    folder = parts.prepare(tmp_path / "out.parquet")
    with lease.Lease(folder, heartbeat_seconds=0.05):
        first = json.loads((folder / lease.LEASE_NAME).read_text())["heartbeat"]
        deadline = time.monotonic() + 30
        while json.loads((folder / lease.LEASE_NAME).read_text())["heartbeat"] == first:
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.02)


def test_an_unwritable_output_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(lease.OutputUnwritable) as error:
        parts.prepare(tmp_path / "a-file" / "out.parquet")
    assert str(error.value).endswith("out.parquet: cannot write the output here (Not a directory)")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        with pytest.raises(lease.OutputUnwritable, match="Permission denied"):
            parts.prepare(locked / "out.parquet")


def test_the_batch_command_says_an_unwritable_output_in_one_line(run_cli, tmp_path, mixed_images):
    (tmp_path / "a-file").write_text("x")
    result = run_cli("batch", mixed_images[0], "--output", tmp_path / "a-file" / "out.parquet")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].endswith("cannot write the output here (Not a directory)")
    assert "Traceback" not in result.output


def rows_of(keys, status):
    engine = FakeEngine()
    result = [parts.row_of(r, k, MODEL_KEY) for r, k in zip(engine.score([os.fsdecode(k) for k in keys]), keys)]
    for row in result:
        row["status"] = status
    return result


def test_retrying_failed_rows_replaces_them_and_keeps_the_others(tmp_path):
    folder = parts.prepare(tmp_path / "out.parquet")
    good, bad = [b"/a.jpg", b"/b.jpg"], [b"/c.jpg", b"/d.jpg"]
    parts.write_part(folder, parts.table_of(rows_of(good, "scored") + rows_of(bad[:1], "failed")))
    only_failed = parts.write_part(folder, parts.table_of(rows_of(bad[1:], "failed")))
    other_weights = [{**r, "model_key": "other"} for r in rows_of(bad[:1], "failed")]
    parts.write_part(folder, parts.table_of(other_weights))
    assert parts.retire(folder, set(bad), MODEL_KEY) == 2
    assert not only_failed.exists()
    left = sorted((r["key"], r["model_key"]) for r in parts.iter_rows(folder))
    assert left == [(b"/a.jpg", MODEL_KEY), (b"/b.jpg", MODEL_KEY), (b"/c.jpg", "other")]
    assert parts.done_keys(folder, MODEL_KEY) == {b"/a.jpg": "scored", b"/b.jpg": "scored"}


@pytest.mark.parametrize(
    ("cpus", "actors", "gpus", "expected"),
    [
        (1, 1, 0, stages.Placement(1.0, None)),  # --cpus 1: the actor decodes (a decode task could never run)
        (2, 1, 0, stages.Placement(1.0, 0.5)),
        (2, 2, 0, stages.Placement(1.0, None)),
        (1, 2, 0, stages.Placement(0.5, None)),
        (16, 8, 1, stages.Placement(0.5, 0.5)),
    ],
)
def test_decoding_moves_into_the_actors_when_no_cpu_is_left_beside_them(cpus, actors, gpus, expected):
    assert stages.place(cpus, actors, gpus) == expected


def test_an_actor_that_decodes_its_own_batches_scores_the_same(mixed_images):
    keys = np.array([os.fsencode(p) for p in mixed_images[:4]] + [b"/nowhere.jpg"], dtype=object)
    engine = FakeEngine()
    separate = stages.Scorer(engine.spec, MODEL_KEY, engine_factory=lambda spec: engine)
    inside = stages.Scorer(engine.spec, MODEL_KEY, engine_factory=lambda spec: engine, decode_options=ImageOptions())
    two_stages = separate(stages.decode_batch({"key": keys}, ImageOptions())).drop_columns(["scored_at"])
    one_stage = inside({"key": keys}).drop_columns(["scored_at"])
    assert one_stage.equals(two_stages)
    assert one_stage.column("status").to_pylist() == ["scored"] * 4 + ["gone"]


def test_the_ray_address_comes_from_the_flag_then_ray_address_then_local():
    env = {"RAY_ADDRESS": "10.0.0.5:6379"}
    assert cluster.choose_address("ray://head:10001", env) == ("ray://head:10001", "--ray", None)
    assert cluster.choose_address(None, env) == ("10.0.0.5:6379", "RAY_ADDRESS", None)
    assert cluster.choose_address(None, {}) == ("local", "default", None)
    address, source, note = cluster.choose_address("local", env)
    assert (address, source) == ("local", "--ray")
    assert note == "RAY_ADDRESS=10.0.0.5:6379 is set; --ray local starts a private Ray instead"  # never silent


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_unreachable_cluster_is_one_line_at_once(run_cli, mixed_images, tmp_path, scheme, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    address = f"{scheme}127.0.0.1:{closed_port()}"
    started = time.monotonic()
    result = run_cli("batch", mixed_images[0], "--output", tmp_path / "out.parquet", "--ray", address)
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"Error: cannot reach the Ray cluster at {address} (Connection refused)"
    assert time.monotonic() - started < 60  # the probe answers; Ray's own retries take over a minute
    assert not (tmp_path / "out.parquet" / lease.LEASE_NAME).exists()  # the lease was given back


def test_ray_address_from_the_environment_is_used(run_cli, mixed_images, tmp_path, monkeypatch):
    address = f"127.0.0.1:{closed_port()}"
    monkeypatch.setenv("RAY_ADDRESS", address)
    result = run_cli("batch", mixed_images[0], "--output", tmp_path / "out.parquet")
    assert result.output.strip() == f"Error: cannot reach the Ray cluster at {address} (Connection refused)"


@pytest.fixture()
def web_port():
    """A port where a web server (not gRPC) listens, as the dashboard's 8265 does."""
    import http.server
    import threading

    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_a_port_that_is_not_rays_is_one_line(run_cli, mixed_images, tmp_path, scheme, web_port, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    address = f"{scheme}127.0.0.1:{web_port}"
    result = run_cli("batch", mixed_images[0], "--output", tmp_path / "out.parquet", "--ray", address)
    assert result.exit_code == 2, result.output
    what = "Ray Client server" if scheme else "Ray cluster"
    assert result.output.strip() == (
        f"Error: {address} is not a {what}: what listens there does not speak gRPC (a web port, the dashboard's?)"
    )


def test_a_cluster_that_never_answers_is_one_line_after_the_probe_s_timeout():
    with socket.socket() as silent:  # the kernel accepts the connection; nobody ever answers it
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(cluster.ClusterError) as error:
            cluster.probe(address, timeout=0.5)
    assert str(error.value) == f"no answer from the Ray cluster at {address} within 0.5 s"


DRIVER = """
import subprocess, sys, time
from artimuse_batch import watchdog
w = watchdog.start()
stubborn = subprocess.Popen([sys.executable, "-c", STUBBORN])
parent = subprocess.Popen([sys.executable, "-c", ORPHANING], stdout=subprocess.PIPE, text=True)
orphan = int(parent.stdout.readline())
parent.wait()
print(w.pid, stubborn.pid, orphan, flush=True)
time.sleep(600)
"""
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
ORPHANING = (
    "import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
    "print(c.pid, flush=True); time.sleep(5)"
)


@pytest.mark.slow  # SIGTERM's grace before SIGKILL, and an orphan's parent to outlive: ~10 s
def test_the_watchdog_stops_what_a_killed_driver_left(tmp_path):
    """A stand-in driver starts the watchdog, then a child that ignores SIGTERM and a grandchild whose
    parent exits (an orphan, as Ray's agents become when the raylet dies); after a SIGKILL of the driver
    neither is left running."""
    import psutil

    script = tmp_path / "driver.py"
    script.write_text(f"STUBBORN = {STUBBORN!r}\nORPHANING = {ORPHANING!r}\n{DRIVER}")
    driver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        watcher, *left = (psutil.Process(int(pid)) for pid in driver.stdout.readline().split())
        assert all(running(p) for p in left)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 60
        while any(running(p) for p in [*left, watcher]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [p.pid for p in left if running(p)] == [], "left running after the driver died"
        assert not running(watcher)
    finally:
        for process in psutil.Process().children(recursive=True):
            if process.pid != os.getpid() and "driver.py" in " ".join(process.cmdline()):
                process.kill()


def test_the_watchdog_of_a_clean_exit_stops_nothing(tmp_path):
    with subprocess.Popen(["sleep", "60"]) as bystander:
        w = watchdog.start()
        assert w.stdin is not None
        w.stdin.close()
        assert w.wait(timeout=60) == 0
        assert bystander.poll() is None  # a child from before the watch is never touched
        bystander.kill()


def test_a_ray_without_its_client_extra_says_what_to_install(run_cli, mixed_images, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setitem(sys.modules, "grpc", None)  # `import grpc` raises ImportError: ray[data] alone
    result = run_cli("batch", mixed_images[0], "--output", tmp_path / "out.parquet", "--ray", "ray://127.0.0.1:1")
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith(
        "Error: Ray clusters (--ray HOST:PORT, ray://HOST:PORT) need ray[client], the optional 'ray' extra: "
        "pip install 'artimuse-studio[ray]'"
    )
