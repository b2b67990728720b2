"""Does the model fit this machine's memory, and if not, what would: the memory check ``artimuse doctor``
makes before anything loads (the same rule as loading, ``loading.fit_placement``), the bfloat16 fallback's
cost on a CPU without bf16 instructions, and the settings or machines that would fit, in the nodes' and the
CLI's shared words ("the dtype setting bfloat16").
"""

from __future__ import annotations

import math
from typing import Any

from .diagnosis import GB, Diagnosis, Problem
from .errors import DeviceError
from .machine import Machine, estimate_speed, seconds_text

#: Common GPU memory sizes (GB), to name the smallest card a need fits.
GPU_SIZES = (8, 12, 16, 24, 32, 40, 48, 80, 141)


def check_memory(found: Diagnosis, target: Any, placement: Any, spec: Any, machine: Machine, threads: int) -> Any:
    """The memory check loading makes (``loading.fit_placement``) of ``target`` (a ``CheckpointInfo`` or
    ``sizing.CheckpointShape``) at ``placement`` (``devices.Placement``) against ``machine``'s memory,
    recorded in ``found`` (the fact, a note, or a problem with what would fit). A bfloat16 fallback on a CPU
    without bf16 instructions is a problem too: hours per image. Returns the placement loading would use."""
    from .loading import fit_placement
    from .resources import estimate_memory

    device, dtype = str(placement.device), str(placement.dtype).removeprefix("torch.")
    available = machine.memory_for(device)
    try:
        fitted, estimate, note = fit_placement(
            target, placement, dtype_is_auto=spec.dtype == "auto", batch_size=spec.batch_size, available=available
        )
    except DeviceError:
        wanted = estimate_memory(target, device, dtype, placement.quantize, spec.batch_size, available=available)
        short = f"{dtype} needs {wanted.total_bytes / GB:.1f} GB on {device} at batch {spec.batch_size}"
        if spec.dtype == "auto" and placement.device.type == "cpu" and dtype == "float32":
            bf16 = estimate_memory(target, device, "bfloat16", "none", spec.batch_size, available=available)
            short += f" (bfloat16 {bf16.total_bytes / GB:.1f} GB)"
        found.facts["memory"] = wanted.describe()
        found.problems.append(Problem(f"{short}, {_has(available)}", _memory_fix(target, placement, spec, machine)))
        return placement
    found.facts["memory"] = estimate.describe()
    if note is None:
        if fitted.device.type == "cpu" and dtype == "bfloat16" and not machine.has_bf16:
            found.notes.append(_bf16_slowness(machine, threads))
        return fitted
    fp32 = estimate_memory(target, device, "float32", "none", spec.batch_size, available=available)
    fallback = (
        f"float32 needs {fp32.total_bytes / GB:.1f} GB, {_has(available)}: dtype auto loads in bfloat16 "
        f"({estimate.total_bytes / GB:.1f} GB)"
    )
    if machine.has_bf16:
        found.notes.append(f"{fallback}; this CPU has bf16 instructions: about the float32 speed")
        return fitted
    problem = f"{fallback}, but {_bf16_slowness(machine, threads)}"
    found.problems.append(Problem(problem, _memory_fix(target, placement, spec, machine)))
    return fitted


def _has(available: tuple[int | None, str]) -> str:
    have, how = available
    return f"this machine has {have / GB:.1f} GB available ({how})" if have is not None else f"memory {how}"


def _bf16_slowness(machine: Machine, threads: int) -> str:
    seconds = estimate_speed(machine, "cpu", "bfloat16", "none", threads).seconds_per_image or 0
    return (
        "this CPU has no bf16 instructions (AMX, AVX512-BF16): bfloat16 runs over 100x slower than float32 "
        f"here (~{seconds_text(seconds)} per image)"
    )


def _memory_fix(target: Any, placement: Any, spec: Any, machine: Machine) -> str:
    """What would make it fit: settings that fit this machine, then the machines it would fit on."""
    from .devices import bitsandbytes_available
    from .resources import estimate_memory

    device, dtype = str(placement.device), str(placement.dtype).removeprefix("torch.")
    available = machine.memory_for(device)

    def need(device: str, dtype: str, quantize: str = "none", batch: int = 1) -> float:
        return estimate_memory(target, device, dtype, quantize, batch, available=available).total_bytes / GB

    def fits(gb: float) -> bool:
        return available[0] is None or gb * GB <= available[0]

    here = []
    if placement.device.type == "cpu":
        if machine.has_bf16 and dtype == "float32" and fits(gb := need(device, "bfloat16", batch=spec.batch_size)):
            here.append(f"the dtype setting bfloat16 (needs {gb:.1f} GB; this CPU has bf16 instructions)")
    elif placement.device.type == "cuda" and placement.quantize == "none":
        for bits in ("8bit", "4bit"):
            if fits(gb := need(device, dtype, bits, spec.batch_size)):
                extra = "" if bitsandbytes_available() else " after pip install 'artimuse-studio[gpu]'"
                here.append(f"the quantize setting {bits} (needs {gb:.1f} GB){extra}")
                break
    if spec.batch_size > 1 and fits(gb := need(device, dtype, placement.quantize)):
        here.append(f"the batch_size setting 1 (needs {gb:.1f} GB)")
    card = need("cuda", "bfloat16", "8bit")
    size = next((s for s in GPU_SIZES if s >= card), None)
    elsewhere = (
        f"the dtype setting bfloat16 on a CPU with AMX and {math.ceil(need('cpu', 'bfloat16'))}+ GB of RAM, "
        f"the quantize setting 8bit on a GPU with {math.ceil(card)}+ GB"
        + (f" (a {size} GB card)" if size else "")
        + f", or float32 with {math.ceil(need('cpu', 'float32'))}+ GB of RAM"
    )
    if here:
        return f"use {' or '.join(here)}; or run it elsewhere: {elsewhere}"
    return f"run it where it fits: {elsewhere}"


__all__ = ["GPU_SIZES", "check_memory"]
