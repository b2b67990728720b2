"""ArtiMuse Studio core: the scoring engine, its one settings spec, results and the library.

Knows nothing of any front end. The Python API's one way in is ``get_model`` (``api.py``), like pyiqa's
``create_metric``; ``list_models()`` says which checkpoints exist, their scale and which are in the cache.
Importing the package is cheap: names load on first use (PEP 562), so
``from artimuse_core import EngineSpec`` does not import torch; ``create_engine`` does. Long-running hosts
(ComfyUI, the watcher) use ``get_engine``: one copy of each checkpoint's weights per process, reloaded when
its files change.

    >>> import artimuse_core
    >>> model = artimuse_core.get_model()                        # default checkpoint; or a name/folder
    >>> model("a.jpg").score                                     # one input -> one ScoreResult
    >>> from artimuse_core import create_engine                  # the engine underneath
    >>> engine = create_engine("ArtiMuse", batch_size=16)        # or an EngineSpec, or a folder
    >>> [r.score for r in engine.score(["a.jpg", "b.png"])]      # 0-100, higher is better
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> the module (relative to this package) that defines it
_EXPORTS = {
    "get_model": "api",
    "Model": "api",
    "ATTRIBUTES": "prompts",
    "DEFAULT_MODEL": "checkpoints",
    "KNOWN_MODELS": "checkpoints",
    "list_models": "checkpoints",
    "resolve_checkpoint": "checkpoints",
    "Engine": "engine",
    "create_engine": "engine",
    "get_engine": "engine_cache",
    "release_engines": "engine_cache",
    "EngineSpec": "spec",
    "PRIMARY_DIMENSION": "families",
    "SETTINGS": "spec",
    "describe_settings": "spec",
    "Config": "config",
    "load_config": "config",
    "ImageOptions": "images",
    "CritiqueResult": "results",
    "Provenance": "results",
    "ScoreResult": "results",
    "ArtiMuseError": "errors",
    "CheckpointError": "errors",
    "CheckpointNotFound": "errors",
    "ConfigError": "errors",
    "CorruptImage": "errors",
    "DeviceError": "errors",
    "FinetuneError": "errors",
    "ImageError": "errors",
    "ImageTooLarge": "errors",
    "InvalidValue": "errors",
    "LibraryError": "errors",
    "NotAnImage": "errors",
    "UnreadableFile": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'artimuse_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
