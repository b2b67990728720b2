"""ArtiMuse Studio core: the scoring engine and (later) the library API. Knows nothing of any front end."""

__version__ = "0.1.0"

from .checkpoints import DEFAULT_MODEL, KNOWN_MODELS, resolve_checkpoint  # noqa: E402
from .engine import Engine, create_engine, get_engine, release_engines  # noqa: E402
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
