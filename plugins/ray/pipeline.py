"""The Ray Data plan of ``artimuse batch`` and its driver loop. With ``cluster``, the only modules that
import Ray.

    keys to do --from_items--> decode_batch (tasks, in parallel) --map_batches--> Scorer (actor pool: one
    engine per actor, ``gpus_per_actor`` GPUs each) --iter_batches--> driver writes atomic Parquet parts

Ray Data streams: decoding, scoring and writing overlap, and at most a few blocks per stage are in flight,
so memory stays bounded for millions of inputs. When the CPUs leave no room for decode tasks beside the
actors, the actors decode their own batches (``stages.place``). Progress is Ray's own (its per-stage
progress bars, and the dashboard when ``ray[default]`` is installed); the driver adds a final
``BatchSummary``. The driver coalesces finished rows into parts of up to ``PART_ROWS`` rows, at least every
``PART_SECONDS`` seconds, so a killed job loses at most the batches in flight plus those few seconds of
finished rows (``parts``).

The run holds the output's lease (``lease``) from before it reads what is done until its last part is in
place, so two runs into one output never write an input twice: the second is refused. Over Ray Client
(``ray://``) Ray Data cannot drive the plan from this process (its executor needs a worker of the cluster),
so the plan runs in a ``Coordinator`` actor on the cluster (no CPU reserved) and this process pulls the
finished blocks from it and writes them. SIGINT and SIGTERM stop the run cleanly: the finished rows are
written, the workers stopped (``Interrupted``), and the same command resumes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import ray

from artimuse_core import ArtiMuseError, EngineSpec, ImageOptions, ScoreResult, ScoringEngine

from . import cluster, parts
from .inputs import Inputs, key_of, name_of
from .lease import Lease
from .stages import Placement, Scorer, decode_batch, place
from .summary import BatchSummary

__all__ = ["BatchFailed", "BatchSummary", "Interrupted", "resolve_model_key", "run_batch"]

#: Inputs per decode task: enough to amortise a task's start, few enough to spread over many cores.
DECODE_ROWS = 16
#: A part is written when it holds this many rows, or when this many seconds passed since the last one.
PART_ROWS = 4096
PART_SECONDS = 5.0


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped the run after its finished rows were written. ``summary``: what it did."""

    def __init__(self, signum: int, summary: BatchSummary):
        self.signum, self.summary = signum, summary
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


class BatchFailed(ArtiMuseError):
    """The Ray run failed (a worker's error, the cluster lost); the rows finished before were written."""


def resolve_model_key(spec: EngineSpec) -> str:
    """The weights' identity, read on the driver without loading them (``checkpoints.fingerprint``: config
    and safetensors headers plus sampled bytes). The driver needs the same checkpoint as the workers.

    Raises:
        CheckpointNotFound, CheckpointError: the model cannot be found here.
    """
    from artimuse_core import fingerprint, resolve_checkpoint

    return parts.model_key_of(fingerprint(resolve_checkpoint(spec.model)), spec.adapter)


def run_batch(
    inputs: Inputs,
    output: str | Path,
    spec: EngineSpec,
    *,
    ray_address: str | None = None,
    cpus: int | None = None,
    actors: int = 1,
    gpus_per_actor: float = 0,
    predict_category: bool = False,
    category: str | None = None,
    critique: Sequence[str] = (),
    model_key: str | None = None,
    engine_factory: Callable[[EngineSpec], ScoringEngine] | None = None,
    part_seconds: float = PART_SECONDS,
    retry_failed: bool = False,
    notify: Callable[[str], None] | None = None,
) -> BatchSummary:
    """Score ``inputs`` with ``spec``'s engine on Ray Data into the parts folder ``output``, skipping inputs
    it already holds for the same weights (failed ones too, unless ``retry_failed``).

    Args:
        ray_address: ``--ray`` (None: ``RAY_ADDRESS``, else a private Ray; see ``cluster``).
        actors: engines (actor processes) scoring in parallel; one per GPU on a GPU machine.
        gpus_per_actor: GPUs each actor reserves (0: CPU; fractions share a GPU between actors).
        cpus: CPUs of a private Ray instance (default: all).
        part_seconds: write finished rows as a part at least this often (0: every block as it comes; a
            killed job loses at most this many seconds of finished rows plus the batches in flight).
        model_key: the weights' identity (default: resolved from ``spec.model``; tests with a fake engine
            pass its fingerprint).
        retry_failed: remove the output's failed rows for these weights and score those inputs again.
        notify: called with one-line notes for the user (where it runs, a stale lease taken over).

    Raises:
        InvalidValue: an output that is not a parts folder. OutputUnwritable: it cannot be written.
        OutputInUse: another live run holds the output. LeaseLost: another run took this one's lease.
        ClusterError: the Ray cluster cannot be joined. BatchFailed: the Ray run failed.
        CheckpointNotFound, CheckpointError: the model cannot be found. Interrupted: SIGINT or SIGTERM.
    """
    notify = notify or (lambda message: None)
    folder = parts.prepare(output)
    model_key = model_key or resolve_model_key(spec)
    summary = BatchSummary(output=str(output))
    with Lease(folder) as lease:
        if lease.took_over:
            summary.took_over = lease.took_over
            notify(f"{output}: {lease.took_over}")
        parts.clear_temporaries(folder)
        done = parts.done_keys(folder, model_key)
        if retry_failed:
            failed = {key for key, status in done.items() if status == "failed"}
            summary.retried = parts.retire(folder, failed, model_key, lease)
            done = {key: status for key, status in done.items() if key not in failed}
        _write_early_rows(inputs, folder, model_key, done, summary, lease)
        todo = [k for k in inputs.keys if k not in done]
        for key in inputs.keys:
            if key in done:
                summary.skipped += 1
                summary.skipped_failed += done[key] == "failed"
        if not todo:
            return summary
        connection = cluster.connect(ray_address, cpus)
        try:
            summary.ray = connection.describe()
            notify(summary.ray)
            placement = place(cluster.cluster_cpus(), actors, gpus_per_actor)
            summary.placement = placement.describe()
            plan = {
                "todo": todo,
                "spec": spec,
                "model_key": model_key,
                "placement": placement,
                "actors": actors,
                "gpus_per_actor": gpus_per_actor,
                "scorer_options": {
                    "predict_category": predict_category,
                    "category": category,
                    "critique": tuple(critique),
                    "engine_factory": engine_factory,
                },
            }
            with _signals_interrupt():
                _drive(plan, connection.client, folder, lease, summary, part_seconds, set(done))
        finally:
            cluster.disconnect(connection)
    return summary


def _write_early_rows(
    inputs: Inputs, folder: Path, model_key: str, done: dict[bytes, str], summary: BatchSummary, lease: Lease
) -> None:
    """Rows of inputs settled before decoding (passed over, missing) not yet in the output."""
    early = [
        ScoreResult(p.path, error=p.message, error_kind=p.kind, status="passed_over") for p in inputs.passed_over
    ] + [ScoreResult(name_of(key), error=m, error_kind=k) for key, k, m in inputs.problems]
    rows = []
    for result in early:
        key = key_of(result.path)
        if key in done:
            summary.skipped += 1
            summary.skipped_failed += done[key] == "failed"
            continue
        rows.append(parts.row_of(result, key, model_key))
        summary.statuses[result.status] += 1
    if rows:
        parts.write_part(folder, parts.table_of(rows), lease)
        summary.parts_written += 1


def plan_tables(
    todo: list[bytes],
    spec: EngineSpec,
    model_key: str,
    placement: Placement,
    actors: int,
    gpus_per_actor: float,
    scorer_options: dict[str, Any],
) -> Iterator[pa.Table]:
    """The Ray Data plan, run where this is called (the driver, or the ``Coordinator`` actor): the output
    rows of ``todo``, block by block."""
    dataset: ray.data.Dataset = ray.data.from_items([{"key": key} for key in todo])
    if placement.decode_cpus is not None:
        dataset = dataset.map_batches(
            decode_batch,  # type: ignore[arg-type]  # its options come from fn_kwargs, which Ray's types miss
            fn_kwargs={"options": ImageOptions.of(spec)},
            batch_size=DECODE_ROWS,
            batch_format="numpy",
            num_cpus=placement.decode_cpus,
        )
    inside = None if placement.decode_cpus is not None else ImageOptions.of(spec)
    dataset = dataset.map_batches(
        Scorer,
        fn_constructor_args=(spec, model_key),
        fn_constructor_kwargs={**scorer_options, "decode_options": inside},
        batch_size=spec.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_gpus=gpus_per_actor or None,
        num_cpus=placement.actor_cpus,
    )
    yield from dataset.iter_batches(batch_size=None, batch_format="pyarrow")


class Coordinator:
    """Runs ``plan_tables`` on the cluster for a Ray Client driver, which pulls the blocks with ``next``
    (one block per call; None at the end). An actor reserving no CPU; it dies with the client's session."""

    def __init__(self, plan: dict[str, Any]):
        self.tables = plan_tables(**plan)

    def next(self) -> pa.Table | None:
        return next(self.tables, None)


def _remote_tables(plan: dict[str, Any]) -> Iterator[pa.Table]:
    actor: Any = ray.remote(num_cpus=0)(Coordinator)  # Ray's types cannot follow remote() of a class
    coordinator = actor.remote(plan)
    try:
        while (table := ray.get(coordinator.next.remote())) is not None:
            yield table
    finally:
        with contextlib.suppress(Exception):
            ray.kill(coordinator)


def _drive(
    plan: dict[str, Any],
    client: bool,
    folder: Path,
    lease: Lease,
    summary: BatchSummary,
    part_seconds: float,
    written: set[bytes],
) -> None:
    """Pull the plan's blocks and write them as parts; on an interruption or a Ray failure, write the
    finished rows first. A key already written is never written again (counted, should Ray deliver one
    twice)."""
    started = time.perf_counter()
    pending: list[pa.Table] = []
    last = time.monotonic()

    def flush() -> None:
        nonlocal pending, last
        if pending:
            parts.write_part(folder, pa.concat_tables(pending), lease)
            summary.parts_written += 1
        pending, last = [], time.monotonic()

    try:
        for table in _remote_tables(plan) if client else plan_tables(**plan):
            lease.check()  # taken over meanwhile (the heartbeat saw it): stop scoring now, not at the next part
            keys = table.column("key").to_pylist()
            fresh = [key not in written for key in keys]
            if not all(fresh):
                summary.duplicates_dropped += fresh.count(False)
                table = table.filter(pa.array(fresh))
            written.update(keys)
            pending.append(table)
            summary.statuses.update(table.column("status").to_pylist())
            if sum(t.num_rows for t in pending) >= PART_ROWS or time.monotonic() - last >= part_seconds:
                flush()
        flush()
    except _Interruption as exc:
        flush()
        summary.seconds = time.perf_counter() - started
        raise Interrupted(exc.signum, summary) from None
    except ray.exceptions.RayError as exc:
        flush()
        raise BatchFailed(f"the Ray run failed: {_root_message(exc)}; {_resume_note(summary)}") from None
    finally:
        summary.seconds = time.perf_counter() - started


def _resume_note(summary: BatchSummary) -> str:
    return f"{summary.written} row(s) written, run the same command again to resume"


def _root_message(exc: BaseException) -> str:
    """The first line of the deepest cause: our own error's message where a worker raised one."""
    seen: BaseException | None = exc
    found: BaseException = exc
    while seen is not None:
        if isinstance(seen, ArtiMuseError):
            return str(seen).splitlines()[0]
        cause = getattr(seen, "cause", None)
        seen = cause if isinstance(cause, BaseException) else seen.__cause__
        found = seen or found
    text = str(found).strip().splitlines()
    lines = [line for line in text if line.strip() and not line.startswith(" ")]
    return (lines[-1] if lines else type(found).__name__)[:300]


class _Interruption(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM while the run drives Ray."""

    def __init__(self, signum: int):
        self.signum = signum


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``_Interruption`` (in place of Ray's SIGTERM handler, which exits at once)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Interruption(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
