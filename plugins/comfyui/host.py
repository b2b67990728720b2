"""What the nodes need from ComfyUI when they run inside it, and plain fallbacks when they don't: model
folders, device choice, memory management, interruption and progress.

The memory handle follows ``comfy_extras/nodes_upscale_model.py``: the loader returns an object of its own
(``ArtiMuseModel``) that carries a ``ModelPatcher`` over a small named ``nn.Module`` (``ArtiMuseWeights``)
holding the engine's transformers model. ComfyUI's patcher writes bookkeeping attributes (``device``,
``model_lowvram``...) onto the module it manages, which a transformers model refuses (``device`` is a
read-only property there); the holder takes them. The patcher's ``load_device`` is the one owner of the
device: the engine is built on it, and ComfyUI moves the weights there before every use.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from PIL import Image

    from artimuse_core import Engine

try:  # inside ComfyUI
    import comfy.model_management as model_management
    import comfy.utils as comfy_utils
    import folder_paths
except ImportError:  # outside ComfyUI (unit tests)
    model_management = comfy_utils = folder_paths = None

FOLDER_NAME = "artimuse"


# ------------------------------------------------------------------------------------------ model folders
def register_model_folder() -> None:
    """ComfyUI/models/artimuse is always listed, beside any root that extra_model_paths.yaml names."""
    if folder_paths is None:
        return
    path = os.path.join(folder_paths.models_dir, FOLDER_NAME)
    os.makedirs(path, exist_ok=True)
    folder_paths.add_model_folder_path(FOLDER_NAME, path)


def model_folders() -> list[Path]:
    if folder_paths is None:
        return []
    try:
        return [Path(p) for p in folder_paths.get_folder_paths(FOLDER_NAME)]
    except (KeyError, AttributeError):
        return []


def local_checkpoints() -> list[str]:
    """Checkpoint folders (with a config.json) under every registered models/artimuse root, first root first."""
    names: list[str] = []
    for root in model_folders():
        if root.is_dir():
            names += [p.name for p in sorted(root.iterdir()) if (p / "config.json").is_file() and p.name not in names]
    return names


def resolve_local(name: str) -> Path | None:
    for root in model_folders():
        if (root / name / "config.json").is_file():
            return root / name
    return None


def default_model_root() -> Path:
    """ComfyUI/models/artimuse (downloads go there, whatever extra roots are configured)."""
    if folder_paths is None:
        return Path("models") / FOLDER_NAME
    return Path(folder_paths.models_dir) / FOLDER_NAME


# ------------------------------------------------------------------------------------------------ devices
def device_choices() -> list[str]:
    """Only devices that can work here: cuda/mps when torch sees them and ComfyUI was not started with --cpu."""
    choices = ["auto", "cpu"]
    cpu_only = model_management is not None and model_management.cpu_state == model_management.CPUState.CPU
    if not cpu_only and torch.cuda.is_available():
        choices += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())] * (torch.cuda.device_count() > 1)
    if not cpu_only and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        choices.append("mps")
    return choices


def quantize_choices() -> list[str]:
    """8/4-bit weights need bitsandbytes and a CUDA device ComfyUI may use."""
    from artimuse_core import bitsandbytes_available

    return ["none"] + (
        ["8bit", "4bit"] if any(c.startswith("cuda") for c in device_choices()) and bitsandbytes_available() else []
    )


def load_device(choice: str) -> torch.device:
    """The device the weights live on while a node runs: ComfyUI's own choice for 'auto'."""
    if choice == "auto":
        if model_management is not None:
            device: torch.device = model_management.get_torch_device()
            return device
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def offload_device(device: torch.device) -> torch.device:
    if device.type == "cpu" or model_management is None:
        return torch.device("cpu")
    offload: torch.device = model_management.unet_offload_device()
    return offload


# -------------------------------------------------------------------------------------- memory management
class ArtiMuseWeights(torch.nn.Module):
    """The engine's transformers model, as the module ComfyUI's memory manager loads and offloads (its
    class name is what ComfyUI's log shows: "Requested to load ArtiMuseWeights")."""

    def __init__(self, model: torch.nn.Module, device: torch.device):
        super().__init__()
        self.model = model
        self.device = device  # ComfyUI's ModelPatcher keeps this up to date


class Memo:
    """Results already computed with these weights, keyed on the image's pixels: Select Best and Save
    Image re-use what Score and Critique computed upstream instead of running the model again."""

    def __init__(self, size: int = 4096):
        self.size = size
        self.items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any:
        if key in self.items:
            self.items.move_to_end(key)
        return self.items.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


def pixels_key(image: Image.Image) -> str:
    """Identity of one 8-bit PIL image: its mode, size and bytes."""
    digest = hashlib.blake2b(f"{image.mode}{image.size}".encode(), digest_size=16)
    digest.update(image.tobytes())
    return digest.hexdigest()


class WeightsHandle:
    """One ModelPatcher (and one result memo) per set of loaded weights, however many loader settings
    share them."""

    def __init__(self, loaded: Any, device: torch.device):  # loaded: the engine's loaded weights
        self.memo = Memo()
        self.module = ArtiMuseWeights(loaded.model, device)
        self.patcher: Any = None  # comfy.model_patcher.ModelPatcher
        if model_management is not None and loaded.placement.quantize == "none":  # bitsandbytes weights stay put
            import comfy.model_patcher

            self.patcher = comfy.model_patcher.ModelPatcher(
                self.module, load_device=device, offload_device=offload_device(device)
            )


_HANDLES: dict[int, WeightsHandle] = {}  # id(LoadedModel) -> its handle, while the LoadedModel lives


def handle_for(loaded: Any, device: torch.device) -> WeightsHandle:
    handle = _HANDLES.get(id(loaded))
    if handle is None:
        handle = _HANDLES[id(loaded)] = WeightsHandle(loaded, device)
        weakref.finalize(loaded, _HANDLES.pop, id(loaded), None)
    return handle


class ArtiMuseModel:
    """What the loader outputs (ARTIMUSE_MODEL): the engine and the memory handle of its weights."""

    def __init__(self, engine: Engine, device: torch.device):
        self.engine = engine
        self.device = device
        self.handle = handle_for(engine.loaded, device)

    @property
    def patcher(self) -> Any:
        return self.handle.patcher

    @property
    def memo(self) -> Memo:
        return self.handle.memo

    def ready(self) -> Engine:
        """Have ComfyUI put the whole model on its load device (freeing others if needed); the engine."""
        if self.patcher is not None:
            model_management.load_models_gpu([self.patcher], force_full_load=True)
        return self.engine


# ------------------------------------------------------------------------------------ output, progress
def output_directory() -> str:
    return str(folder_paths.get_output_directory()) if folder_paths is not None else os.path.abspath("output")


def confined(folder: str | os.PathLike[str]) -> str:
    """``folder`` when it lies inside the output folder (symlinks and ``..`` resolved), else ``ValueError``:
    a filename prefix like ``../../escape`` or ``/tmp/x`` must not write anywhere else."""
    root = os.path.realpath(output_directory())
    real = os.path.realpath(folder)
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        raise ValueError(
            f"filename_prefix must stay inside the output folder {root}; {os.fspath(folder)!r} is outside it"
        )
    return real


def save_path(prefix: str, width: int, height: int) -> tuple[str, str, int, str, str]:
    """ComfyUI's own naming (prefix_00001_.png, subfolders in the prefix) or the same scheme outside it."""
    if folder_paths is not None:
        found: tuple[str, str, int, str, str] = folder_paths.get_save_image_path(
            prefix, output_directory(), width, height
        )
        return found
    folder = Path(confined(Path(output_directory()) / Path(prefix).parent))
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(prefix).name
    counter = 1 + max(
        [int(p.stem.split("_")[-2]) for p in folder.glob(f"{stem}_*_.png") if p.stem.split("_")[-2].isdigit()] or [0]
    )
    return str(folder), stem, counter, str(Path(prefix).parent), prefix


def check_interrupted() -> None:
    """Raise ComfyUI's interrupt exception when the user pressed Cancel (or POST /interrupt)."""
    if model_management is not None:
        model_management.throw_exception_if_processing_interrupted()


class Progress:
    """ComfyUI's progress bar and interruption check, called between batches."""

    def __init__(self, total: int):
        self.bar = comfy_utils.ProgressBar(total) if comfy_utils is not None else None

    def __call__(self, done: int) -> None:
        check_interrupted()
        if self.bar is not None:
            self.bar.update(done)


class TokenProgress:
    """Progress of a critique in generated tokens: the bar moves, and Cancel is honoured, after every
    token step (``on_step``), not only between generate batches (``done``)."""

    def __init__(self, sequences: int, max_new_tokens: int, batch_size: int):
        self.sequences, self.max_new_tokens, self.batch_size = sequences, max_new_tokens, batch_size
        self.finished = 0
        self.bar = comfy_utils.ProgressBar(max(1, sequences * max_new_tokens)) if comfy_utils is not None else None

    def on_step(self, step: int, max_new_tokens: int) -> None:
        check_interrupted()
        running = min(self.batch_size, self.sequences - self.finished)
        if self.bar is not None:
            self.bar.update_absolute(self.finished * self.max_new_tokens + step * running)

    def done(self, sequences: int) -> None:
        check_interrupted()
        self.finished += sequences
        if self.bar is not None:
            self.bar.update_absolute(self.finished * self.max_new_tokens)


def download_progress() -> type:
    """A tqdm class for huggingface_hub that also moves the node's ComfyUI progress bar."""
    from tqdm.auto import tqdm

    class ComfyTqdm(tqdm):  # type: ignore[misc]  # tqdm ships no types
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.comfy_bar = comfy_utils.ProgressBar(max(1, int(self.total or 1))) if comfy_utils else None

        def update(self, n: float = 1) -> bool | None:
            shown: bool | None = super().update(n)
            if self.comfy_bar is not None:
                self.comfy_bar.update_absolute(int(self.n), max(1, int(self.total or 1)))
            return shown

    return ComfyTqdm


# ------------------------------------------------------------------------------------------------ errors
class NodeError(RuntimeError):
    """An error shown in ComfyUI: says what is wrong in the nodes' terms (inputs, folders), never CLI flags."""


_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")


def in_node_terms(text: str) -> str:
    """'--quantize 8bit needs a CUDA GPU' -> "quantize 8bit needs a CUDA GPU": CLI flags become the names
    of the node inputs they correspond to."""
    return _FLAG.sub(lambda m: m.group(1).replace("-", "_"), text)


@contextlib.contextmanager
def node_errors() -> Iterator[None]:
    """Re-raise the core's errors as NodeError in the nodes' terms."""
    from artimuse_core import ArtiMuseError

    try:
        yield
    except ArtiMuseError as exc:
        raise NodeError(f"ArtiMuse: {in_node_terms(str(exc))}") from exc
