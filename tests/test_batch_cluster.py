"""`artimuse batch --ray HOST:PORT` against a REAL multi-process Ray cluster (slow): a head node with a Ray
Client server and one more node, started for this module by `ray start` on loopback ports
(tests/ray_cluster.py) and stopped by session at the end, plus a second, token-authenticated head.

Every run is the user's path: `artimuse batch` as a process of its own. Checked: the scores equal
`artimuse score`'s; two runs at once into one output write every input once (one is refused); a driver
killed with SIGKILL leaves no live actor on the cluster and the next run takes its lease over and
finishes with every input exactly once; SIGTERM writes the finished rows and stops the workers; Ray
Client (`ray://`) works; `--retry-failed` scores failed rows again where a plain resume keeps them;
RAY_ADDRESS is honoured; a token-authenticated cluster refuses a client without its token in one line.

Exactness: as tests/test_batch_ray.py explains, the engine's float32 results move by a few ULPs with which
images share a forward pass; the comparison runs both sides with batch size 1."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import time

import pytest

from tests.ray_cluster import require_ray

require_ray()
pq = pytest.importorskip("pyarrow.parquet")

from tests.batch_runs import (  # noqa: E402
    CORRUPT,
    batch_command,
    counts,
    finish,
    inputs_of,
    last_line,
    make_corpus,
    run,
    start,
    start_and_wait_for_rows,
    stop,
    table,
)
from tests.ray_cluster import RayCluster, short_temp_dir  # noqa: E402

pytestmark = pytest.mark.slow

GOOD = 80
INPUTS = GOOD + len(CORRUPT) + 1
#: Ray Data's own cluster-wide actors (detached: they serve every job and outlive each).
SYSTEM_ACTORS = {"_StatsActor", "_AutoscalingCoordinatorActor", "ActorLocationTracker"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("cluster_corpus"), GOOD)


@pytest.fixture(scope="module")
def expected(corpus, tiny_chat):
    """`artimuse score --no-save` on the same folder: path -> its JSON row."""
    from click.testing import CliRunner

    from artimuse_cli.main import AppContext, cli

    result = CliRunner().invoke(
        cli,
        ["score", str(corpus), "--no-save", "--format", "json", "--model", str(tiny_chat), "--batch-size", "1"],
        obj=AppContext(),
    )
    rows = json.loads(result.stdout)
    assert len(rows) == INPUTS
    return {row["path"]: row for row in rows}


@pytest.fixture(scope="module")
def ray_cluster():
    root = short_temp_dir()
    started = RayCluster(root, cpus=1, workers=1).start()
    yield started
    started.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def env(ray_cluster, tmp_path):
    """A driver's environment: no RAY_ADDRESS, no token, its own ArtiMuse home."""
    return {**ray_cluster.environment(), "ARTIMUSE_HOME": str(tmp_path / "home")}


def wait_for_no_live_actors(ray_cluster, driver_pid: int) -> list[str]:
    deadline = time.monotonic() + 120
    while (alive := ray_cluster.live_actors_of_driver(driver_pid)) and time.monotonic() < deadline:
        time.sleep(1)
    return alive


def test_a_batch_on_the_cluster_from_ray_address_equals_artimuse_score(
    ray_cluster, env, corpus, tiny_chat, expected, tmp_path
):
    output = tmp_path / "results.parquet"
    command = batch_command(corpus, output, tiny_chat, "--json")  # no --ray: RAY_ADDRESS says where
    first = run(command, {**env, "RAY_ADDRESS": ray_cluster.address})
    assert first.returncode == 1, first.stderr  # 1: the corrupt inputs failed, as `artimuse score` says
    summary = json.loads(first.stdout)
    assert summary["ray"] == f"Ray: the cluster at {ray_cluster.address} (from RAY_ADDRESS)"
    assert (summary["scored"], summary["failed"]) == (GOOD, len(CORRUPT) + 1)
    rows = table(output)
    assert len(rows) == INPUTS
    for row in rows:
        want = expected[os.fsdecode(row["key"])]
        assert row["status"] == want["status"], row["path"]
        if want["status"] == "scored":
            assert abs(row["score"] - want["score"]) < 1e-5, row["path"]
            assert abs(row["std"] - want["std"]) < 1e-5, row["path"]
            assert row["category"] == want["category"], row["path"]
        else:
            assert (row["error_kind"], row["error"]) == (want["error_kind"], want["error"])

    again = run([*command, "--ray", ray_cluster.address], env)
    assert again.returncode == 0, again.stderr
    assert (json.loads(again.stdout)["scored"], json.loads(again.stdout)["skipped"]) == (0, INPUTS)
    assert f"{INPUTS} skipped (already in {output}; {len(CORRUPT) + 1} of them failed: --retry-failed" in again.stderr
    assert counts(output, inputs_of(corpus)) == {"rows": INPUTS, "duplicates": 0, "lost": 0}


def test_two_runs_at_once_into_one_output_write_every_input_once(ray_cluster, env, corpus, tiny_chat, tmp_path):
    output = tmp_path / "shared.parquet"
    command = batch_command(corpus, output, tiny_chat, "--ray", ray_cluster.address)
    both = [start(command, env, tmp_path), start(command, env, tmp_path)]
    done = [(p.pid, *finish(p)[::2]) for p in both]
    refused = [(pid, err) for pid, code, err in done if code == 2]
    finished = [(pid, err) for pid, code, err in done if code == 1]
    assert len(refused) == 1 and len(finished) == 1, [(code, last_line(err)) for _, code, err in done]
    holder = finished[0][0]
    assert last_line(refused[0][1]).startswith(f"Error: {output}: in use by another artimuse batch run (host ")
    assert f"PID {holder}, since " in refused[0][1] and "\n" not in refused[0][1].strip()
    found = counts(output, inputs_of(corpus))
    print(f"two runs at once into one output: {found} for {INPUTS} inputs")
    assert found == {"rows": INPUTS, "duplicates": 0, "lost": 0}


def test_a_driver_killed_outright_leaves_no_actor_and_the_next_run_finishes_exactly_once(
    ray_cluster, env, corpus, tiny_chat, expected, tmp_path
):
    output = tmp_path / "killed.parquet"
    command = batch_command(corpus, output, tiny_chat, "--ray", ray_cluster.address, batch_size=2)
    driver = start_and_wait_for_rows(command, env, output, 10)
    stop(driver, signal.SIGKILL)
    killed_at = len(table(output))
    assert 10 <= killed_at < INPUTS
    assert wait_for_no_live_actors(ray_cluster, driver.pid) == []  # the job's actors died with its driver

    finish = run(command, env)
    assert finish.returncode == 1, finish.stderr
    assert f"took over a stale lease (PID {driver.pid} on " in finish.stderr
    assert f"{killed_at} skipped" in finish.stderr
    found = counts(output, inputs_of(corpus))
    print(f"SIGKILL at {killed_at} rows, then resume: {found} for {INPUTS} inputs")
    assert found == {"rows": INPUTS, "duplicates": 0, "lost": 0}
    for row in table(output):
        if row["status"] == "scored":  # batches of 2 in Ray's order: the engine's batch contract
            assert abs(row["score"] - expected[os.fsdecode(row["key"])]["score"]) < 1e-4


def test_sigterm_writes_the_finished_rows_and_stops_the_workers(ray_cluster, env, corpus, tiny_chat, tmp_path):
    output = tmp_path / "stopped.parquet"
    command = batch_command(corpus, output, tiny_chat, "--ray", ray_cluster.address)
    driver = start_and_wait_for_rows(command, env, output, 10)
    err = stop(driver, signal.SIGTERM)
    assert driver.returncode == 128 + signal.SIGTERM, err
    line = last_line(err)
    assert line.startswith("interrupted by SIGTERM: ") and line.endswith("run the same command again to resume")
    written = len(table(output))
    assert f"{written - sum(1 for r in table(output) if r['status'] == 'failed')} scored" in line
    assert wait_for_no_live_actors(ray_cluster, driver.pid) == []
    assert not (output / ".lease.json").exists()  # given back: the next run needs no take-over

    finish = run(command, env)
    assert "took over" not in finish.stderr and f"{written} skipped" in finish.stderr
    assert counts(output, inputs_of(corpus)) == {"rows": INPUTS, "duplicates": 0, "lost": 0}


def test_ray_client_runs_the_plan_on_the_cluster_and_its_actors_die_with_the_client(
    ray_cluster, env, corpus, tiny_chat, tmp_path
):
    output = tmp_path / "client.parquet"
    command = batch_command(corpus, output, tiny_chat, "--ray", ray_cluster.client_address)
    driver = start_and_wait_for_rows(command, env, output, 10)
    running = ray_cluster.live_actor_classes()
    assert "Coordinator" in running and any(name.startswith("MapWorker") for name in running), running
    stop(driver, signal.SIGKILL)
    deadline = time.monotonic() + 180  # the client server keeps a session 30 s for a reconnect
    while time.monotonic() < deadline and set(running) & set(ray_cluster.live_actor_classes()) - SYSTEM_ACTORS:
        time.sleep(2)
    assert set(ray_cluster.live_actor_classes()) & set(running) - SYSTEM_ACTORS == set()

    done = run([*command, "--json"], env)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["ray"] == f"Ray: the cluster at {ray_cluster.client_address} (from --ray)"
    assert "Traceback" not in done.stderr and "took over a stale lease" in done.stderr
    found = counts(output, inputs_of(corpus))
    print(f"Ray Client run SIGKILLed, then resumed: {found} for {INPUTS} inputs")
    assert found == {"rows": INPUTS, "duplicates": 0, "lost": 0}


def test_retry_failed_scores_failed_rows_again_and_a_plain_resume_keeps_them(ray_cluster, env, tiny_chat, tmp_path):
    corpus = make_corpus(tmp_path / "few", 4)
    output = tmp_path / "retry.parquet"
    command = batch_command(corpus, output, tiny_chat, "--ray", ray_cluster.address, "--json")
    assert run(command, env).returncode == 1
    shutil.copy(corpus / "img001.png", corpus / "garbage.png")  # one failed input is fixed meanwhile

    plain = run(command, env)
    assert plain.returncode == 0 and json.loads(plain.stdout)["skipped_failed"] == len(CORRUPT) + 1
    assert {r["path"]: r["status"] for r in table(output)}[str(corpus / "garbage.png")] == "failed"

    retry = run([*command, "--retry-failed"], env)
    assert retry.returncode == 1, retry.stderr  # the inputs still broken fail again
    summary = json.loads(retry.stdout)
    assert (summary["retried"], summary["scored"], summary["failed"]) == (len(CORRUPT) + 1, 1, len(CORRUPT))
    assert {r["path"]: r["status"] for r in table(output)}[str(corpus / "garbage.png")] == "scored"
    assert counts(output, inputs_of(corpus)) == {"rows": len(inputs_of(corpus)), "duplicates": 0, "lost": 0}


@pytest.mark.parametrize("mistake", ["ray:// before the GCS port", "no ray:// before the client port"])
def test_a_port_of_the_other_kind_says_which_form_it_takes(ray_cluster, env, tiny_chat, tmp_path, mistake):
    if mistake.startswith("ray://"):
        address, hint = f"ray://{ray_cluster.address}", "a cluster's GCS port (6379) takes HOST:PORT without ray://"
    else:
        address, hint = (
            ray_cluster.client_address.removeprefix("ray://"),
            "a Ray Client port (10001) takes ray://HOST:PORT",
        )
    corpus = make_corpus(tmp_path / "one", 1)
    done = run(batch_command(corpus, tmp_path / "out.parquet", tiny_chat, "--ray", address), env, timeout=120)
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and line.startswith(f"Error: {address} does not answer as a Ray ") and line.endswith(hint)


@pytest.fixture(scope="module")
def token_cluster():
    root = short_temp_dir()
    started = RayCluster(root, cpus=1, workers=0, auth_token=secrets.token_hex(32)).start()
    yield started
    started.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("client", [False, True], ids=["gcs", "ray-client"])
def test_a_token_authenticated_cluster_takes_only_its_token(token_cluster, tiny_chat, tmp_path, client):
    corpus = make_corpus(tmp_path / "few", 3)
    address = token_cluster.client_address if client else token_cluster.address
    command = batch_command(corpus, tmp_path / "out.parquet", tiny_chat, "--ray", address)
    right = {**token_cluster.environment(), "ARTIMUSE_HOME": str(tmp_path / "home")}
    no_token = {k: v for k, v in right.items() if not k.startswith("RAY_AUTH_")}

    missing = run(command, no_token, timeout=120)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == (
        f"Error: the Ray cluster at {address} requires token authentication: set RAY_AUTH_MODE=token and its "
        "token in RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token)"
    )
    wrong = run(command, {**right, "RAY_AUTH_TOKEN": secrets.token_hex(32)}, timeout=120)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert wrong.stderr.strip().startswith(
        f"Error: the Ray cluster at {address} refused this client's token (from RAY_AUTH_TOKEN)"
    )
    token_file = tmp_path / "token"
    token_file.write_text(right["RAY_AUTH_TOKEN"])
    by_file = {**no_token, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}
    done = run(command, by_file)
    assert done.returncode == 1, done.stderr  # scored; the corrupt inputs failed
    assert counts(tmp_path / "out.parquet", inputs_of(corpus))["rows"] == len(inputs_of(corpus))
