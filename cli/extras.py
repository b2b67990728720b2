"""The optional extras that commands load on demand: each loader returns the plugin, or raises
``MissingExtra`` naming what to install (one line, exit code 2). Shared by the commands that need them
(``serve``, ``report`` and ``demo`` the web gallery; ``batch`` and ``library import`` the Ray plugin), so no
command module imports another."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from artimuse_core import MissingExtra, home_paths


def web() -> ModuleType:
    """The ``artimuse_web`` package, or a clear error naming the extra to install."""
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise MissingExtra("web", exc.name or "starlette", "The web gallery and report", exc) from None
    import artimuse_web

    return artimuse_web


def thumbnails_folder() -> Path:
    """Where the gallery's renditions are cached: ``thumbnails/`` in the ArtiMuse home (never beside the
    photos)."""
    return home_paths().data_dir / "thumbnails"


def batch_plugin() -> tuple[ModuleType, ModuleType]:
    """The batch plugin's inputs and pipeline modules; the pipeline imports Ray (the ``ray`` extra)."""
    try:
        from artimuse_batch import inputs, pipeline
    except ImportError as exc:
        raise MissingExtra("ray", "ray[client,data]", "Batch runs on Ray", exc) from exc
    return inputs, pipeline
