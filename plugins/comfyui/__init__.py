"""ArtiMuse node pack for ComfyUI. Copy or link this folder into ComfyUI/custom_nodes/ (or run
`artimuse comfyui install COMFYUI_DIR`); the artimuse-studio package must be installed in ComfyUI's Python."""

from . import host
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

host.register_model_folder()

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
