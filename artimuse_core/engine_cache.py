"""One copy of each checkpoint's weights per process, reloaded when its files change on disk.

Long-running hosts (ComfyUI, the watcher) ask for an engine again and again, with settings that may or may
not change the weights. What defines the weights is the key here: every setting of the ``weights`` stage
(``spec.settings_at("weights")``), the checkpoint and the placement as they resolve (the checkpoint folder;
device, dtype, quantisation, attention kernel), the others (the adapter) as given; plus the identity of every
file in the checkpoint (and adapter) folder: size, ``mtime_ns``, ``ctime_ns`` and inode. An atomic replacement gives a
new inode; an in-place overwrite changes ``ctime`` even where ``mtime`` is put back; either way the next
``get_engine`` loads the new weights (with a new fingerprint) instead of returning stale ones. Every other
setting (batch size, decode workers, image options) is an engine over the same weights and never loads a
second copy.

The cache holds weights only while someone uses them (weak references): a host releases a model by
dropping its engines (ComfyUI's memory manager does, on ``/free`` or when it evicts the loader's output),
and a replaced entry is forgotten at once, so its memory goes with its last user. Host-agnostic: nothing
here knows ComfyUI or the watcher.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

from .checkpoints import resolve_checkpoint
from .devices import choose_placement
from .engine import Engine, Weights, engine_for, load_weights
from .loading import LoadedModel
from .resources import MemoryEstimate
from .spec import EngineSpec, settings_at
from .staleness import FileIdentity, adapter_folder, checkpoint_identity, file_identity

#: Weights settings the key holds as they resolve: the checkpoint's folder, the placement (``auto`` and
#: ``cuda`` may be one device). Every other ``weights`` setting is in the key as given.
RESOLVED = ("model", "device", "dtype", "quantize", "attn")


@dataclass(frozen=True)
class WeightsKey:
    """What selects one copy of weights in memory (the files' identity is checked separately): the checkpoint
    folder, the placement (device, dtype, quantisation, attention kernel) and the other ``weights`` settings,
    as (name, value) pairs."""

    checkpoint: str
    placement: tuple[str, str, str, str]
    others: tuple[tuple[str, object], ...]


def weights_key(spec: EngineSpec, checkpoint: Path) -> WeightsKey:
    """The key of the weights ``spec`` loads from the ``checkpoint`` folder its model resolved to.

    Raises:
        DeviceError: as ``create_engine`` (the placement cannot resolve).
    """
    placement = choose_placement(spec.device, spec.dtype, spec.quantize, spec.attn)
    resolved = (str(placement.device), str(placement.dtype), placement.quantize, placement.attn_implementation)
    others = tuple((s.name, getattr(spec, s.name)) for s in settings_at("weights") if s.name not in RESOLVED)
    return WeightsKey(str(checkpoint.resolve()), resolved, others)


@dataclass
class _Entry:
    loaded: weakref.ref[LoadedModel]  # the LoadedModel: alive while an engine over it is
    identity: FileIdentity
    memory: MemoryEstimate | None  # what the load learnt (``Weights`` without the model itself)
    notes: list[str]
    adapter: str | None
    lock: threading.Lock  # one forward at a time on these weights, whichever engine runs it


_ENTRIES: dict[WeightsKey, _Entry] = {}
_LOCK = threading.Lock()


def get_engine(spec_or_model: EngineSpec | str | os.PathLike[str] | None = None, **overrides: object) -> Engine:
    """``create_engine`` (same arguments: an ``EngineSpec``, a model name/folder or None, plus setting
    overrides) with one copy of each set of weights per process (see the module docstring).

    Returns a new ``Engine`` (with these settings) over weights already in memory when their key and file
    identity match; loads them otherwise. Raises what ``create_engine`` raises (``InvalidValue``,
    ``CheckpointError``, ``DeviceError``).
    """
    spec = EngineSpec.coerce(spec_or_model, **overrides)
    info = resolve_checkpoint(spec.model)
    key = weights_key(spec, info.path)
    identity = file_identity(info.path, adapter_folder(spec.adapter))
    with _LOCK:  # one load at a time: two callers asking for the same weights share one copy
        entry = _ENTRIES.get(key)
        loaded: LoadedModel | None = entry.loaded() if entry is not None else None
        if entry is None or loaded is None or entry.identity != identity:
            _ENTRIES.pop(key, None)  # replaced: forget it now, its memory goes with its last user
            weights = load_weights(spec)
            loaded = weights.loaded
            entry = _ENTRIES[key] = _Entry(
                weakref.ref(loaded), identity, weights.memory, weights.notes, weights.adapter, threading.Lock()
            )
    # engines over the same weights share its forward lock
    return engine_for(Weights(loaded, entry.memory, entry.notes, entry.adapter), spec, entry.lock)


def loaded_weights() -> list[LoadedModel]:
    """The weights this cache knows to be alive (for hosts' diagnostics and tests)."""
    with _LOCK:
        return [w for w in (e.loaded() for e in _ENTRIES.values()) if w is not None]


def release_engines() -> None:
    """Forget every cached set of weights: the next ``get_engine`` loads afresh. Memory is freed when the
    engines handed out are dropped."""
    with _LOCK:
        _ENTRIES.clear()


__all__ = [
    "RESOLVED",
    "WeightsKey",
    "checkpoint_identity",
    "file_identity",
    "get_engine",
    "loaded_weights",
    "release_engines",
    "weights_key",
]
