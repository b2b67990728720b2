"""Device, dtype, attention kernel and quantisation choices, made once and explained."""

from __future__ import annotations

import gc
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import torch

from .errors import DeviceError
from .spec import choices_of

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}
QUANTIZE_CHOICES = choices_of("quantize")


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype
    attn_implementation: str
    quantize: str = "none"
    attn_auto: bool = False  # chosen by ``auto``: a broken flash-attn then falls back to sdpa at load

    def describe(self) -> str:
        dtype = str(self.dtype).removeprefix("torch.")
        quant = "" if self.quantize == "none" else f", {self.quantize} weights"
        return f"{self.device} {dtype} ({self.attn_implementation}{quant})"


def flash_attn_available() -> bool:
    """flash-attn is installed and imports (an installed but broken build raises ImportError on import)."""
    if importlib.util.find_spec("flash_attn") is None:
        return False
    try:
        import flash_attn  # noqa: F401
    except Exception:  # ImportError, or an OSError/RuntimeError from a CUDA mismatch in its extension
        return False
    return True


def bitsandbytes_available() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def choose_placement(
    device: str = "auto", dtype: str = "auto", quantize: str = "none", attn: str = "auto"
) -> Placement:
    """``auto``: CUDA in bf16 (flash-attention 2 when importable, else sdpa), otherwise CPU in fp32."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device {device!r} (use auto, cpu, cuda, cuda:N or mps)") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} asked for, but this torch ({torch.__version__}) sees no CUDA GPU")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("device 'mps' asked for, but Metal is not available here")
    if dtype == "auto":
        torch_dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    elif dtype in DTYPES:
        torch_dtype = DTYPES[dtype]
    else:
        raise DeviceError(f"unknown dtype {dtype!r} (use auto, float32, bfloat16 or float16)")
    if quantize not in QUANTIZE_CHOICES:
        raise DeviceError(f"unknown quantisation {quantize!r} (use none, 8bit or 4bit)")
    if quantize != "none":
        if dev.type != "cuda":
            raise DeviceError(f"quantize {quantize} needs a CUDA GPU (bitsandbytes); this run is on {dev}")
        if not bitsandbytes_available():
            raise DeviceError(f"quantize {quantize} needs bitsandbytes: pip install 'artimuse-studio[gpu]'")
    auto = attn == "auto"
    if auto:
        attn = (
            "flash_attention_2"
            if dev.type == "cuda" and torch_dtype in (torch.bfloat16, torch.float16) and flash_attn_available()
            else "sdpa"
        )
    elif attn == "flash_attention_2" and not flash_attn_available():
        raise DeviceError(
            "attention 'flash_attention_2' asked for, but flash-attn is not installed (or does not import)"
        )
    return Placement(dev, torch_dtype, attn, quantize, attn_auto=auto)


_OOM_TEXT = ("out of memory", "not enough memory", "can't allocate memory", "cannot allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """A CUDA/MPS out-of-memory error, or the CPU allocator's."""
    text = str(exc).lower()
    return isinstance(exc, torch.OutOfMemoryError) or any(t in text for t in _OOM_TEXT)


def free_cached_memory(device: torch.device) -> None:
    """Give freed blocks back: collect reference cycles, then empty the CUDA allocator's cache."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


T = TypeVar("T")
R = TypeVar("R")


@dataclass
class OomBackoff:
    """Out-of-memory back-off for batched model work, shared by scoring, categories and critiques.

    ``run(work, items, device)`` calls ``work(items)``; when that runs out of memory, it first lets go of
    the failed batch (the exception and its frames, which hold the batch's tensors), frees the allocator's
    cache, then retries the same items as two halves (each halving again if needed, down to one item).
    The next call starts at the full size again: a transient spike (another process, a big critique) does
    not slow a long-lived engine for good. ``events`` records (failed size, retried size) pairs.
    """

    events: list[tuple[int, int]] = field(default_factory=list)

    def run(self, work: Callable[[Sequence[T]], list[R]], items: Sequence[T], device: torch.device) -> list[R]:
        try:
            return work(items)
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not is_out_of_memory(exc) or len(items) <= 1:
                raise
        # Outside the except block: the exception, its traceback and the failed batch are released now.
        free_cached_memory(device)
        half = (len(items) + 1) // 2
        self.events.append((len(items), half))
        return self.run(work, items[:half], device) + self.run(work, items[half:], device)
