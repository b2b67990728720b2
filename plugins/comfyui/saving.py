"""ArtiMuse Save Image: PNGs with score, distribution, critiques and provenance in their text chunks, beside
ComfyUI's own prompt and workflow, and (when asked) recorded in the library through its one door with what
the upstream nodes already computed (``library.py``), so the model does not run again.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from PIL.PngImagePlugin import PngInfo

from artimuse_core import ATTRIBUTES, CATEGORIES

from . import host, inputs
from .inputs import (
    ALL_ATTRIBUTES,
    AUTO,
    CATEGORY,
    DEFAULT_MAX_NEW_TOKENS,
    MODEL_TIP,
    MODEL_TYPE,
    TOKENS_TIP,
    InputTypes,
    NodeOutput,
    attributes_for,
)
from .library import NodeResultsEngine, needs_prediction, record_in_library
from .work import critique_images, metadata, score_images, summary_lines, tensor_to_pil

CATEGORY_CHOICES = [AUTO, *CATEGORIES.values()]


class ArtiMuseSaveImage:
    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The images to save as PNG."}),
                "artimuse_model": (
                    MODEL_TYPE,
                    {
                        "tooltip": MODEL_TIP + " Scores and critiques already computed "
                        "upstream with it are re-used, not computed again."
                    },
                ),
                "filename_prefix": (
                    "STRING",
                    {
                        "default": "ArtiMuse",
                        "tooltip": "File name prefix; may hold subfolders of the output folder ('ArtiMuse/best').",
                    },
                ),
                "critique": (
                    ["none", ALL_ATTRIBUTES, *ATTRIBUTES],
                    {"default": "none", "tooltip": "Also write critiques into the PNG (and the library)."},
                ),
                "save_to_library": (
                    "BOOLEAN",
                    {
                        "default": False,
                        "tooltip": "Also record the saved files in the ArtiMuse library (`artimuse top`).",
                    },
                ),
            },
            # Added after the first release: optional and last, so older workflows validate (inputs.OPTIONAL).
            "optional": {
                "max_new_tokens": inputs.setting_input("max_new_tokens", TOKENS_TIP),
                "category": (
                    CATEGORY_CHOICES,
                    {
                        "default": AUTO,
                        "tooltip": "Library category of the saved images. 'auto': the library's rule (the "
                        "category of a configured folder holding the output, else the model's "
                        "prediction).",
                    },
                ),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    RETURN_TYPES = ()
    OUTPUT_TOOLTIPS = ()
    FUNCTION = "save"
    CATEGORY = CATEGORY
    OUTPUT_NODE = True
    DESCRIPTION = (
        "Saves PNGs with score, distribution, critiques and provenance in their text chunks "
        "('artimuse', 'artimuse_score'), beside ComfyUI's own prompt and workflow."
    )

    def save(
        self,
        images: torch.Tensor,
        artimuse_model: host.ArtiMuseModel,
        filename_prefix: str,
        critique: str,
        save_to_library: bool = False,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        category: str = AUTO,
        prompt: Any = None,
        extra_pnginfo: dict[str, Any] | None = None,
    ) -> NodeOutput:
        pils = tensor_to_pil(images)
        height, width = images.shape[1], images.shape[2]
        folder, stem, counter, subfolder, _ = host.save_path(filename_prefix, width, height)
        folder = host.confined(folder)  # whatever built the path, nothing is written outside the output folder
        paths = [os.path.join(folder, f"{stem}_{counter + i:05}_.png") for i in range(len(pils))]
        fixed = None if category == AUTO else category
        attributes = attributes_for(critique) if critique != "none" else []
        library = None
        if save_to_library:
            from artimuse_core.library import Library

            with host.node_errors():
                library = Library()
        # The door's category rule asks the model only for files no configured folder categorises: predict
        # those now, in the same pass as their scores, so that the door need not run the model again.
        predict = library is not None and needs_prediction(library, paths, fixed)
        results, reused_scores = score_images(artimuse_model, pils, predict_category=predict)
        critiques: list[dict[str, str]] = [{} for _ in pils]
        reused_critiques = 0
        if attributes:
            critiques, reused_critiques = critique_images(artimuse_model, pils, attributes, max_new_tokens)
        ui_images = []
        for pil, path, result, texts in zip(pils, paths, results, critiques):
            info = PngInfo()
            if prompt is not None:
                info.add_text("prompt", json.dumps(prompt))
            for key, value in (extra_pnginfo or {}).items():
                info.add_text(key, json.dumps(value))
            info.add_text("artimuse", json.dumps(metadata(result, texts)))
            info.add_text("artimuse_score", f"{result.score:.4f}")
            pil.save(path, pnginfo=info, compress_level=4)
            ui_images.append({"filename": os.path.basename(path), "subfolder": subfolder, "type": "output"})
        model_runs = 0
        if library is not None:  # saved first, then recorded through the library's one door
            computed = NodeResultsEngine(
                artimuse_model.engine, artimuse_model.ready, {p: (r, t) for p, r, t in zip(paths, results, critiques)}
            )
            with host.node_errors():
                recorded = record_in_library(library, computed, paths, fixed, attributes, max_new_tokens)
            failed = [r.error for r in recorded if r.status == "failed"]
            if failed:
                raise host.NodeError(f"ArtiMuse: saved, but not recorded in the library: {failed[0]}")
            model_runs = computed.model_runs
        return {
            "ui": {
                "images": ui_images,
                "text": summary_lines(results),
                "reused": [reused_scores, reused_critiques],
                "library_model_runs": [model_runs],
            }
        }


__all__ = ["ArtiMuseSaveImage"]
