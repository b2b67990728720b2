"""What the loader offers and where each choice comes from: local checkpoint folders under every
models/artimuse root first, then the published checkpoints, each labelled with what picking it does.

A published checkpoint is downloaded only when the user picks its "(download ~16 GB)" entry and queues,
into ComfyUI/models/artimuse/<name> (never the Hugging Face cache), with ComfyUI's progress bar; after
that it is a local folder like any other.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from artimuse_core import DOWNLOAD_PATTERNS, KNOWN_MODELS

from . import host

DOWNLOAD_SUFFIX = " (download ~16 GB)"
PARTIAL = ".download"


def choices() -> list[str]:
    """Local folders first (every root), then published names not yet downloaded."""
    local = [n for n in host.local_checkpoints() if not n.endswith(PARTIAL)]
    return local + [name + DOWNLOAD_SUFFIX for name in KNOWN_MODELS if name not in local]


def download_target(name: str) -> Path:
    """ComfyUI/models/artimuse/<name>: the default root, whatever extra roots are configured."""
    return host.default_model_root() / name


def _plain(name: str) -> bool:
    """A folder name, not a path: nothing outside the models/artimuse roots is reached through a name."""
    return name not in ("", ".", "..") and Path(name).name == name and "\\" not in name


def _full_path(choice: str) -> Path | None:
    """A checkpoint folder named in full (API workflows, scripts): absolute, with a config.json."""
    return Path(choice) if os.path.isabs(choice) and (Path(choice) / "config.json").is_file() else None


def problem(choice: str) -> str | None:
    """Why the loader cannot take ``choice``, or None when it can.

    Every value an earlier version of the pack wrote loads: a listed choice, a published checkpoint's short
    name ("ArtiMuse", what the first workflows saved) or its labelled entry ("ArtiMuse (download ~16 GB)",
    kept by workflows saved before the download), a local folder's name, or a folder named in full."""
    name = choice.removesuffix(DOWNLOAD_SUFFIX)
    if choice in choices() or name in KNOWN_MODELS or _full_path(choice) is not None:
        return None
    if _plain(name) and host.resolve_local(name) is not None:
        return None
    roots = ", ".join(map(str, host.model_folders())) or "models/artimuse"
    return (
        f"no checkpoint {choice!r}: no folder of that name with a config.json under {roots}, and not a "
        f"published checkpoint ({', '.join(KNOWN_MODELS)}); pick one of the loader's choices"
    )


def resolve(choice: str, progress: type | None = None) -> Path:
    """A checkpoint folder for the loader's choice (any value ``problem`` accepts): a local folder of that
    name first, else the published checkpoint, downloaded now (``download``)."""
    name = choice.removesuffix(DOWNLOAD_SUFFIX)
    folder = host.resolve_local(name) if _plain(name) else None
    if folder is not None:
        return folder
    if name in KNOWN_MODELS:
        return download(name, progress)
    folder = _full_path(choice)
    if folder is None:
        raise host.NodeError(f"ArtiMuse: {problem(choice)}")
    return folder


def download(name: str, progress: type | None = None) -> Path:
    """Fetch the published checkpoint ``name`` (configs, tokenizer, safetensors; never code or pickles)."""
    from huggingface_hub import constants, snapshot_download

    target = download_target(name)
    repo_id = KNOWN_MODELS[name].repo_id
    what = f"the {repo_id} files (config, tokenizer and *.safetensors, about 16 GB) into {target}"
    if constants.HF_HUB_OFFLINE:
        raise host.NodeError(f"{name} is not downloaded and downloads are off here (HF_HUB_OFFLINE is set): put {what}")
    staging = target.with_name(name + PARTIAL)  # resumable; listed only once complete
    try:
        snapshot_download(repo_id, allow_patterns=DOWNLOAD_PATTERNS, local_dir=staging, tqdm_class=progress)
    except Exception as exc:  # network, disk, auth: the user needs the same advice
        raise host.NodeError(
            f"{name}: downloading {repo_id} failed ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); put {what}"
        ) from exc
    shutil.rmtree(staging / ".cache", ignore_errors=True)
    os.replace(staging, target)
    return target
