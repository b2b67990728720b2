"""The two stages of a batch run, as plain Python that Ray Data schedules (``pipeline`` wires them; nothing
here imports Ray, so they are tested without it too).

1. ``decode_batch``, a stateless task: reads each input's bytes (a local file through the product's safe
   opener, an fsspec URI through fsspec), hashes them (SHA-256) and preprocesses them with the product's
   own decoder (``artimuse_core.images``: the same pixels, limits and typed errors as ``artimuse score``).
   A bad file becomes its error fields in its row; it never fails the task.
2. ``Scorer``, a class-based stage: ONE engine per actor, loaded once by ``create_engine(spec)`` from the
   one ``EngineSpec``; each batch of decoded images goes through ``Engine.evaluate`` (the public call every
   front end uses: score, category and critiques from one vision pass and one shared prefix per image).

How they share the CPUs (``place``): each CPU actor reserves one CPU for its model and decode tasks half a
CPU each beside it. When the cluster has no CPU left beside the actors (``--cpus 1`` with one actor, or
as many actors as CPUs), a separate decode task could never be scheduled: the actors would hold every CPU
and wait for decoded batches forever. Then each actor decodes its own batches (``decode_options``): the
two stages take turns on the same CPU, and the pixels never travel through the object store. Fractional
reservations alone (half a CPU each) would let Ray schedule both, but the actor's torch threads and the
decoder would then compete for one core under Ray's back-pressure; decoding inside the actor does the same
work in order, with nothing to wait for.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from artimuse_core import (
    IMAGE_SIZE,
    CheckpointError,
    DecodedImage,
    EngineSpec,
    ImageError,
    ImageOptions,
    ScoreResult,
    ScoringEngine,
    decode_bytes,
    open_rgb,
)

from . import parts
from .inputs import is_uri, name_of

PIXELS_SHAPE = (3, IMAGE_SIZE, IMAGE_SIZE)
#: Logical CPUs of one decode task: decoding waits on reads, so two share a core.
DECODE_CPUS = 0.5


@dataclass(frozen=True)
class Placement:
    """Logical CPUs per scoring actor, and per decode task (None: each actor decodes its own batches)."""

    actor_cpus: float
    decode_cpus: float | None

    def describe(self) -> str:
        where = "inside the scoring actors" if self.decode_cpus is None else f"in tasks of {self.decode_cpus} CPU"
        return f"{self.actor_cpus:g} CPU per scoring actor, decoding {where}"


def place(cluster_cpus: float, actors: int, gpus_per_actor: float = 0) -> Placement:
    """How ``actors`` scoring actors and the decode tasks share ``cluster_cpus`` logical CPUs (module
    docstring): separate decode tasks when at least ``DECODE_CPUS`` is left beside the actors, else decoding
    inside the actors, each reserving its share of the CPUs (at most one)."""
    per_actor = 0.5 if gpus_per_actor else 1.0  # a GPU actor's CPU work is feeding its GPU
    if cluster_cpus >= actors * per_actor + DECODE_CPUS:
        return Placement(per_actor, DECODE_CPUS)
    return Placement(min(per_actor, cluster_cpus / actors), None)


def read_and_decode(key: bytes, options: ImageOptions) -> tuple[DecodedImage | ImageError, str | None]:
    """(decoded image or its typed error, SHA-256 of the bytes decoded or None) for one input."""
    name = name_of(key)
    if is_uri(name):
        try:
            import fsspec

            with fsspec.open(name, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            from artimuse_core import FileGone

            return FileGone(name, "gone before it was read"), None
        except Exception as exc:  # any transport error is this input's error, not the job's
            from artimuse_core import UnreadableFile

            return UnreadableFile(name, f"cannot read it ({type(exc).__name__}: {exc})"), None
        try:
            return decode_bytes(data, name, options), hashlib.sha256(data).hexdigest()
        except ImageError as exc:
            return exc, None
    try:
        decoded = open_rgb(name, options)
    except ImageError as exc:
        return exc, None
    try:
        digest = hashlib.sha256()
        with open(name, "rb") as handle:  # a regular file: open_rgb checked it
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return decoded, None  # scored; the hash is unknown (the library import hashes again anyway)
    return decoded, digest.hexdigest()


def decode_batch(batch: dict[str, Any], options: ImageOptions) -> dict[str, Any]:
    """Ray Data ``map_batches`` function: ``{"key": (N,) bytes}`` -> the keys plus ``pixels``
    (`(N, 3, 448, 448)` float32, zeros where decoding failed), ``ok``, ``width``/``height`` (pixels),
    ``decoder``, ``warnings`` (JSON list), ``content_hash``, ``error_kind`` and ``error``."""
    keys = [bytes(k) for k in batch["key"]]
    pixels = np.zeros((len(keys), *PIXELS_SHAPE), dtype=np.float32)
    columns: dict[str, list[Any]] = {
        name: [] for name in ("ok", "width", "height", "decoder", "warnings", "content_hash", "error_kind", "error")
    }
    for i, key in enumerate(keys):
        item, content_hash = read_and_decode(key, options)
        ok = isinstance(item, DecodedImage)
        if isinstance(item, DecodedImage):
            pixels[i] = item.pixel_values
        values = {
            "ok": ok,
            "width": item.width if isinstance(item, DecodedImage) else -1,
            "height": item.height if isinstance(item, DecodedImage) else -1,
            "decoder": item.decoder if isinstance(item, DecodedImage) else "",
            "warnings": json.dumps(list(item.warnings)) if isinstance(item, DecodedImage) else "[]",
            "content_hash": content_hash or "",
            "error_kind": "" if isinstance(item, DecodedImage) else item.kind,
            "error": "" if isinstance(item, DecodedImage) else str(item),
        }
        for name, value in values.items():
            columns[name].append(value)
    out: dict[str, Any] = {"key": np.array(keys, dtype=object), "pixels": pixels}
    out.update({name: np.array(values, dtype=object if name != "ok" else bool) for name, values in columns.items()})
    return out


class Scorer:
    """Ray Data class-based ``map_batches`` stage: one engine per actor, loaded once, scoring each batch.

    Args:
        spec: the ``EngineSpec`` of the run (model, dtype, batch size...: the one declaration).
        model_key: the weights' identity the driver resolved (``parts.model_key_of``); an actor whose
            weights differ (another copy on another node) refuses to start instead of mixing models.
        predict_category: ask the model for the category of every image.
        category: the category of every image instead (one of the five ArtiMuse-10K categories), or None.
        critique: attributes to critique (empty: none).
        engine_factory: builds the engine from the spec (tests pass ``testing.FakeEngine``).
        decode_options: decode each batch here first (batches then hold only ``key``), when the CPUs leave
            no room for separate decode tasks (``place``).

    Raises:
        CheckpointError: the weights loaded are not the ones the driver resolved.
    """

    def __init__(
        self,
        spec: EngineSpec,
        model_key: str,
        *,
        predict_category: bool = False,
        category: str | None = None,
        critique: Sequence[str] = (),
        engine_factory: Callable[[EngineSpec], ScoringEngine] | None = None,
        decode_options: ImageOptions | None = None,
    ):
        if engine_factory is None:
            from artimuse_core import create_engine

            engine_factory = create_engine
        self.engine = engine_factory(spec)
        provenance = self.engine.provenance
        found = parts.model_key_of(provenance.fingerprint, spec.adapter)
        if found != model_key:
            raise CheckpointError(
                f"{os.uname().nodename}: the weights here ({found}) are not the driver's ({model_key}); every node "
                f"needs the same copy of {spec.model}"
            )
        self.model_key = model_key
        self.predict_category = predict_category
        self.category = category
        self.critique = tuple(critique)
        self.decode_options = decode_options

    def __call__(self, batch: dict[str, Any]) -> Any:
        """Decoded rows (``decode_batch``'s columns; only ``key`` with ``decode_options``) -> output rows
        (``parts.SCHEMA``), one per input."""
        if self.decode_options is not None:
            batch = decode_batch(batch, self.decode_options)
        keys = [bytes(k) for k in batch["key"]]
        ok = [bool(x) for x in batch["ok"]]
        decoded = [
            DecodedImage(
                source=name_of(key),
                pixel_values=np.array(batch["pixels"][i], dtype=np.float32),  # a writable copy for torch
                width=int(batch["width"][i]),
                height=int(batch["height"][i]),
                format=None,
                mode="RGB",
                decoder=str(batch["decoder"][i]),
                warnings=tuple(json.loads(batch["warnings"][i])),
            )
            for i, key in enumerate(keys)
            if ok[i]
        ]
        results = iter(
            self.engine.evaluate(
                decoded,
                predict_category=self.predict_category and self.category is None,
                critique=self.critique,
            )
        )
        rows = []
        for i, key in enumerate(keys):
            if ok[i]:
                result = next(results)
                if self.category:
                    result.category, result.category_source, result.category_probability = (
                        self.category,
                        "option",
                        None,
                    )
            else:
                result = ScoreResult(
                    path=name_of(key),
                    error=str(batch["error"][i]),
                    error_kind=str(batch["error_kind"][i]),
                    provenance=self.engine.provenance,
                )
            rows.append(parts.row_of(result, key, self.model_key, str(batch["content_hash"][i]) or None))
        return parts.table_of(rows)
