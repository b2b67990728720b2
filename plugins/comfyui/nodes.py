"""ArtiMuse nodes for ComfyUI: load a model, score, critique, select the best, save with scores.

Small classes in ComfyUI's own conventions (tooltips on every input and output, like the core nodes); the
work lives in helpers (``work.py``, ``inputs.py``, ``library.py``). Images arrive as ComfyUI IMAGE tensors
(B, H, W, C floats in 0..1) and are turned into 8-bit RGB exactly as ComfyUI's SaveImage writes them, then go
through the engine's own PIL preprocessing, so a node's score equals `artimuse score` on the saved PNG.

Results are remembered per set of weights and per image (``host.Memo``): Select Best and Save Image re-use
the scores and critiques that Score and Critique computed upstream instead of running the model again.
"""

from __future__ import annotations

import json
import os

import torch
from PIL.PngImagePlugin import PngInfo

from artimuse_core import ALL_DIMENSIONS, ATTRIBUTES, CATEGORIES, checkpoint_identity, default_of, get_engine

from . import host, inputs, models
from .inputs import DIMENSION_TIP, IMAGES_TIP, MODEL_TIP, TOKENS_TIP
from .library import Computed, needs_prediction, record_in_library
from .work import critique_images, metadata, score_images, summary_lines, tensor_to_pil

CATEGORY = "ArtiMuse"
MODEL_TYPE = "ARTIMUSE_MODEL"
ALL_ATTRIBUTES = "all eight"
AUTO = "auto"
DEFAULT_MAX_NEW_TOKENS = default_of("max_new_tokens")


def _attributes(choice: str) -> list[str]:
    return list(ATTRIBUTES) if choice == ALL_ATTRIBUTES else [choice]


# ------------------------------------------------------------------------------------------------ nodes
class ArtiMuseLoadModel:
    @classmethod
    def INPUT_TYPES(cls):
        choices = models.choices()
        return {
            "required": {
                "model": (
                    choices,
                    {
                        "default": choices[0],
                        "tooltip": "A checkpoint folder in models/artimuse (or a root in extra_model_paths.yaml). "
                        "Entries marked 'download' fetch a published checkpoint (~16 GB) into "
                        "ComfyUI/models/artimuse/<name> when you queue.",
                    },
                ),
                "device": (
                    host.device_choices(),
                    {
                        "default": "auto",
                        "tooltip": "Where the model runs: 'auto' is ComfyUI's device. ComfyUI moves the weights there "
                        "before each run and may offload them when other models need the memory.",
                    },
                ),
                "dtype": inputs.setting_input("dtype"),
                "quantize": (
                    host.quantize_choices(),
                    {
                        "default": "none",
                        "tooltip": inputs.setting_input("quantize")[1]["tooltip"] + " Offered only where it can work.",
                    },
                ),
                "batch_size": inputs.setting_input(
                    "batch_size",
                    "Images per forward pass; halved automatically "
                    "on out-of-memory. Changing it never loads a second copy of "
                    "the weights.",
                ),
            },
            # Every other engine setting, generated from the spec (artimuse_core/spec.py).
            "optional": {name: inputs.setting_input(name) for name in inputs.OPTIONAL},
        }

    RETURN_TYPES = (MODEL_TYPE,)
    RETURN_NAMES = ("artimuse_model",)
    OUTPUT_TOOLTIPS = ("The loaded model, for the other ArtiMuse nodes.",)
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Loads an ArtiMuse checkpoint once; it stays loaded while ComfyUI keeps it, and reloads "
        "when its files change on disk."
    )

    @classmethod
    def VALIDATE_INPUTS(cls, model=None):
        """ComfyUI skips its list check for an input this hook names (execution.validate_inputs): values
        earlier versions wrote load ("ArtiMuse", "ArtiMuse (download ~16 GB)"), others are refused with the
        reason (``models.problem``). A linked value (None here) is checked when the node runs."""
        return True if model is None else (models.problem(model) or True)

    @classmethod
    def IS_CHANGED(cls, model, adapter="", **_):
        """The engine cache's own staleness rule: size, mtime, ctime and inode of every checkpoint file."""
        folder = host.resolve_local(model.removesuffix(models.DOWNLOAD_SUFFIX))
        if folder is None:
            return model
        try:
            return repr(checkpoint_identity(folder, adapter=adapter.strip() or None))
        except Exception as exc:  # a broken folder or adapter: the load itself reports it
            return f"{model}: {exc}"

    def load(self, model, device, dtype, quantize, batch_size, **settings):
        folder = models.resolve(model, progress=host.download_progress())
        where = host.load_device(device)  # one owner of the device: the patcher's load_device
        with host.node_errors():
            chosen = inputs.spec_values({k: v.strip() if isinstance(v, str) else v for k, v in settings.items()})
            engine = get_engine(
                folder, device=str(where), dtype=dtype, quantize=quantize, batch_size=batch_size, **chosen
            )
        return (host.ArtiMuseModel(engine, where),)


class ArtiMuseScore:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "artimuse_model": (MODEL_TYPE, {"tooltip": MODEL_TIP}),
                "images": ("IMAGE", {"tooltip": IMAGES_TIP}),
            },
            "optional": {"dimension": (list(ALL_DIMENSIONS), {"default": "iaa", "tooltip": DIMENSION_TIP})},
        }

    RETURN_TYPES = ("FLOAT", "STRING")
    RETURN_NAMES = ("scores", "summary")
    OUTPUT_TOOLTIPS = (
        "Score of each image on the chosen dimension, 0-100 (a list, one per image).",
        "One line per image: score ± std (in score points); every dimension for UniPercept.",
    )
    OUTPUT_IS_LIST = (True, False)
    FUNCTION = "score"
    CATEGORY = CATEGORY
    OUTPUT_NODE = True
    DESCRIPTION = (
        "Score 0-100 of each image in the batch (Token As Score; shown on the node): aesthetics, or with a "
        "UniPercept model also technical quality and structure/texture."
    )

    def score(self, artimuse_model, images, dimension="iaa"):
        with host.node_errors():
            artimuse_model.engine.family.dimension(dimension)  # a clear error before any work
        results, _ = score_images(artimuse_model, tensor_to_pil(images))
        lines = summary_lines(results)
        scores = [r.scores.get(dimension, r.score) for r in results]
        ui = {"text": lines, "scores": scores, "dimension": [dimension]}
        return {"ui": ui, "result": (scores, "\n".join(lines))}


class ArtiMuseCritique:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "artimuse_model": (MODEL_TYPE, {"tooltip": MODEL_TIP}),
                "images": ("IMAGE", {"tooltip": IMAGES_TIP}),
                "attribute": (
                    [ALL_ATTRIBUTES, *ATTRIBUTES],
                    {
                        "default": ALL_ATTRIBUTES,
                        "tooltip": "Which of ArtiMuse's eight attributes to write about, or all of them.",
                    },
                ),
                "max_new_tokens": inputs.setting_input("max_new_tokens", TOKENS_TIP),
            }
        }

    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("critiques",)
    OUTPUT_TOOLTIPS = ("One text per image: each attribute's critique under its name.",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "critique"
    CATEGORY = CATEGORY
    OUTPUT_NODE = True
    DESCRIPTION = "Written critique of each image (greedy decoding), one text per image."

    def critique(self, artimuse_model, images, attribute, max_new_tokens):
        texts, _ = critique_images(artimuse_model, tensor_to_pil(images), _attributes(attribute), max_new_tokens)
        joined = ["\n\n".join(f"{a}:\n{t}" for a, t in per_image.items()) for per_image in texts]
        return {"ui": {"text": joined}, "result": (joined,)}


class ArtiMuseSelectBest:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "artimuse_model": (MODEL_TYPE, {"tooltip": MODEL_TIP}),
                "images": ("IMAGE", {"tooltip": IMAGES_TIP}),
                "top_k": (
                    "INT",
                    {"default": 1, "min": 1, "max": 4096, "tooltip": "How many images to keep, best first."},
                ),
                "threshold": (
                    "FLOAT",
                    {
                        "default": 0.0,
                        "min": 0.0,
                        "max": 100.0,
                        "step": 0.5,
                        "tooltip": "Only images scoring at least this pass (0: no gate). When none passes, nothing "
                        "downstream of any output runs.",
                    },
                ),
            }
        }

    RETURN_TYPES = ("IMAGE", "FLOAT", "INT")
    RETURN_NAMES = ("images", "scores", "indices")
    OUTPUT_TOOLTIPS = (
        "The kept images, best first.",
        "Their scores, 0-100 (a list).",
        "Their positions in the input batch, from 0 (a list).",
    )
    OUTPUT_IS_LIST = (False, True, True)
    FUNCTION = "select"
    CATEGORY = CATEGORY
    OUTPUT_NODE = True
    DESCRIPTION = "The top-k images by score, best first; with a threshold, only those at or above it pass."

    def select(self, artimuse_model, images, top_k, threshold):
        results, _ = score_images(artimuse_model, tensor_to_pil(images))
        order = sorted(range(len(results)), key=lambda i: results[i].score, reverse=True)
        kept = [i for i in order if results[i].score >= threshold][:top_k]
        lines = [f"#{i}: {results[i].score:.2f}{' (kept)' if i in kept else ''}" for i in range(len(results))]
        ui = {"text": lines or ["no image"], "scores": [r.score for r in results]}
        if not kept:
            blocked = _blocker()
            if blocked is not None:  # inside ComfyUI: every output blocks, so nothing downstream runs
                return {"ui": ui, "result": blocked}
            return {"ui": ui, "result": (images[:0], [], [])}
        index = torch.tensor(kept, dtype=torch.long)
        return {"ui": ui, "result": (images[index], [results[i].score for i in kept], kept)}


def _blocker():
    try:
        from comfy_execution.graph import ExecutionBlocker
    except ImportError:
        return None
    return ExecutionBlocker(None)


CATEGORY_CHOICES = [AUTO, *CATEGORIES.values()]


class ArtiMuseSaveImage:
    @classmethod
    def INPUT_TYPES(cls):
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
        images,
        artimuse_model,
        filename_prefix,
        critique,
        save_to_library=False,
        max_new_tokens=DEFAULT_MAX_NEW_TOKENS,
        category=AUTO,
        prompt=None,
        extra_pnginfo=None,
    ):
        pils = tensor_to_pil(images)
        height, width = images.shape[1], images.shape[2]
        folder, stem, counter, subfolder, _ = host.save_path(filename_prefix, width, height)
        folder = host.confined(folder)  # whatever built the path, nothing is written outside the output folder
        paths = [os.path.join(folder, f"{stem}_{counter + i:05}_.png") for i in range(len(pils))]
        fixed = None if category == AUTO else category
        attributes = _attributes(critique) if critique != "none" else []
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
            computed = Computed(
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
