"""ArtiMuse nodes for ComfyUI: load a model, score, critique, select the best, save with scores.

Small classes in ComfyUI's own conventions (tooltips on every input and output, like the core nodes); the
work lives in helpers (``work.py``, ``inputs.py``, ``library.py``); the Save Image node, with its PNG text
chunks and the library, in ``saving.py``. Images arrive as ComfyUI IMAGE tensors
(B, H, W, C floats in 0..1) and are turned into 8-bit RGB exactly as ComfyUI's SaveImage writes them, then go
through the engine's own PIL preprocessing, so a node's score equals `artimuse score` on the saved PNG.

Results are remembered per set of weights and per image (``host.Memo``): Select Best and Save Image re-use
the scores and critiques that Score and Critique computed upstream instead of running the model again.
"""

from __future__ import annotations

from typing import Any

import torch

from artimuse_core import (
    ALL_DIMENSIONS,
    ATTRIBUTES,
    HASH_BITS,
    PRIMARY_DIMENSION,
    STACK_SETTINGS,
    checkpoint_identity,
    get_engine,
    near_duplicate_runs,
    perceptual_hash,
)

from . import buckets, host, inputs, models
from .inputs import (
    ALL_ATTRIBUTES,
    CATEGORY,
    DIMENSION_TIP,
    IMAGES_TIP,
    MODEL_TIP,
    MODEL_TYPE,
    TOKENS_TIP,
    InputTypes,
    NodeOutput,
    attributes_for,
)
from .saving import ArtiMuseSaveImage
from .work import critique_images, score_images, summary_lines, tensor_to_pil

#: The library's near-duplicate distance (``stack_threshold``: its default and its largest value, in bits).
NEAR = next(s for s in STACK_SETTINGS if s.name == "stack_threshold")


# ------------------------------------------------------------------------------------------------ nodes
class ArtiMuseLoadModel:
    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
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
    def VALIDATE_INPUTS(cls, model: str | None = None) -> bool | str:
        """ComfyUI skips its list check for an input this hook names (execution.validate_inputs): values
        earlier versions wrote load ("ArtiMuse", "ArtiMuse (download ~16 GB)"), others are refused with the
        reason (``models.problem``). A linked value (None here) is checked when the node runs."""
        return True if model is None else (models.problem(model) or True)

    @classmethod
    def IS_CHANGED(cls, model: str, adapter: str = "", **_: Any) -> str:
        """The engine cache's own staleness rule: size, mtime, ctime and inode of every checkpoint file."""
        folder = host.resolve_local(model.removesuffix(models.DOWNLOAD_SUFFIX))
        if folder is None:
            return model
        try:
            return repr(checkpoint_identity(folder, adapter=adapter.strip() or None))
        except Exception as exc:  # a broken folder or adapter: the load itself reports it
            return f"{model}: {exc}"

    def load(
        self, model: str, device: str, dtype: str, quantize: str, batch_size: int, **settings: Any
    ) -> tuple[host.ArtiMuseModel]:
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
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "artimuse_model": (MODEL_TYPE, {"tooltip": MODEL_TIP}),
                "images": ("IMAGE", {"tooltip": IMAGES_TIP}),
            },
            "optional": {"dimension": (list(ALL_DIMENSIONS), {"default": PRIMARY_DIMENSION, "tooltip": DIMENSION_TIP})},
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

    def score(
        self, artimuse_model: host.ArtiMuseModel, images: torch.Tensor, dimension: str = PRIMARY_DIMENSION
    ) -> NodeOutput:
        with host.node_errors():
            artimuse_model.engine.family.dimension(dimension)  # a clear error before any work
        results, _ = score_images(artimuse_model, tensor_to_pil(images))
        lines = summary_lines(results)
        scores = [r.scores.get(dimension, r.score) for r in results]
        ui = {"text": lines, "scores": scores, "dimension": [dimension]}
        return {"ui": ui, "result": (scores, "\n".join(lines))}


class ArtiMuseCritique:
    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
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

    def critique(
        self, artimuse_model: host.ArtiMuseModel, images: torch.Tensor, attribute: str, max_new_tokens: int
    ) -> NodeOutput:
        texts, _ = critique_images(artimuse_model, tensor_to_pil(images), attributes_for(attribute), max_new_tokens)
        joined = ["\n\n".join(f"{a}:\n{t}" for a, t in per_image.items()) for per_image in texts]
        return {"ui": {"text": joined}, "result": (joined,)}


class ArtiMuseSelectBest:
    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
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
                        "tooltip": "Only images scoring at least this pass (0: no gate). When none passes, "
                        "nothing downstream of images, scores, indices or pass runs; rest still does.",
                    },
                ),
            },
            # Appended, optional: workflows saved before them keep their widgets and their meaning.
            "optional": {
                "near_duplicates": (
                    "INT",
                    {
                        "default": 0,
                        "min": 0,
                        "max": NEAR.max,
                        "tooltip": "Adjacent images (video frames, a batch of near-identical seeds) whose "
                        f"perceptual hashes differ in at most this many of their {HASH_BITS} bits count once: "
                        "only the best of each such run can be kept or pass, the others go to rest. "
                        f"0: off (every image counts). {NEAR.default} is the library's default for "
                        "stacks.",
                    },
                ),
            },
        }

    # New outputs only ever go after the released ones: saved workflows link outputs by position.
    RETURN_TYPES = ("IMAGE", "FLOAT", "INT", "IMAGE", "IMAGE")
    RETURN_NAMES = ("images", "scores", "indices", "pass", "rest")
    OUTPUT_TOOLTIPS = (
        "The kept images, best first.",
        "Their scores, 0-100 (a list).",
        "Their positions in the input batch, from 0 (a list).",
        "Every image at or above the threshold (one per run of near-duplicates), in batch order; "
        "nothing downstream runs when none is.",
        "Every other image (below the threshold, or a near-duplicate of a better frame), in batch order; "
        "nothing downstream runs when there is none.",
    )
    OUTPUT_IS_LIST = (False, True, True, False, False)
    FUNCTION = "select"
    CATEGORY = CATEGORY
    OUTPUT_NODE = True
    DESCRIPTION = (
        "The top-k images by score, best first; with a threshold, only those at or above it pass, and the "
        "batch splits into a pass and a rest output. With near_duplicates, adjacent near-identical "
        "frames count once."
    )

    def select(
        self,
        artimuse_model: host.ArtiMuseModel,
        images: torch.Tensor,
        top_k: int,
        threshold: float,
        near_duplicates: int = 0,
    ) -> NodeOutput:
        pils = tensor_to_pil(images)
        results, _ = score_images(artimuse_model, pils)
        scores = [r.score for r in results if r.score is not None]  # score_images raises on any failure
        if near_duplicates:  # the core's perceptual hash and its cut of an ordered sequence into runs
            runs = near_duplicate_runs([perceptual_hash(p) for p in pils], near_duplicates)
        else:
            runs = [[i] for i in range(len(pils))]
        chosen = buckets.sort_out(scores, runs, top_k, threshold)
        ui = {
            "text": buckets.lines(scores, chosen) or ["no image"],
            "scores": scores,
            "pass": chosen.passed,
            "rest": chosen.rest,
            "runs": [list(run) for run in runs],
        }
        blocked = _blocker()
        empty = images[:0]

        def part(positions: list[int]) -> Any:
            if not positions:  # inside ComfyUI nothing downstream of this output runs
                return blocked if blocked is not None else empty
            return images[torch.tensor(positions, dtype=torch.long)]

        kept = chosen.kept
        head = (part(kept), [scores[i] for i in kept], kept)
        if not kept and blocked is not None:
            head = (blocked, blocked, blocked)
        return {"ui": ui, "result": (*head, part(chosen.passed), part(chosen.rest))}


def _blocker() -> Any:
    """ComfyUI's ExecutionBlocker (nothing downstream runs), or None outside ComfyUI."""
    try:
        from comfy_execution.graph import ExecutionBlocker
    except ImportError:
        return None
    return ExecutionBlocker(None)


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
