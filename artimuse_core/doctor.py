"""Can the configured model run here, and if not, what to do: every check `artimuse doctor` prints, as data.

The verdict rests on four things a first run needs, each checked short of loading or downloading anything:
the checkpoint (a folder, the Hugging Face cache, or a hub that answers a HEAD request and a disk with room
for the download), the memory the chosen dtype needs against what this machine has (RAM, or the GPU's),
the checkpoint's own files (safetensors headers, the tokenizer) and the device settings. Each blocker is a
``Problem`` with its fix; the speed class (GPU, CPU with AMX, plain CPU) says what to expect per image.
Messages name settings as "the X setting" (front ends put their own words there: ``--x`` in the CLI).

The report's data is ``diagnosis`` (``Diagnosis``, ``Problem``); the memory verdict and what would fit,
``fitting``. Machine facts (``machine.Machine``) and the hub probe are arguments, so every verdict can be
tested on the machine it is about rather than on the one the tests run on.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .diagnosis import GB, Diagnosis, Problem
from .errors import ArtiMuseError, CheckpointNotFound
from .fitting import check_memory
from .machine import Machine, estimate_speed

MODEL_WHERE = "the model setting (ARTIMUSE_MODEL, model in config.toml)"


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
