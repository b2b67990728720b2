"""ArtiMuse node pack for ComfyUI. Link or copy this folder into ComfyUI/custom_nodes/ (`artimuse comfyui
install COMFYUI_DIR` does it); the artimuse-studio package must be installed in ComfyUI's own Python.

Without it the pack registers no node and logs one line saying exactly what to install, and where: this
checkout when the pack lives in one, else this folder's requirements.txt (what ComfyUI-Manager installs).
"""

import logging
import sys
from pathlib import Path

NODE_CLASS_MAPPINGS: dict[str, type[object]] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
WEB_DIRECTORY = "./web"


def _install_hint(error: ImportError) -> str:
    here = Path(__file__).resolve().parent
    checkout = here.parents[1]
    if (checkout / "artimuse_core").is_dir() and (checkout / "pyproject.toml").is_file():
        what = f'"{checkout}"'
    else:  # a copy of the pack, or one installed by ComfyUI-Manager: its requirements name the package
        what = f'-r "{here / "requirements.txt"}"'
    return (
        f"ArtiMuse nodes not loaded: {error} in ComfyUI's Python ({sys.executable}). Install artimuse-studio "
        f'there: "{sys.executable}" -m pip install {what}  - then restart ComfyUI.'
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
