"""ArtiMuse Studio core: the scoring engine and (later) the library API. Knows nothing of any front end.

The engine names (``Engine``, ``create_engine``, ``get_engine``, ``release_engines``) load lazily, so that
importing the package (the CLI's start-up, a host probing whether it is installed) never imports torch.
"""

__version__ = "0.1.0"

from .checkpoints import DEFAULT_MODEL, KNOWN_MODELS, resolve_checkpoint  # noqa: E402
from .errors import (  # noqa: E402
    ArtiMuseError, CheckpointError, CheckpointNotFound, CorruptImage, DeviceError, ImageError,
    ImageTooLarge, NotAnImage, UnreadableFile,
)
from .images import ImageOptions  # noqa: E402
from .prompts import ATTRIBUTES  # noqa: E402
from .results import CritiqueResult, Provenance, ScoreResult  # noqa: E402

__all__ = [
    "__version__", "ATTRIBUTES", "DEFAULT_MODEL", "KNOWN_MODELS", "ArtiMuseError", "CheckpointError",
    "CheckpointNotFound", "CorruptImage", "CritiqueResult", "DeviceError", "Engine", "ImageError",
    "ImageOptions", "ImageTooLarge", "NotAnImage", "Provenance", "ScoreResult", "UnreadableFile",
    "create_engine", "get_engine", "release_engines", "resolve_checkpoint",
]

_LAZY = {"Engine": ".engine", "create_engine": ".engine", "get_engine": ".engine_cache",
         "release_engines": ".engine_cache"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
