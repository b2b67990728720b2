"""Device, dtype, attention kernel and quantisation choices, made once and explained."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch

from .errors import DeviceError
from .spec import choices_of

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}
QUANTIZE_CHOICES = choices_of("quantize")


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype
    attn_implementation: str
    quantize: str = "none"

    def describe(self) -> str:
        dtype = str(self.dtype).removeprefix("torch.")
        quant = "" if self.quantize == "none" else f", {self.quantize} weights"
        return f"{self.device} {dtype} ({self.attn_implementation}{quant})"


def flash_attn_available() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def bitsandbytes_available() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def choose_placement(device: str = "auto", dtype: str = "auto", quantize: str = "none",
                     attn: str = "auto") -> Placement:
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
    if attn == "auto":
        attn = "flash_attention_2" if dev.type == "cuda" and flash_attn_available() and \
            torch_dtype in (torch.bfloat16, torch.float16) else "sdpa"
    elif attn == "flash_attention_2" and not flash_attn_available():
        raise DeviceError("attention 'flash_attention_2' asked for, but flash-attn is not installed")
    return Placement(dev, torch_dtype, attn, quantize)


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def free_cached_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
