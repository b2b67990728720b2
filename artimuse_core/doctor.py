"""Can the configured model run here, and if not, what to do: every check `artimuse doctor` prints, as data.

The verdict rests on four things a first run needs, each checked short of loading or downloading anything:
the checkpoint (a folder, the Hugging Face cache, or a hub that answers a HEAD request and a disk with room
for the download), the memory the chosen dtype needs against what this machine has (RAM, or the GPU's),
the checkpoint's own files (safetensors headers, the tokenizer) and the device settings. Each blocker is a
``Problem`` with its fix; the speed class (GPU, CPU with AMX, plain CPU) says what to expect per image.
Messages name settings as "the X setting" (front ends put their own words there: ``--x`` in the CLI).

Machine facts (``machine.Machine``) and the hub probe are arguments, so every verdict can be tested on
the machine it is about rather than on the one the tests run on.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ArtiMuseError, CheckpointNotFound, DeviceError
from .machine import Machine, SpeedEstimate, estimate_speed, seconds_text

GB = 1e9
#: Common GPU memory sizes (GB), to name the smallest card a need fits.
GPU_SIZES = (8, 12, 16, 24, 32, 40, 48, 80, 141)
MODEL_WHERE = "the model setting (ARTIMUSE_MODEL, model in config.toml)"


@dataclass(frozen=True)
class Problem:
    """A blocker: what is wrong, in one line, and what to do about it."""

    problem: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"problem": self.problem, "fix": self.fix}


#: ``probe(repo_id)`` -> None when the hub can serve it, else why not (one line).
HubProbe = Callable[[str], "str | None"]


def probe_hub(repo_id: str, timeout: float = 3.0, endpoint: str | None = None) -> str | None:
    """Ask the Hugging Face hub (``endpoint``, default ``HF_ENDPOINT``) for ``repo_id``'s config.json with one
    HEAD request (nothing downloads; redirects are not followed) within ``timeout`` seconds.

    Returns:
        None when the hub answers with the file, else the reason: the network error, or what the hub said.
    """
    from huggingface_hub import get_session, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(repo_id, "config.json", endpoint=endpoint)
    try:
        response = get_session().head(url, headers=build_hf_headers(), timeout=timeout, follow_redirects=False)
    except Exception as exc:  # DNS, refused, timeout, proxy: all mean "cannot download from here"
        text = str(exc).splitlines()[0] if str(exc) else ""
        return f"{type(exc).__name__}: {text}".rstrip(": ")
    code = response.status_code
    if code < 400:
        return None
    if code in (401, 403):
        return f"HTTP {code}: the model is gated or private (log in with `hf auth login`)"
    if code == 404:
        return "HTTP 404: the hub has no such model"
    return f"HTTP {code}"


@dataclass
class Diagnosis:
    """Everything `artimuse doctor` found: ``facts`` (versions, device, checkpoint, memory...), ``problems``
    (the blockers, each with its fix), ``notes`` (what loading would say) and the speed to expect."""

    facts: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    speed: SpeedEstimate | None = None

    @property
    def ready(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.facts,
            "speed": self.speed.describe() if self.speed else None,
            "speed_estimate": self.speed.to_dict() if self.speed else None,
            "notes": list(self.notes),
            "problems": [p.to_dict() for p in self.problems],
            "ready": self.ready,
        }


def diagnose(config: Any, *, machine: Machine | None = None, probe: HubProbe | None = None) -> Diagnosis:
    """Check whether ``config`` (a ``config.Config``) can run here.

    Args:
        machine: the machine's facts (default ``machine.this_machine()``).
        probe: asks the hub about a checkpoint that is not in the cache (default ``probe_hub``: one HEAD
            request); not called when downloads are off or the checkpoint is here.

    Returns:
        A ``Diagnosis``; ``ready`` is False when any check found a blocker.
    """
    from importlib.metadata import version

    import torch
    from huggingface_hub.constants import HF_HUB_CACHE

    from . import __version__
    from .checkpoints import downloads_enabled
    from .devices import bitsandbytes_available, choose_placement, flash_attn_available
    from .resources import plan_threads

    machine = machine or _this_machine()
    spec = config.spec
    found = Diagnosis(
        {
            "artimuse": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": version("transformers"),
            "pillow": version("pillow"),
            "config_file": str(config.file) if config.file else None,
            "machine": describe_machine(machine),
            "machine_facts": machine.to_dict(),
            "cuda_available": bool(machine.gpus),
            "cuda_devices": [g.name for g in machine.gpus],
            "flash_attn": flash_attn_available(),
            "bitsandbytes": bitsandbytes_available(),
            "hf_cache": str(HF_HUB_CACHE),
            "downloads": downloads_enabled(),
            "model": spec.model,
            "model_from": config.source_of("model"),
        }
    )
    facts = found.facts
    placement = None
    try:
        facts["auto_placement"] = choose_placement().describe()
        placement = choose_placement(spec.device, spec.dtype, spec.quantize, spec.attn)
        facts["placement"] = placement.describe()
    except ArtiMuseError as exc:
        facts["placement"] = None
        found.problems.append(Problem(str(exc), _device_fix(str(exc))))
    threads = plan_threads(placement.device.type if placement is not None else "cpu", spec.decode_workers)
    facts["threads"] = threads.describe()
    facts["memory"] = None
    target = _checkpoint(found, spec.model, machine, probe or probe_hub)
    if target is not None and placement is not None:
        placement = check_memory(found, target, placement, spec, machine, threads.torch_threads)
        facts["placement"] = placement.describe()  # what loading would use (a bfloat16 fallback shows here)
    if placement is not None:
        dtype = str(placement.dtype).removeprefix("torch.")
        found.speed = estimate_speed(machine, placement.device.type, dtype, placement.quantize, threads.torch_threads)
    if spec.adapter:
        from .adapters import adapter_dir

        try:
            facts["adapter_path"] = str(adapter_dir(spec.adapter))
        except ArtiMuseError as exc:
            fix = "name an adapter that exists, or drop the adapter setting (ARTIMUSE_ADAPTER, adapter in config.toml)"
            found.problems.append(Problem(str(exc), fix))
    facts["library"] = config.library_url()
    return found


def _this_machine() -> Machine:
    from .machine import this_machine

    return this_machine()


def describe_machine(machine: Machine) -> str:
    """One line: CPU, cores, instruction sets, RAM, GPUs."""
    bf16 = "AMX" if machine.has_amx else ("AVX512-BF16, no AMX" if machine.has_bf16 else "no AMX, no bf16 instructions")
    ram = "RAM unknown" if machine.ram_total is None else f"{machine.ram_total / GB:.1f} GB RAM"
    free = "" if machine.ram_available is None else f" ({machine.ram_available / GB:.1f} GB available)"
    gpus = "; ".join(f"{g.name} {g.memory_bytes / GB:.1f} GB" for g in machine.gpus) or "no CUDA GPU"
    return f"{machine.cpu}, {machine.cores} core(s), {bf16}; {ram}{free}; {gpus}"


def model_fix(repo_id: str | None) -> str:
    """How to get a checkpoint here: ``hf download`` where there is internet, or a folder."""
    if repo_id:
        return (
            f"on a machine with internet run `hf download {repo_id} --include '*.json' '*.safetensors' "
            f"'*.txt'` and copy the Hugging Face cache here (or set HF_HOME), or point {MODEL_WHERE} at a "
            "checkpoint folder"
        )
    return f"point {MODEL_WHERE} at a folder with config.json, the tokenizer files and *.safetensors weights"


def _checkpoint(found: Diagnosis, model: str, machine: Machine, probe: HubProbe) -> Any:
    """Find the configured checkpoint without downloading it; return what its memory can be sized from (a
    ``CheckpointInfo``, or the published ``sizing.CheckpointShape`` when it is not here yet), or None."""
    from huggingface_hub.constants import ENDPOINT, HF_HUB_CACHE

    from .checkpoints import downloads_enabled, fingerprint, repo_id_for, resolve_checkpoint
    from .loading import check_tokenizer
    from .sizing import published_shape

    facts = found.facts
    try:
        info = resolve_checkpoint(model, local_only=True)
    except ArtiMuseError as exc:
        facts.update(checkpoint_found=False, checkpoint_path=None, checkpoint_problem=str(exc))
        repo_id = repo_id_for(model) if isinstance(exc, CheckpointNotFound) else None
        if repo_id is None:
            found.problems.append(Problem(str(exc), model_fix(None)))
            return None
        shape = published_shape(repo_id)
        size = f"{shape.download_bytes / GB:.1f} GB" if shape else "its size is known once downloaded"
        facts["download"] = f"{repo_id}: {size} into {HF_HUB_CACHE}"
        not_here = f"{repo_id} is not in the local Hugging Face cache ({HF_HUB_CACHE})"
        if not downloads_enabled():
            facts["hub"] = "not asked: downloads are off (HF_HUB_OFFLINE)"
            problem = Problem(f"{not_here} and downloads are off (HF_HUB_OFFLINE)", model_fix(repo_id))
        elif (reason := probe(repo_id)) is not None:
            facts["hub"] = f"{ENDPOINT} unreachable: {reason}"
            problem = Problem(f"{not_here} and cannot be downloaded from {ENDPOINT} ({reason})", model_fix(repo_id))
        else:
            facts["hub"] = f"{ENDPOINT} answers for {repo_id}"
            facts["checkpoint_problem"] = None
            free = machine.free_disk(Path(HF_HUB_CACHE)) if shape else None
            if shape is None or free is None or free >= shape.download_bytes:
                facts["checkpoint_note"] = f"{repo_id} downloads on first use ({size} into {HF_HUB_CACHE})"
                return shape
            problem = Problem(
                f"downloading {repo_id} needs {size} in {HF_HUB_CACHE}, which has {free / GB:.1f} GB free",
                "free space there, or set HF_HOME to a disk with room (or download it elsewhere and point "
                f"{MODEL_WHERE} at the folder)",
            )
        facts["checkpoint_problem"] = problem.problem
        found.problems.append(problem)
        return shape
    facts.update(checkpoint_found=True, checkpoint_path=str(info.path), checkpoint_layout=info.layout)
    try:  # what loading would refuse, short of reading the weights: damaged headers, a foreign tokenizer
        facts["checkpoint_fingerprint"] = fingerprint(info)
        check_tokenizer(info.path)
    except ArtiMuseError as exc:
        facts["checkpoint_problem"] = str(exc)
        fix = f"this folder is damaged or not an ArtiMuse checkpoint: fetch it again ({model_fix(None)})"
        found.problems.append(Problem(str(exc), fix))
        return None
    facts["checkpoint_problem"] = None
    return info


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


def _device_fix(message: str) -> str:
    if "bitsandbytes" in message:
        return "pip install 'artimuse-studio[gpu]' (CUDA only), or use the quantize setting none"
    if "flash" in message:
        return "pip install flash-attn (CUDA only), or use the attn setting sdpa"
    return "use the device setting cpu (or auto), or install a CUDA build of torch for this GPU"


__all__ = [
    "Diagnosis",
    "HubProbe",
    "Problem",
    "check_memory",
    "describe_machine",
    "diagnose",
    "model_fix",
    "probe_hub",
]
