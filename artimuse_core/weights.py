"""One loaded copy of a checkpoint's weights (plus adapter): resolve, fit against memory, load. Engines
(``engine.engine_for``) and the per-process cache (``engine_cache``) share it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .checkpoints import resolve_checkpoint
from .devices import choose_placement
from .loading import LoadedModel, fit_placement, load_model
from .resources import MemoryEstimate
from .spec import EngineSpec

log = logging.getLogger("artimuse")


@dataclass
class Weights:
    """One loaded copy of a checkpoint (plus adapter) and what was learnt loading it; engines share it."""

    loaded: LoadedModel
    memory: MemoryEstimate | None = None
    notes: list[str] = field(default_factory=list)
    adapter: str | None = None  # the adapter's recorded name (provenance), when one was applied


def load_weights(spec: EngineSpec) -> Weights:
    """Resolve, fit against the device's memory, load, and apply the adapter: the part of ``create_engine``
    that defines the weights (``engine_cache`` keys its copies on the same settings).

    Raises what ``create_engine`` raises, except ``InvalidValue`` (the spec is already checked).
    """
    placement = choose_placement(spec.device, spec.dtype, spec.quantize, spec.attn)
    info = resolve_checkpoint(spec.model)
    placement, memory, note = fit_placement(
        info, placement, dtype_is_auto=spec.dtype == "auto", batch_size=spec.batch_size
    )
    if note:
        log.warning("%s: %s", info.name or info.path, note)
    loaded = load_model(info, placement)
    adapter = None
    if spec.adapter:
        from .adapters import apply_adapter

        adapter = apply_adapter(loaded, spec.adapter)
    return Weights(loaded, memory, [note] if note else [], adapter)


__all__ = ["Weights", "load_weights"]
