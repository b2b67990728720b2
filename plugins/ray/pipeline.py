"""The Ray Data plan of ``artimuse batch`` and its driver loop. The only module that imports Ray.

    keys to do --from_items--> decode_batch (tasks, in parallel) --map_batches--> Scorer (actor pool: one
    engine per actor, ``gpus_per_actor`` GPUs each) --iter_batches--> driver writes atomic Parquet parts

Ray Data streams: decoding, scoring and writing overlap, and at most a few blocks per stage are in flight,
so memory stays bounded for millions of inputs. Progress is Ray's own (its per-stage progress bars, and
the dashboard when ``ray[default]`` is installed); the driver adds a final ``BatchSummary``. The driver
coalesces finished rows into parts of up to ``PART_ROWS`` rows, at least every ``PART_SECONDS`` seconds, so
a killed job loses at most the batches in flight plus those few seconds of finished rows (``parts``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import ray

from artimuse_core.results import ScoreResult

from . import parts
from .inputs import Inputs, key_of, name_of
from .stages import Scorer, decode_batch

#: Inputs per decode task: enough to amortise a task's start, few enough to spread over many cores.
DECODE_ROWS = 16
#: A part is written when it holds this many rows, or when this many seconds passed since the last one.
PART_ROWS = 4096
PART_SECONDS = 5.0


@dataclass
class BatchSummary:
    """What a run did: counts by status (scored, failed, passed_over, gone), inputs ``skipped`` because the
    output already held them for these weights, seconds of the Ray pipeline and images per second."""

    statuses: Counter = field(default_factory=Counter)
    skipped: int = 0
    seconds: float = 0.0
    output: str = ""
    parts_written: int = 0

    @property
    def images_per_second(self) -> float:
        done = self.statuses["scored"] + self.statuses["failed"]
        return done / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """``"180 scored, 3 failed, 2 passed over, 15 skipped (already in results.parquet); 12.3 images/s"``."""
        counts = [f"{self.statuses['scored']} scored", f"{self.statuses['failed']} failed"]
        others = sorted((k, n) for k, n in self.statuses.items() if k not in ("scored", "failed"))
        counts += [f"{n} {k.replace('_', ' ')}" for k, n in others]
        counts.append(f"{self.skipped} skipped (already in {self.output})")
        return ", ".join(counts) + f"; {self.images_per_second:.1f} images/s"

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: self.statuses[k] for k in ("scored", "failed", "passed_over", "gone")},
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 3),
            "output": self.output,
            "parts_written": self.parts_written,
        }


def resolve_model_key(spec: Any) -> str:
    """The weights' identity, read on the driver without loading them (``checkpoints.fingerprint``: config
    and safetensors headers plus sampled bytes). The driver needs the same checkpoint as the workers.

    Raises:
        CheckpointNotFound, CheckpointError: the model cannot be found here.
    """
    from artimuse_core.checkpoints import fingerprint, resolve_checkpoint

    return parts.model_key_of(fingerprint(resolve_checkpoint(spec.model)), spec.adapter)


def connect(address: str | None, cpus: int | None = None) -> bool:
    """Join or start Ray: "local" starts a private instance on this machine (``cpus`` CPUs, default all),
    "auto" joins the cluster this machine is part of (``ray start``), anything else is a cluster address
    (``ray://host:10001`` or ``host:6379``). Returns True when this call started Ray (the run shuts it
    down). An already initialised Ray (a notebook, a test) is used as it is."""
    if ray.is_initialized():
        return False
    if address in (None, "local"):
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=True)
    else:
        ray.init(address=address, log_to_driver=True)
    return True


def run_batch(
    inputs: Inputs,
    output: str | Path,
    spec: Any,
    *,
    ray_address: str | None = "local",
    cpus: int | None = None,
    actors: int = 1,
    gpus_per_actor: float = 0,
    predict_category: bool = False,
    category: str | None = None,
    critique: Sequence[str] = (),
    model_key: str | None = None,
    engine_factory: Callable[[Any], Any] | None = None,
    part_seconds: float = PART_SECONDS,
) -> BatchSummary:
    """Score ``inputs`` with ``spec``'s engine on Ray Data into the parts folder ``output``, skipping inputs
    it already holds for the same weights.

    Args:
        actors: engines (actor processes) scoring in parallel; one per GPU on a GPU machine.
        gpus_per_actor: GPUs each actor reserves (0: CPU; fractions share a GPU between actors).
        cpus: CPUs of a ``"local"`` Ray instance (default: all).
        part_seconds: write finished rows as a part at least this often (0: every block as it comes; a
            killed job loses at most this many seconds of finished rows plus the batches in flight).
        model_key: the weights' identity (default: resolved from ``spec.model``; tests with a fake engine
            pass its fingerprint).

    Raises:
        InvalidValue: an output that is not a parts folder.
        CheckpointNotFound, CheckpointError: the model cannot be found, or a worker's weights differ.
    """
    folder = parts.prepare(output)
    model_key = model_key or resolve_model_key(spec)
    done = parts.done_keys(folder, model_key)
    summary = BatchSummary(output=str(output))

    early = [
        ScoreResult(p.path, error=p.message, error_kind=p.kind, status="passed_over") for p in inputs.passed_over
    ] + [ScoreResult(name_of(key), error=m, error_kind=k) for key, k, m in inputs.problems]
    rows = []
    for result in early:
        key = key_of(result.path)
        if key in done:
            summary.skipped += 1
            continue
        rows.append(parts.row_of(result, key, model_key))
        summary.statuses[result.status] += 1
    if rows:
        parts.write_part(folder, parts.table_of(rows))
        summary.parts_written += 1
    todo = [k for k in inputs.keys if k not in done]
    summary.skipped += len(inputs.keys) - len(todo)
    if not todo:
        return summary

    started_ray = connect(ray_address, cpus)
    try:
        summary.parts_written += _run(
            todo,
            folder,
            spec,
            model_key,
            summary,
            actors,
            gpus_per_actor,
            predict_category,
            category,
            critique,
            engine_factory,
            part_seconds,
        )
    finally:
        if started_ray:
            ray.shutdown()
    return summary


def _run(
    todo: list[bytes],
    folder: Path,
    spec: Any,
    model_key: str,
    summary: BatchSummary,
    actors: int,
    gpus_per_actor: float,
    predict_category: bool,
    category: str | None,
    critique: Sequence[str],
    engine_factory: Callable[[Any], Any] | None,
    part_seconds: float,
) -> int:
    started = time.perf_counter()
    dataset = ray.data.from_items([{"key": key} for key in todo])
    dataset = dataset.map_batches(
        decode_batch,
        fn_kwargs={"options": spec.image_options()},
        batch_size=DECODE_ROWS,
        batch_format="numpy",
        num_cpus=0.5,  # decoding waits on reads; leave whole cores to the actors' model work
    )
    dataset = dataset.map_batches(
        Scorer,
        fn_constructor_args=(spec, model_key),
        fn_constructor_kwargs={
            "predict_category": predict_category,
            "category": category,
            "critique": tuple(critique),
            "engine_factory": engine_factory,
        },
        batch_size=spec.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_gpus=gpus_per_actor or None,
        num_cpus=1 if not gpus_per_actor else 0.5,
    )
    written, pending, last = 0, [], time.monotonic()
    for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        pending.append(table)
        summary.statuses.update(table.column("status").to_pylist())
        if sum(t.num_rows for t in pending) >= PART_ROWS or time.monotonic() - last >= part_seconds:
            parts.write_part(folder, pa.concat_tables(pending))
            written, pending, last = written + 1, [], time.monotonic()
    if pending:
        parts.write_part(folder, pa.concat_tables(pending))
        written += 1
    summary.seconds = time.perf_counter() - started
    return written
