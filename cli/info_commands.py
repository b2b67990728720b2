"""`artimuse models` and `artimuse doctor`: what can run here, and what to fix when it cannot."""

from __future__ import annotations

import platform
import sys
from typing import Any

import click

import artimuse_core
from artimuse_core.errors import ArtiMuseError

from .context import app
from .options import engine_options, flagify, json_option
from .output import emit_json, print_table, styled

NOT_ENGINE_LOAD = ("max_new_tokens", "max_pixels", "exif", "background", "jpeg_draft", "decode_workers")


@click.command()
@json_option
def models(as_json: bool) -> None:
    """The published ArtiMuse checkpoints, how each uses the 0-100 scale (it learnt its training set's
    ratings), and whether each is in the local Hugging Face cache.

    \b
    Example:
      artimuse models --json
    """
    from artimuse_core.checkpoints import list_models

    rows = [m.to_dict() for m in list_models()]
    if as_json:
        emit_json(rows)
        return
    print_table(rows, ["name", "trained_on", "paper_srcc", "available", "scale"])
    click.echo("\nGet one with: hf download Thunderbolt215215/ArtiMuse  (or pass --model /path/to/folder)")


@click.command()
@engine_options(exclude=NOT_ENGINE_LOAD)
@json_option
def doctor(as_json: bool) -> None:
    """Check the installation for the configured model: versions, device, GPU packages, downloads, the
    checkpoint, the thread plan, the memory the model needs (checked as loading checks it, with the notes
    loading would print), the adapter and the library. Each problem comes with what to do about it.

    Exit code 0 when the configured model can run (or will download on first use), 1 otherwise.

    \b
    Examples:
      artimuse doctor
      artimuse doctor --model ./ArtiMuse_AVA --device cuda --json
    """
    report, problems = diagnose()
    report["problems"] = problems
    if as_json:
        emit_json(report)
    else:
        for key, value in report.items():
            if key == "problems":
                continue
            if isinstance(value, bool):
                value = styled("yes", fg="green") if value else styled("no", fg="yellow")
            elif isinstance(value, list) and value:
                value = "; ".join(map(str, value))
            click.echo(f"{key:>24}: {value if value not in (None, []) else '-'}")
        for problem in problems:
            click.echo(styled(f"\nproblem: {problem['problem']}", fg="red"))
            click.echo(f"    fix: {problem['fix']}")
        if not problems:
            click.echo(styled("\nready: the configured model can run", fg="green"))
    if problems:
        sys.exit(1)


def diagnose() -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(report, problems): every fact a user needs, and each problem with its fix (in this CLI's words)."""
    from importlib.metadata import version

    import torch
    from huggingface_hub.constants import HF_HUB_CACHE

    from artimuse_core.checkpoints import downloads_enabled, fingerprint, repo_id_for, resolve_checkpoint
    from artimuse_core.devices import bitsandbytes_available, choose_placement, flash_attn_available
    from artimuse_core.errors import CheckpointNotFound
    from artimuse_core.loading import check_tokenizer
    from artimuse_core.resources import plan_threads

    config = app().settings
    spec = config.spec
    problems: list[dict[str, str]] = []
    report: dict[str, Any] = {
        "artimuse": artimuse_core.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": version("transformers"),
        "pillow": version("pillow"),
        "config_file": str(config.file) if config.file else None,
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "flash_attn": flash_attn_available(),
        "bitsandbytes": bitsandbytes_available(),
        "hf_cache": str(HF_HUB_CACHE),
        "downloads": downloads_enabled(),
        "model": spec.model,
        "model_from": config.source_of("model"),
    }
    placement = None
    try:
        report["auto_placement"] = choose_placement().describe()
        placement = choose_placement(spec.device, spec.dtype, spec.quantize, spec.attn)
        report["placement"] = placement.describe()
    except ArtiMuseError as exc:
        report["placement"] = None
        problems.append({"problem": flagify(str(exc)), "fix": _device_fix(str(exc))})
    device_type = placement.device.type if placement is not None else "cpu"
    report["threads"] = plan_threads(device_type, spec.decode_workers).describe()
    report["memory"] = None
    report["notes"] = []
    try:
        info = resolve_checkpoint(spec.model, local_only=True)
    except ArtiMuseError as exc:
        report.update(checkpoint_found=False, checkpoint_path=None, checkpoint_problem=flagify(str(exc)))
        repo_id = repo_id_for(spec.model)
        if isinstance(exc, CheckpointNotFound) and repo_id and downloads_enabled():
            report["checkpoint_problem"] = None
            report["checkpoint_note"] = f"{repo_id} downloads on first use (about 16 GB, into {HF_HUB_CACHE})"
        else:
            problems.append({"problem": flagify(str(exc)), "fix": _model_fix(repo_id)})
    else:
        report.update(checkpoint_found=True, checkpoint_path=str(info.path), checkpoint_layout=info.layout)
        try:  # what loading would refuse, short of reading the weights: damaged headers, a foreign tokenizer
            report["checkpoint_fingerprint"] = fingerprint(info)
            check_tokenizer(info.path)
        except ArtiMuseError as exc:
            report["checkpoint_problem"] = flagify(str(exc))
            fix = f"this folder is damaged or not an ArtiMuse checkpoint: fetch it again ({_model_fix(None)})"
            problems.append({"problem": flagify(str(exc)), "fix": fix})
        else:
            report["checkpoint_problem"] = None
            if placement is not None:
                _memory(report, problems, info, placement, spec)
    if spec.adapter:
        from artimuse_core.adapters import adapter_dir

        try:
            report["adapter_path"] = str(adapter_dir(spec.adapter))
        except ArtiMuseError as exc:
            problems.append(
                {
                    "problem": flagify(str(exc)),
                    "fix": "see `artimuse adapters list`, or drop --adapter "
                    "(and ARTIMUSE_ADAPTER / adapter in config.toml)",
                }
            )
    report["library"] = config.library_url()
    return report, problems


def _memory(report: dict[str, Any], problems: list[dict[str, str]], info: Any, placement: Any, spec: Any) -> None:
    """The configured model's memory estimate, checked as ``create_engine`` checks it before loading
    (``loading.fit_placement``), and the notes loading would print (a dtype fallback, with its speed cost)."""
    from artimuse_core.loading import fit_placement

    try:
        fitted, estimate, note = fit_placement(
            info, placement, dtype_is_auto=spec.dtype == "auto", batch_size=spec.batch_size
        )
    except ArtiMuseError as exc:
        problems.append({"problem": flagify(str(exc)), "fix": "use a smaller --batch-size, a GPU, or more memory"})
        return
    report["placement"] = fitted.describe()
    report["memory"] = estimate.describe()
    report["notes"] = [flagify(note)] if note else []


def _model_fix(repo_id: str | None) -> str:
    where = "--model, ARTIMUSE_MODEL or model in config.toml (`artimuse config show` says which is in force)"
    if repo_id:
        return (
            f"on a machine with internet run `hf download {repo_id} --include '*.json' '*.safetensors' "
            f"'*.txt'` and copy the Hugging Face cache here (or set HF_HOME), or point {where} at a "
            "checkpoint folder"
        )
    return f"point {where} at a folder with config.json, the tokenizer files and *.safetensors weights"


def _device_fix(message: str) -> str:
    if "bitsandbytes" in message:
        return "pip install 'artimuse-studio[gpu]' (CUDA only), or use --quantize none"
    if "flash" in message:
        return "pip install flash-attn (CUDA only), or use --attn sdpa"
    return "use --device cpu (or auto), or install a CUDA build of torch for this GPU"


COMMANDS = [models, doctor]
