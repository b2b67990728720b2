"""LoRA adapters fine-tuned on a user's ratings: where they live, what they were trained on, and how
one is put onto a loaded model (safetensors only; refused when its base model is not this one)."""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .config import home_paths
from .errors import CheckpointError, InvalidValue

METADATA_FILE = "artimuse_adapter.json"
WEIGHTS_FILE = "adapter_model.safetensors"
#: What an adapter name may be: it becomes a folder name inside the adapters folder, so never ``..``, ``''``,
#: a path (``a/b``), a hidden name, or a cell a spreadsheet would run (``=HYPERLINK(...)``).
NAME_RULE = "1 to 64 characters: letters, digits, '.', '_' and '-', starting and ending with a letter or a digit"
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")
_WORK_DIR = re.compile(r"\.(?P<name>.+)\.training")
#: Files that only an adapter folder this code wrote holds (PEFT's config; our metadata).
_ADAPTER_MARKERS = (METADATA_FILE, "adapter_config.json")


def check_name(name: str) -> str:
    """``name`` when it is a safe adapter name (``NAME_RULE``: it becomes a folder name).

    Raises:
        InvalidValue: any other name (``..``, empty, ``a/b``, ``.hidden``, too long, other characters).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise InvalidValue(f"adapter name {name!r} is not allowed: use {NAME_RULE} (no '..')")
    return name


def work_dir(name: str) -> Path:
    """Where a training run of adapter ``name`` keeps its checkpoints (a hidden folder beside the adapters)."""
    return home_paths().adapters_dir / f".{check_name(name)}.training"


def remove_adapter_folder(folder: str | os.PathLike) -> bool:
    """Delete ``folder`` only when it is a real directory (not a symlink) directly inside the adapters folder
    that this code made: a training run's ``.<name>.training`` folder, or an adapter folder (it holds
    ``adapter_config.json`` or ``artimuse_adapter.json``) named by the name rule. Returns whether it was
    deleted; a folder that is not there is not an error.

    Raises:
        FinetuneError: ``folder`` exists but is not a folder this code may delete (nothing is deleted).
    """
    from .errors import FinetuneError

    path = Path(folder)
    if not os.path.lexists(path):
        return False
    root = home_paths().adapters_dir.resolve()
    work = _WORK_DIR.fullmatch(path.name)
    named = (work.group("name") if work else path.name) if path.name else ""
    own = (
        not path.is_symlink()
        and path.is_dir()
        and path.parent.resolve() == root
        and bool(_NAME.fullmatch(named))
        and ".." not in named
        and (work is not None or any((path / marker).is_file() for marker in _ADAPTER_MARKERS))
    )
    if not own:
        raise FinetuneError(
            f"refusing to delete {path}: not an adapter folder artimuse made inside {root}; move it away by hand"
        )
    shutil.rmtree(path)
    return True


def adapter_dir(name_or_path: str | os.PathLike) -> Path:
    """The folder of an adapter given by name (in the adapters folder of the home) or by folder.

    Raises:
        CheckpointError: no such adapter.
    """
    candidate = Path(name_or_path).expanduser()
    if (candidate / "adapter_config.json").is_file():
        return candidate
    named = home_paths().adapters_dir / str(name_or_path)
    if (named / "adapter_config.json").is_file():
        return named
    known = (
        sorted(p.name for p in home_paths().adapters_dir.glob("*/adapter_config.json"))
        if home_paths().adapters_dir.is_dir()
        else []
    )
    raise CheckpointError(
        f"no adapter named {name_or_path!r} in {home_paths().adapters_dir} (known: {', '.join(known) or 'none yet'})"
    )


def read_metadata(folder: Path) -> dict:
    """The adapter's ``artimuse_adapter.json`` (base model, fingerprint, metrics...).

    Raises:
        CheckpointError: missing or unreadable.
    """
    try:
        data = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder}: not an ArtiMuse adapter ({METADATA_FILE} unreadable: {exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{folder}: not an ArtiMuse adapter ({METADATA_FILE} is not a JSON object)")
    return data


def check_config(folder: Path) -> None:
    """PEFT's ``adapter_config.json`` must be a JSON object (else PEFT fails with a traceback deep inside).

    Raises:
        CheckpointError: unreadable, not JSON, or not an object; the message names the file.
    """
    config = folder / "adapter_config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{config}: not a valid adapter config (not JSON: {exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{config}: not a valid adapter config (not a JSON object)")


@contextmanager
def peft_quietly() -> Iterator[None]:
    """Wrap a model in peft without its one warning a user cannot act on: peft 0.21 reads transformers'
    deprecated ``is_gradient_checkpointing`` itself (no call of ours; v6 of transformers removes it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`is_gradient_checkpointing` is deprecated", FutureWarning)
        yield


def apply_adapter(loaded, name_or_path: str | os.PathLike) -> str:
    """Put the adapter onto ``loaded.model`` (merged into the weights unless they are quantised); returns
    its name.

    Raises:
        CheckpointError: no such adapter, trained on other base weights, or weights not in safetensors.
    """
    from peft import PeftModel

    folder = adapter_dir(name_or_path)
    metadata = read_metadata(folder)
    check_config(folder)
    if metadata.get("base_fingerprint") != loaded.fingerprint:
        raise CheckpointError(
            f"adapter {metadata.get('name', folder.name)!r} was trained on base model "
            f"{metadata.get('base_model')} ({metadata.get('base_fingerprint')}), not on "
            f"{loaded.info.name} ({loaded.fingerprint})"
        )
    if not (folder / WEIGHTS_FILE).is_file() or any(folder.glob("*.bin")):
        raise CheckpointError(f"{folder}: adapter weights must be {WEIGHTS_FILE} (safetensors) only")
    with peft_quietly():
        wrapped = PeftModel.from_pretrained(loaded.model, str(folder), is_trainable=False)
    if loaded.placement.quantize == "none":
        loaded.model = wrapped.merge_and_unload()
    else:
        loaded.model = wrapped.base_model.model  # LoRA layers stay active beside the quantised weights
    loaded.model.eval().requires_grad_(False)
    return metadata.get("name", folder.name)
