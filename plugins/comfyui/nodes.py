"""ArtiMuse nodes for ComfyUI: load a model, score, critique, select the best, save with scores.

Small classes with explicit inputs and outputs, in ComfyUI's own conventions. Images arrive as ComfyUI
IMAGE tensors (B, H, W, C floats in 0..1) and are turned into 8-bit RGB exactly as ComfyUI's SaveImage
writes them, then go through the engine's own PIL preprocessing, so a node's score equals
`artimuse score` on the saved PNG whatever the host has installed (torchvision or not).
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from artimuse_core import ATTRIBUTES, KNOWN_MODELS, get_engine
from artimuse_core.devices import QUANTIZE_CHOICES

from . import host

CATEGORY = "ArtiMuse"
MODEL_TYPE = "ARTIMUSE_MODEL"
ALL_ATTRIBUTES = "all eight"


def tensor_to_pil(images: torch.Tensor) -> list[Image.Image]:
    """IMAGE batch -> 8-bit PIL images, rounding exactly as ComfyUI's SaveImage does."""
    pils = []
    for image in images:
        array = np.clip(255.0 * image.cpu().float().numpy(), 0, 255).astype(np.uint8)
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        pils.append(Image.fromarray(array))
    return pils


def _score(model, images):
    engine = model.ready()
    pils = tensor_to_pil(images)
    results = engine.score(pils, progress=host.Progress(len(pils)))
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"ArtiMuse: {failed[0]}")
    return engine, results


def _summary(results) -> list[str]:
    return [f"#{i}: {r.score:.2f} ± {r.std:.2f}" for i, r in enumerate(results)]


class ArtiMuseLoadModel:
    @classmethod
    def INPUT_TYPES(cls):
        choices = host.local_checkpoints() + list(KNOWN_MODELS)
        return {
            "required": {
                "model": (choices, {"default": choices[0],
                                    "tooltip": "A folder in models/artimuse, or a published checkpoint "
                                               "(downloaded to the Hugging Face cache on first use)."}),
                "device": (["auto", "cuda", "cpu", "mps"], {"default": "auto"}),
                "dtype": (["auto", "bfloat16", "float16", "float32"], {"default": "auto"}),
                "quantize": (list(QUANTIZE_CHOICES), {"default": "none"}),
                "batch_size": ("INT", {"default": 8, "min": 1, "max": 128}),
            },
            "optional": {
                "adapter": ("STRING", {"default": "", "tooltip": "Name of a fine-tuned adapter (artimuse adapters list)"}),
            },
        }

    RETURN_TYPES = (MODEL_TYPE,)
    RETURN_NAMES = ("artimuse_model",)
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = "Loads an ArtiMuse checkpoint once; it stays loaded across runs."

    @classmethod
    def IS_CHANGED(cls, model, adapter="", **_):
        """Reload when the checkpoint or adapter files change on disk, not on every queue."""
        from pathlib import Path

        stamps = []
        for folder in (Path(host.resolve_local(model)), Path(adapter) if adapter else None):
            if folder is not None and folder.is_dir():
                stamps += [(p.name, p.stat().st_mtime, p.stat().st_size) for p in sorted(folder.iterdir())
                           if p.is_file()]
        return repr((model, adapter, stamps))

    def load(self, model, device, dtype, quantize, batch_size, adapter=""):
        kwargs = dict(device=host.torch_device(device), dtype=dtype, quantize=quantize, batch_size=batch_size)
        if adapter:
            kwargs["adapter"] = adapter
        engine = get_engine(host.resolve_local(model), **kwargs)  # memoised: one load per process
        return (host.ManagedModel.for_engine(engine),)


class ArtiMuseScore:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"artimuse_model": (MODEL_TYPE,), "images": ("IMAGE",)}}

    RETURN_TYPES = ("FLOAT", "STRING")
    RETURN_NAMES = ("scores", "summary")
    OUTPUT_IS_LIST = (True, False)
    FUNCTION = "score"
    CATEGORY = CATEGORY
    OUTPUT_NODE = True
    DESCRIPTION = "Aesthetic score 0-100 of each image in the batch (shown on the node)."

    def score(self, artimuse_model, images):
        _, results = _score(artimuse_model, images)
        lines = _summary(results)
        scores = [r.score for r in results]
        return {"ui": {"text": lines, "scores": scores}, "result": (scores, "\n".join(lines))}


class ArtiMuseCritique:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "artimuse_model": (MODEL_TYPE,),
            "images": ("IMAGE",),
            "attribute": ([ALL_ATTRIBUTES, *ATTRIBUTES], {"default": ALL_ATTRIBUTES}),
            "max_new_tokens": ("INT", {"default": 512, "min": 1, "max": 8192}),
        }}

    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("critiques",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "critique"
    CATEGORY = CATEGORY
    OUTPUT_NODE = True
    DESCRIPTION = "Written critique of each image (greedy decoding), one text per image."

    def critique(self, artimuse_model, images, attribute, max_new_tokens):
        engine = artimuse_model.ready()
        attributes = list(ATTRIBUTES) if attribute == ALL_ATTRIBUTES else [attribute]
        pils = tensor_to_pil(images)
        results = engine.critique(pils, attributes, max_new_tokens=max_new_tokens,
                                  progress=host.Progress(len(pils) * len(attributes)))
        texts = []
        for i in range(len(pils)):
            mine = results[i * len(attributes):(i + 1) * len(attributes)]
            texts.append("\n\n".join(f"{r.attribute}:\n{r.text}" for r in mine))
        return {"ui": {"text": texts}, "result": (texts,)}


class ArtiMuseSelectBest:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "artimuse_model": (MODEL_TYPE,),
            "images": ("IMAGE",),
            "top_k": ("INT", {"default": 1, "min": 1, "max": 4096}),
            "threshold": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 100.0, "step": 0.5,
                                    "tooltip": "Only images scoring at least this pass (0: no gate)."}),
        }}

    RETURN_TYPES = ("IMAGE", "FLOAT", "INT")
    RETURN_NAMES = ("images", "scores", "indices")
    OUTPUT_IS_LIST = (False, True, True)
    FUNCTION = "select"
    CATEGORY = CATEGORY
    OUTPUT_NODE = True
    DESCRIPTION = "The top-k images by score, best first; with a threshold, only those above it pass."

    def select(self, artimuse_model, images, top_k, threshold):
        _, results = _score(artimuse_model, images)
        order = sorted(range(len(results)), key=lambda i: results[i].score, reverse=True)
        kept = [i for i in order if results[i].score >= threshold][:top_k]
        lines = [f"#{i}: {results[i].score:.2f}{' (kept)' if i in kept else ''}" for i in range(len(results))]
        ui = {"text": lines, "scores": [r.score for r in results]}
        if not kept:
            blocked = _blocker()
            return {"ui": ui, "result": (blocked if blocked is not None else images[:0], [], [])}
        index = torch.tensor(kept, dtype=torch.long)
        return {"ui": ui, "result": (images[index], [results[i].score for i in kept], kept)}


def _blocker():
    """Inside ComfyUI nothing downstream runs when no image passes the gate."""
    try:
        from comfy_execution.graph import ExecutionBlocker
    except ImportError:
        return None
    return ExecutionBlocker(None)


class ArtiMuseSaveImage:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE",),
                "artimuse_model": (MODEL_TYPE,),
                "filename_prefix": ("STRING", {"default": "ArtiMuse"}),
                "critique": (["none", ALL_ATTRIBUTES, *ATTRIBUTES], {"default": "none"}),
                "save_to_library": ("BOOLEAN", {"default": False}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    RETURN_TYPES = ()
    FUNCTION = "save"
    CATEGORY = CATEGORY
    OUTPUT_NODE = True
    DESCRIPTION = "Saves PNGs with score, distribution, critiques and provenance in their text chunks."

    def save(self, images, artimuse_model, filename_prefix, critique, save_to_library, prompt=None,
             extra_pnginfo=None):
        engine, results = _score(artimuse_model, images)
        critiques: list[dict[str, str]] = [{} for _ in results]
        if critique != "none":
            attributes = list(ATTRIBUTES) if critique == ALL_ATTRIBUTES else [critique]
            texts = engine.critique(tensor_to_pil(images), attributes)
            for j, c in enumerate(texts):
                critiques[j // len(attributes)][c.attribute] = c.text
        height, width = images.shape[1], images.shape[2]
        folder, stem, counter, subfolder, _ = host.save_path(filename_prefix, width, height)
        saved, ui_images = [], []
        for pil, result, texts in zip(tensor_to_pil(images), results, critiques):
            info = PngInfo()
            if prompt is not None:
                info.add_text("prompt", json.dumps(prompt))
            for key, value in (extra_pnginfo or {}).items():
                info.add_text(key, json.dumps(value))
            info.add_text("artimuse", json.dumps(metadata(result, texts)))
            info.add_text("artimuse_score", f"{result.score:.4f}")
            name = f"{stem}_{counter:05}_.png"
            path = os.path.join(folder, name)
            pil.save(path, pnginfo=info, compress_level=4)
            saved.append(path)
            ui_images.append({"filename": name, "subfolder": subfolder, "type": "output"})
            counter += 1
        if save_to_library:
            record_in_library(saved, results, critiques)
        return {"ui": {"images": ui_images, "text": _summary(results)}}


def metadata(result, critiques: dict[str, str]) -> dict:
    """What goes into the PNG: score, the distribution (and its summary), critiques, model provenance."""
    probs = result.distribution
    cumulative, quantiles, q = 0.0, {}, [0.1, 0.5, 0.9]
    for i, p in enumerate(probs):
        cumulative += p
        while q and cumulative >= q[0]:
            quantiles[f"p{int(q.pop(0) * 100)}"] = i
    return {"score": result.score, "std": result.std, "mode": int(np.argmax(probs)), **quantiles,
            "distribution": [round(p, 6) for p in probs], "critiques": critiques,
            "provenance": vars(result.provenance)}


def record_in_library(paths, results, critiques) -> None:
    from artimuse_core.library import Library, ScoredFile, file_facts

    library = Library()
    items = []
    for path, result, texts in zip(paths, results, critiques):
        result.path, result.critiques = path, dict(texts)
        items.append(ScoredFile(file_facts(path), result, "aigc", "option"))
    library.record_scores(items)


NODE_CLASS_MAPPINGS = {
    "ArtiMuseLoadModel": ArtiMuseLoadModel,
    "ArtiMuseScore": ArtiMuseScore,
    "ArtiMuseCritique": ArtiMuseCritique,
    "ArtiMuseSelectBest": ArtiMuseSelectBest,
    "ArtiMuseSaveImage": ArtiMuseSaveImage,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "ArtiMuseLoadModel": "ArtiMuse Load Model",
    "ArtiMuseScore": "ArtiMuse Score",
    "ArtiMuseCritique": "ArtiMuse Critique",
    "ArtiMuseSelectBest": "ArtiMuse Select Best",
    "ArtiMuseSaveImage": "ArtiMuse Save Image",
}
