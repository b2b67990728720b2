"""What this machine is, as facts a verdict can be drawn from (and a test can inject): memory (RAM, each
GPU's), CPU instruction sets, cores, free disk; and the speed class those facts put it in (GPU, CPU with
AMX, plain CPU) with the seconds per image measured or estimated for that class.

Why: the 8B checkpoints need ~17 GB in bfloat16 and ~33 GB in float32, and the same model scores an image in
0.1 s on a GPU, 4 s on a many-core CPU with AMX and many minutes on a laptop core. A user should learn
which case is theirs from `artimuse doctor`, before a 16 GB download.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GB = 1e9


@dataclass(frozen=True)
class Gpu:
    """One CUDA device: its name and total memory in bytes."""

    name: str
    memory_bytes: int


def free_disk(path: Path) -> int | None:
    """Bytes free on the file system that holds ``path`` (or its nearest existing parent); None if unknown."""
    path = Path(path)
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


@dataclass(frozen=True)
class Machine:
    """Facts about a machine. ``this_machine()`` reads them here; tests build their own.

    ``ram_available``: bytes a new model could use now (``resources.available_memory``: MemAvailable,
    capped by the cgroup); ``ram_total``: physical memory (or the cgroup's limit); ``cpu_flags``: the
    /proc/cpuinfo flags (``amx_tile``, ``amx_bf16``, ``avx512_bf16``...); ``free_disk(path)``: bytes free there.
    """

    cpu: str
    cores: int
    cpu_flags: frozenset[str]
    ram_total: int | None
    ram_available: int | None
    ram_how: str = "MemAvailable"
    gpus: tuple[Gpu, ...] = ()
    free_disk: Callable[[Path], int | None] = field(default=free_disk, compare=False, repr=False)

    @property
    def has_amx(self) -> bool:
        """Intel AMX with its bf16 tiles (Sapphire Rapids and later): bf16 matrix products at full speed."""
        return {"amx_tile", "amx_bf16"} <= self.cpu_flags

    @property
    def has_bf16(self) -> bool:
        """Any bf16 matrix instructions (AMX or AVX512-BF16); without them bf16 runs far slower than fp32."""
        return self.has_amx or "avx512_bf16" in self.cpu_flags

    def memory_for(self, device: str) -> tuple[int | None, str]:
        """(bytes, where the number comes from) a model could use on ``device`` (``cpu``, ``cuda:N``)."""
        if device.startswith("cuda"):
            index = int(device.partition(":")[2] or 0)
            if index < len(self.gpus):
                return self.gpus[index].memory_bytes, f"{self.gpus[index].name} total"
            return None, f"no {device} on this machine"
        if device == "cpu":
            total = "" if self.ram_total is None else f" of {self.ram_total / GB:.1f} GB RAM"
            return self.ram_available, f"{self.ram_how}{total}"
        return None, f"unknown for {device}"

    def speed_class(self, device_type: str) -> str:
        """``gpu`` (CUDA), ``amx-cpu``, ``bf16-cpu`` (AVX512-BF16 without AMX), ``cpu`` (no bf16
        instructions) or ``mps``."""
        if device_type == "cuda":
            return "gpu"
        if device_type == "cpu":
            return "amx-cpu" if self.has_amx else "bf16-cpu" if self.has_bf16 else "cpu"
        return device_type

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpu": self.cpu,
            "cores": self.cores,
            "amx": self.has_amx,
            "bf16_instructions": self.has_bf16,
            "ram_total_gb": None if self.ram_total is None else round(self.ram_total / GB, 1),
            "ram_available_gb": None if self.ram_available is None else round(self.ram_available / GB, 1),
            "gpus": [{"name": g.name, "memory_gb": round(g.memory_bytes / GB, 1)} for g in self.gpus],
        }


def _cpuinfo() -> tuple[str, frozenset[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU", frozenset()
    name, flags = "unknown CPU", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and name == "unknown CPU":
            name = value.strip()
        elif key.strip() in ("flags", "Features") and not flags:
            flags = frozenset(value.split())
    return name, flags


def _ram_total() -> int | None:
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            total = min(total, int(limit))
    except (OSError, ValueError):
        pass
    return total


def this_machine() -> Machine:
    """The facts of the machine this runs on (imports torch to list CUDA devices)."""
    import torch

    from .resources import available_cores, available_memory

    cpu, flags = _cpuinfo()
    available, how = available_memory("cpu")
    gpus: tuple[Gpu, ...] = ()
    if torch.cuda.is_available():
        gpus = tuple(
            Gpu(torch.cuda.get_device_name(i), torch.cuda.get_device_properties(i).total_memory)
            for i in range(torch.cuda.device_count())
        )
    return Machine(cpu, available_cores()[0], flags, _ram_total(), available, how, gpus)


# ---------------------------------------------------------------------------------------------- speed
@dataclass(frozen=True)
class SpeedFigure:
    """Seconds per image (score + category, batch 1, InternVL3-8B) for one speed class and dtype, with how
    it is known. ``per_core``: the figure is for ONE core (divided by the torch threads in use)."""

    speed_class: str
    dtype: str
    seconds: float
    how: str
    per_core: bool = False


#: InternVL3-8B's 8.17 TFLOP per image at the ~70 GFLOP/s measured on one core of a shared 2-core machine
#: (``bench/first_run_figures.py``: 69.5 and 72.5 GFLOP/s in two runs; the slower one is kept).
CPU_CORE_SECONDS = 118.0
CPU_CORE_HOW = "estimated per core from a smaller checkpoint's measured FLOP rate: bench/first_run_figures.py"
#: The README's "Before the first run" table (tests check that both say the same).
SPEED_FIGURES = (
    SpeedFigure(
        "gpu",
        "bfloat16",
        0.106,
        "measured on an NVIDIA H200, sdpa, batch 1 (0.030 s at batch 8): bench/gpu_suite.sh",
    ),
    SpeedFigure("amx-cpu", "bfloat16", 4.0, "measured on a 16-core Xeon with AMX, 12 torch threads: bench/cpu_8b.py"),
    SpeedFigure("amx-cpu", "float32", 12.7, "measured on a 16-core Xeon with AMX, 12 torch threads: bench/cpu_8b.py"),
    SpeedFigure("bf16-cpu", "float32", CPU_CORE_SECONDS, CPU_CORE_HOW, per_core=True),
    SpeedFigure(
        "bf16-cpu",
        "bfloat16",
        CPU_CORE_SECONDS,
        "estimated: at most the float32 figure (bf16 ran faster than float32 with AVX512-BF16: "
        "bench/first_run_figures.py)",
        per_core=True,
    ),
    SpeedFigure("cpu", "float32", CPU_CORE_SECONDS, CPU_CORE_HOW, per_core=True),
    SpeedFigure(
        "cpu",
        "bfloat16",
        CPU_CORE_SECONDS * 100,
        "estimated: over 100x the float32 time on a CPU without bf16 instructions (a 2-core measurement)",
        per_core=True,
    ),
)
SPEED_LABELS = {
    "gpu": "NVIDIA GPU",
    "amx-cpu": "CPU with AMX",
    "bf16-cpu": "CPU with AVX512-BF16, no AMX",
    "cpu": "CPU without bf16 instructions",
    "mps": "Apple GPU (MPS)",
}


@dataclass(frozen=True)
class SpeedEstimate:
    """What to expect here: the speed class, seconds per image (None when nothing was measured for that
    case) and where the figure comes from."""

    speed_class: str
    dtype: str
    seconds_per_image: float | None
    how: str

    def describe(self) -> str:
        label = f"{SPEED_LABELS.get(self.speed_class, self.speed_class)}, {self.dtype}"
        if self.seconds_per_image is None:
            return f"{label}: {self.how}"
        return f"{label}: ~{seconds_text(self.seconds_per_image)} per image ({self.how})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "class": self.speed_class,
            "dtype": self.dtype,
            "seconds_per_image": self.seconds_per_image,
            "how": self.how,
        }


def seconds_text(seconds: float) -> str:
    """0.106 s, 12.7 s, 15 min, 25.5 h: a duration as a person reads it."""
    if seconds < 1:
        return f"{seconds:.3f} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_speed(machine: Machine, device_type: str, dtype: str, quantize: str, torch_threads: int) -> SpeedEstimate:
    """The seconds per image to expect for the 8B checkpoints on ``machine`` (``SPEED_FIGURES``)."""
    speed_class = machine.speed_class(device_type)
    if quantize != "none":
        return SpeedEstimate(speed_class, f"{dtype} {quantize}", None, "slower than bfloat16 (not measured)")
    figure = next((f for f in SPEED_FIGURES if (f.speed_class, f.dtype) == (speed_class, dtype)), None)
    if figure is None:
        return SpeedEstimate(speed_class, dtype, None, "no figure measured for this case")
    if figure.per_core:
        threads = max(1, torch_threads)
        how = f"{figure.how}; {threads} torch thread(s) here"
        return SpeedEstimate(speed_class, dtype, figure.seconds / threads, how)
    return SpeedEstimate(speed_class, dtype, figure.seconds, figure.how)


__all__ = [
    "Gpu",
    "Machine",
    "SPEED_FIGURES",
    "SpeedEstimate",
    "SpeedFigure",
    "estimate_speed",
    "free_disk",
    "seconds_text",
    "this_machine",
]
