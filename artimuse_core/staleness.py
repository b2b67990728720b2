"""When are loaded weights stale? The identity of every file of a checkpoint (and adapter) folder: size,
``mtime_ns``, ``ctime_ns`` and inode. An atomic replacement gives a new inode; an in-place overwrite changes
``ctime`` even where ``mtime`` is put back. The one rule for every long-running host (the engine cache,
ComfyUI's IS_CHANGED, the watcher), kept apart from ``engine_cache`` so that asking costs no torch import.
"""

from __future__ import annotations

import os
from pathlib import Path

from .checkpoints import resolve_checkpoint
from .spec import EngineSpec

FileIdentity = tuple[tuple[str, int, int, int, int], ...]


def file_identity(*folders: Path | None) -> FileIdentity:
    """(name, size, mtime_ns, ctime_ns, inode) of every file in ``folders`` (symlinks followed, as the
    Hugging Face cache's snapshot links are)."""
    stamps = []
    for folder in folders:
        if folder is None or not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            try:
                st = path.stat()
            except OSError:
                continue
            if path.is_file():
                stamps.append((str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return tuple(stamps)


def checkpoint_identity(spec_or_model: EngineSpec | str | os.PathLike | None = None, **overrides) -> FileIdentity:
    """The staleness rule, for hosts that decide cheaply whether to ask again (ComfyUI's IS_CHANGED, the
    watcher): the identity of the files of the spec's checkpoint and adapter.

    Raises ``CheckpointError`` when the checkpoint resolves nowhere."""
    spec = EngineSpec.coerce(spec_or_model, **overrides)
    return file_identity(resolve_checkpoint(spec.model).path, adapter_folder(spec.adapter))


def adapter_folder(adapter: str | None) -> Path | None:
    """The folder of a named adapter (None for none)."""
    if not adapter:
        return None
    from .adapters import adapter_dir

    return adapter_dir(adapter)


__all__ = ["FileIdentity", "adapter_folder", "checkpoint_identity", "file_identity"]
