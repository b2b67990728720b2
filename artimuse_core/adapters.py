"""LoRA adapters fine-tuned on a user's ratings: where they live, what they were trained on, and how
one is put onto a loaded model (safetensors only; refused when its base model is not this one)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .config import paths
from .errors import CheckpointError

METADATA_FILE = "artimuse_adapter.json"
WEIGHTS_FILE = "adapter_model.safetensors"


def adapter_dir(name_or_path: str | os.PathLike) -> Path:
    """The folder of an adapter given by name (in the adapters folder of the home) or by folder.

    Raises:
        CheckpointError: no such adapter.
    """
    candidate = Path(name_or_path).expanduser()
    if (candidate / "adapter_config.json").is_file():
        return candidate
    named = paths().adapters_dir / str(name_or_path)
    if (named / "adapter_config.json").is_file():
        return named
    known = (
        sorted(p.name for p in paths().adapters_dir.glob("*/adapter_config.json"))
        if paths().adapters_dir.is_dir()
        else []
    )
    raise CheckpointError(
        f"no adapter named {name_or_path!r} in {paths().adapters_dir} (known: {', '.join(known) or 'none yet'})"
    )


def read_metadata(folder: Path) -> dict:
    """The adapter's ``artimuse_adapter.json`` (base model, fingerprint, metrics...).

    Raises:
        CheckpointError: missing or unreadable.
    """
    try:
        return json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder}: not an ArtiMuse adapter ({METADATA_FILE} unreadable: {exc})") from exc


def apply_adapter(loaded, name_or_path: str | os.PathLike) -> str:
    """Put the adapter onto ``loaded.model`` (merged into the weights unless they are quantised); returns
    its name.

    Raises:
        CheckpointError: no such adapter, trained on other base weights, or weights not in safetensors.
    """
    from peft import PeftModel

    folder = adapter_dir(name_or_path)
    metadata = read_metadata(folder)
    if metadata.get("base_fingerprint") != loaded.fingerprint:
        raise CheckpointError(
            f"adapter {metadata.get('name', folder.name)!r} was trained on base model "
            f"{metadata.get('base_model')} ({metadata.get('base_fingerprint')}), not on "
            f"{loaded.info.name} ({loaded.fingerprint})"
        )
    if not (folder / WEIGHTS_FILE).is_file() or any(folder.glob("*.bin")):
        raise CheckpointError(f"{folder}: adapter weights must be {WEIGHTS_FILE} (safetensors) only")
    wrapped = PeftModel.from_pretrained(loaded.model, str(folder), is_trainable=False)
    if loaded.placement.quantize == "none":
        loaded.model = wrapped.merge_and_unload()
    else:
        loaded.model = wrapped.base_model.model  # LoRA layers stay active beside the quantised weights
    loaded.model.eval().requires_grad_(False)
    return metadata.get("name", folder.name)
