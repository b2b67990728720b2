"""One copy of each checkpoint's weights per process, reloaded when its files change on disk.

Long-running hosts (ComfyUI, the watcher) ask for an engine again and again, with settings that may or may
not change the weights. What defines the weights is the key here: the checkpoint folder, the placement
(device, dtype, quantisation, attention kernel) and the adapter, plus the identity of every file in the
checkpoint (and adapter) folder: size, ``mtime_ns``, ``ctime_ns`` and inode. An atomic replacement gives a
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

from .checkpoints import resolve_checkpoint
from .devices import choose_placement
from .engine import Engine, Weights, engine_for, load_weights
from .loading import LoadedModel
from .resources import MemoryEstimate
from .spec import EngineSpec
from .staleness import FileIdentity, adapter_folder, checkpoint_identity, file_identity


@dataclass(frozen=True)
class WeightsKey:
    """What selects one copy of weights in memory (the files' identity is checked separately)."""

    checkpoint: str
    device: str
    dtype: str
    quantize: str
    attn: str
    adapter: str | None


@dataclass
class _Entry:
    loaded: weakref.ref  # the LoadedModel: alive while an engine over it is
    identity: FileIdentity
    memory: MemoryEstimate | None  # what the load learnt (``Weights`` without the model itself)
    notes: list[str]
    adapter: str | None
    lock: threading.Lock  # one forward at a time on these weights, whichever engine runs it


_ENTRIES: dict[WeightsKey, _Entry] = {}
_LOCK = threading.Lock()


def get_engine(spec_or_model: EngineSpec | str | os.PathLike | None = None, **overrides) -> Engine:
    """``create_engine`` (same arguments: an ``EngineSpec``, a model name/folder or None, plus setting
    overrides) with one copy of each set of weights per process (see the module docstring).

    Returns a new ``Engine`` (with these settings) over weights already in memory when their key and file
    identity match; loads them otherwise. Raises what ``create_engine`` raises (``InvalidValue``,
    ``CheckpointError``, ``DeviceError``).
    """
    spec = EngineSpec.coerce(spec_or_model, **overrides)
    placement = choose_placement(spec.device, spec.dtype, spec.quantize, spec.attn)
    info = resolve_checkpoint(spec.model)
    key = WeightsKey(
        str(info.path.resolve()),
        str(placement.device),
        str(placement.dtype),
        placement.quantize,
        placement.attn_implementation,
        spec.adapter,
    )
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
    engine = engine_for(Weights(loaded, entry.memory, entry.notes, entry.adapter), spec)
    engine.forward_lock = entry.lock  # engines over the same weights share its forward lock
    return engine


def loaded_weights() -> list[LoadedModel]:
    """The weights this cache knows to be alive (for hosts' diagnostics and tests)."""
    with _LOCK:
        return [w for w in (e.loaded() for e in _ENTRIES.values()) if w is not None]


def release_engines() -> None:
    """Forget every cached set of weights: the next ``get_engine`` loads afresh. Memory is freed when the
    engines handed out are dropped."""
    with _LOCK:
        _ENTRIES.clear()


__all__ = ["WeightsKey", "checkpoint_identity", "file_identity", "get_engine", "loaded_weights", "release_engines"]
