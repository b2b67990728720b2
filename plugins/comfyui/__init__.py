"""ArtiMuse node pack for ComfyUI. Link or copy this folder into ComfyUI/custom_nodes/ (`artimuse comfyui
install COMFYUI_DIR` does it); the artimuse-studio package must be installed in ComfyUI's own Python.

Without it the pack registers no node and logs one line saying exactly what to install, and where.
"""

import logging
import sys
from pathlib import Path

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
WEB_DIRECTORY = "./web"


def _install_hint(error: ImportError) -> str:
    here = Path(__file__).resolve().parent
    source = here.parents[1] if (here.parents[1] / "artimuse_core").is_dir() else None
    what = f'"{source}"' if source else "artimuse-studio (from its source folder: pip install /path/to/artimuse-studio)"
    return (
        f"ArtiMuse nodes not loaded: {error} in ComfyUI's Python ({sys.executable}). Install it there: "
        f'"{sys.executable}" -m pip install {what}  - then restart ComfyUI.'
    )


try:
    import artimuse_core  # noqa: F401
except ImportError as exc:
    logging.getLogger(__name__).error(_install_hint(exc))
else:
    from . import host
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS  # noqa: F811

    host.register_model_folder()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
