"""What this machine gives the engine: CPU cores (threads for torch and for image decoding, chosen together)
and memory (what a model load will need against what the device has). ``doctor`` prints both.

Why: torch's intra-op threads default to every physical core of the host, whatever the container's quota
or affinity, and the decode threads come on top; on 2 cores, 59-95 % of samples were spin-waits and one
torch thread ran the same work 1.9-3.5x faster. And a default fp32 load of the 8B checkpoint
needs ~35 GB: on a 24-32 GB machine it was killed without a word.
"""

from __future__ import annotations

import json
import math
import os
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

GB = 1e9
_CGROUP = Path("/sys/fs/cgroup")


# -------------------------------------------------------------------------------------------------- cores
def _cgroup_cpu_quota(root: Path = _CGROUP) -> float | None:
    """CPUs allowed by the cgroup (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), None when unlimited."""
    try:
        limit, interval = (root / "cpu.max").read_text().split()[:2]
        return None if limit == "max" else int(limit) / int(interval)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cores(cgroup_root: Path = _CGROUP) -> tuple[int, str]:
    """CPUs this process may use: its affinity mask, capped by the cgroup quota (rounded up).

    Returns:
        `(cores, how)`: a count >= 1 and the reason in words, e.g. ``"2 (affinity 2)"``.
    """
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = os.cpu_count() or 1
    cores, how = affinity, [f"affinity {affinity}"]
    quota = _cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        how.append(f"cgroup cpu.max {quota:g}")
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores), f"{max(1, cores)} ({', '.join(how)})"


def _physical_cores() -> int:
    """What torch starts with when no variable says otherwise: the host's physical cores (cpuinfo)."""
    try:
        pairs, current = set(), {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("physical id", "core id"):
                current[key] = value.strip()
            elif not line.strip() and current:
                pairs.add((current.get("physical id"), current.get("core id")))
                current = {}
        if current:
            pairs.add((current.get("physical id"), current.get("core id")))
        if pairs and all(p != (None, None) for p in pairs):
            return len(pairs)
    except OSError:
        pass
    return os.cpu_count() or 1


def _env_threads() -> tuple[str, int] | None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return name, int(value)
    return None


_TORCH_THREADS_AT_IMPORT: int | None = None


def _torch_threads() -> tuple[int, int]:
    """(threads now, threads torch had when this module first looked)."""
    global _TORCH_THREADS_AT_IMPORT
    import torch

    now = torch.get_num_threads()
    if _TORCH_THREADS_AT_IMPORT is None:
        _TORCH_THREADS_AT_IMPORT = now
    return now, _TORCH_THREADS_AT_IMPORT


@dataclass(frozen=True)
class ThreadPlan:
    """How the engine splits the cores between torch and image decoding.

    ``torch_threads``: intra-op threads for model work on the CPU; ``decode_workers``: Pillow decode
    threads; ``source``: who decided torch's count (``auto``: this plan, applied around the engine's own
    model work and restored after; ``OMP_NUM_THREADS``/``MKL_NUM_THREADS``: the environment; ``host``: the
    process called ``torch.set_num_threads`` itself, e.g. ComfyUI or a script; ``gpu``: the model runs on a
    GPU, torch's CPU threads are left alone). Only ``auto`` changes torch's setting. ``turns``: decoding and
    the model take turns instead of running side by side (``auto`` on the CPU): the model waits until the
    files already submitted are decoded (``images.DecodeStream.settle``), then runs with every core while
    the decode pool is idle, since the model's matrix products need all cores most of the time.
    """

    cores: int
    cores_how: str
    torch_threads: int
    decode_workers: int
    source: str
    turns: bool = False

    @property
    def applies(self) -> bool:
        return self.source == "auto"

    def describe(self) -> str:
        return (
            f"{self.cores_how} cores: {self.torch_threads} torch thread(s) [{self.source}], "
            f"{self.decode_workers} decode worker(s){', taking turns' if self.turns else ''}"
        )


def plan_threads(
    device_type: str = "cpu", decode_workers: int | None = None, cgroup_root: Path = _CGROUP
) -> ThreadPlan:
    """Choose torch threads and decode workers together so that they never oversubscribe the cores.

    On the CPU the model and the decoders take turns, each with every core (``ThreadPlan.turns``): decoding
    is a few percent of the model's time, so splitting the cores left the decode core idle most of the time
    (one torch thread reached 42 % of a two-core matmul). On a GPU the CPU only decodes: all cores but
    one. An explicit ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` or a host's own ``torch.set_num_threads``
    wins; the decoders then run beside the model on the cores left over (at least one). ``decode_workers``
    set by the user wins too.

    Returns:
        A ``ThreadPlan``; nothing is changed by this call (``torch_threads_for`` applies it).
    """
    cores, how = available_cores(cgroup_root)
    now, at_import = _torch_threads()
    env = _env_threads()
    if device_type != "cpu":
        workers = decode_workers or max(1, cores - 1)
        return ThreadPlan(cores, how, now, workers, "gpu")
    if env is not None:
        torch_threads, source = now, env[0]
    elif now != at_import or (at_import != _physical_cores() and at_import != cores):
        torch_threads, source = now, "host"
    else:
        return ThreadPlan(cores, how, cores, decode_workers or min(cores, 8), "auto", turns=True)
    workers = decode_workers or max(1, cores - torch_threads)
    return ThreadPlan(cores, how, torch_threads, workers, source)


# At the last look (first: this module's import): wall clock, this process's CPU seconds, cores it used.
_OWN_USE: list[float] = [time.monotonic(), sum(os.times()[:2]), 0.0]


def cores_free(cores: int, load: float | None = None, own: float | None = None) -> int:
    """Cores other processes leave free now: ``cores`` minus the 1-minute load average less this process's own
    share of it (its CPU seconds per second since the last look), rounded, at least 1.

    Why: threads of one matrix product wait for each other at every step, so on a machine where other
    processes keep the cores busy, two torch threads ran a critique 6x slower than one (2 cores, load 6).
    ``load``/``own`` are for tests; by default ``os.getloadavg`` and ``os.times``.
    """
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:
            return cores
    if own is None:
        now, used = time.monotonic(), sum(os.times()[:2])
        if now - _OWN_USE[0] > 1.0:  # a rate over at least a second
            _OWN_USE[:] = [now, used, (used - _OWN_USE[1]) / (now - _OWN_USE[0])]
        own = _OWN_USE[2]
    others = max(0.0, load - min(own, float(cores)))
    return max(1, min(cores, round(cores - others)))


@contextmanager
def torch_threads_for(plan: ThreadPlan) -> Iterator[None]:
    """Use the plan's torch thread count for the enclosed model work, then put back what was there. With
    ``turns``, no more threads than the cores other processes leave free (``cores_free``)."""
    if not plan.applies:
        yield
        return
    import torch

    before = torch.get_num_threads()
    wanted = min(plan.torch_threads, cores_free(plan.cores)) if plan.turns else plan.torch_threads
    if before != wanted:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


# ------------------------------------------------------------------------------------------------- memory
def _cgroup_memory_left(root: Path = _CGROUP) -> int | None:
    for limit_file, usage_file in (
        ("memory.max", "memory.current"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
    ):
        try:
            limit = (root / limit_file).read_text().strip()
            if limit == "max" or int(limit) >= 1 << 60:
                return None
            return max(0, int(limit) - int((root / usage_file).read_text().strip()))
        except (OSError, ValueError):
            continue
    return None


def available_memory(device: str = "cpu", cgroup_root: Path = _CGROUP) -> tuple[int | None, str]:
    """Bytes a new model could use on ``device``, and where the number comes from.

    CPU: ``MemAvailable`` of /proc/meminfo, capped by the cgroup's ``memory.max`` minus its usage. CUDA:
    the card's total memory (a host such as ComfyUI frees what it holds when asked, so free memory now
    would refuse loads that work). None when unknown (MPS, no /proc).
    """
    if device.startswith("cuda"):
        import torch

        index = torch.device(device).index or 0
        free, total = torch.cuda.mem_get_info(index)
        return total, f"{torch.cuda.get_device_name(index)} total, {free / GB:.1f} GB free now"
    if device != "cpu":
        return None, f"unknown for {device}"
    available, how = None, ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available, how = int(line.split()[1]) * 1024, "MemAvailable"
                break
    except OSError:
        pass
    left = _cgroup_memory_left(cgroup_root)
    if left is not None and (available is None or left < available):
        available, how = left, "cgroup memory.max"
    return available, how or "unknown"


def _tensor_shapes(info) -> Iterator[tuple[str, list[int]] | tuple[str, tuple[int, ...]]]:
    """(name, shape) of every tensor: a ``sizing.CheckpointShape``'s own list, else the safetensors
    headers alone (no weights read)."""
    tensors = getattr(info, "tensors", None)
    if tensors is not None:
        yield from tensors
        return
    for file in info.weight_files:
        with open(file, "rb") as handle:
            length = struct.unpack("<Q", handle.read(8))[0]
            header = json.loads(handle.read(length))
        for name, entry in header.items():
            if name != "__metadata__":
                yield name, entry["shape"]


_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class MemoryEstimate:
    """What loading a checkpoint will take, in bytes, against what the device has."""

    device: str
    dtype: str
    quantize: str
    batch_size: int
    parameters: int
    weights_bytes: int
    activation_bytes: int
    runtime_bytes: int
    available_bytes: int | None
    available_how: str

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.activation_bytes + self.runtime_bytes

    @property
    def fits(self) -> bool:
        return self.available_bytes is None or self.total_bytes <= self.available_bytes

    def describe(self) -> str:
        quant = "" if self.quantize == "none" else f" {self.quantize}"
        have = "unknown" if self.available_bytes is None else f"{self.available_bytes / GB:.1f} GB"
        return (
            f"needs ~{self.total_bytes / GB:.1f} GB on {self.device} ({self.parameters / 1e9:.2f}B parameters "
            f"in {self.dtype}{quant}: weights {self.weights_bytes / GB:.1f} GB + activations "
            f"{self.activation_bytes / GB:.1f} GB at batch {self.batch_size} + runtime "
            f"{self.runtime_bytes / GB:.1f} GB); {have} available ({self.available_how})"
        )


def _text_and_vision(info) -> tuple[dict, dict]:
    config = info.config
    if info.layout == "chat":
        return config["llm_config"], config["vision_config"]
    return config.get("text_config", {}), config.get("vision_config", {})


def estimate_memory(
    info,
    device: str,
    dtype: str,
    quantize: str = "none",
    batch_size: int = 8,
    prompt_tokens: int = 510,
    available: tuple[int | None, str] | None = None,
) -> MemoryEstimate:
    """Weights x dtype + activations at ``batch_size`` + the runtime, against ``available_memory``.

    Args:
        info: a ``CheckpointInfo`` (only its config and safetensors headers are read) or a
            ``sizing.CheckpointShape`` (a checkpoint known by its architecture, before its download).
        dtype: ``float32``, ``bfloat16`` or ``float16`` (the dtype the weights will have in memory).
        quantize: ``none``, ``8bit`` or ``4bit`` (the language model's linear layers; docs/inference.md "Model").
        prompt_tokens: the longest prompt (the score prompt: 510 tokens, docs/inference.md "Prompt").
        available: (bytes, where the number comes from) instead of asking this machine
            (``available_memory``): `artimuse doctor`'s machine facts, a sizing table.

    The activation term is an upper estimate for one forward pass without gradients: one layer's working
    set (hidden states, q/k/v, MLP, attention scores as the math kernel keeps them) for the vision tower
    (1025 tokens) and for the language model, plus the language model's KV cache.
    """
    size = _BYTES[dtype]
    weights = parameters = 0
    for name, shape in _tensor_shapes(info):
        count = math.prod(shape)
        parameters += count
        in_llm_layers = ".layers." in name and "vision" not in name
        if quantize != "none" and in_llm_layers and len(shape) == 2:
            weights += count if quantize == "8bit" else count * 9 // 16  # 4-bit values + block scales
        else:
            weights += count * size
    text, vision = _text_and_vision(info)
    hidden, inter = text.get("hidden_size", 0), text.get("intermediate_size", 0)
    heads, layers = text.get("num_attention_heads", 1), text.get("num_hidden_layers", 0)
    kv_heads = text.get("num_key_value_heads", heads)
    v_hidden, v_inter = vision.get("hidden_size", 0), vision.get("intermediate_size", 0)
    v_heads, v_tokens = vision.get("num_attention_heads", 1), 1025
    per_image = (
        prompt_tokens * (6 * hidden + 3 * inter)
        + heads * prompt_tokens**2
        + layers * 2 * prompt_tokens * kv_heads * (hidden // max(1, heads))
        + v_tokens * (6 * v_hidden + 2 * v_inter)
        + v_heads * v_tokens**2
    )
    activations = per_image * batch_size * (4 if quantize != "none" else size)
    runtime = int(0.8 * GB) if device == "cpu" else int(1.0 * GB)  # torch, tokenizer, kernels, allocator slack
    have, how = available if available is not None else available_memory(device)
    return MemoryEstimate(
        device, dtype, quantize, batch_size, parameters, int(weights), int(activations), runtime, have, how
    )


def bf16_speed_note() -> str:
    """How much slower bf16 matrix products are on this CPU than fp32, in words."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        flags = ""
    if "amx_bf16" in flags or "avx512_bf16" in flags:
        return "this CPU has bf16 instructions: expect about the fp32 speed"
    return (
        "this CPU has no bf16 instructions (avx512_bf16/amx): bf16 matrix products run far slower than "
        "fp32 here (over 100x in a 2-core measurement); scoring will be slow"
    )


__all__ = [
    "MemoryEstimate",
    "ThreadPlan",
    "available_cores",
    "available_memory",
    "cores_free",
    "bf16_speed_note",
    "estimate_memory",
    "plan_threads",
    "torch_threads_for",
]
