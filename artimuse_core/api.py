"""The Python API's one way in, like pyiqa's ``create_metric`` or llm's ``get_model``: ``get_model()`` gives a
callable ``Model``; calling it with whatever a Python user holds returns typed ``ScoreResult``s.

    >>> import artimuse_core
    >>> model = artimuse_core.get_model()              # the default checkpoint; a name, HF id or folder
    >>> model("photo.jpg").score                        # one input -> one ScoreResult (0-100)
    >>> [r.score for r in model(["~/Exports", pil_image, array])]   # a folder or a list -> a list

Inputs (``Input``): a path (``str``, ``bytes`` or ``os.PathLike``; a file, a folder walked recursively, or a
glob pattern), a ``PIL.Image.Image``, a numpy array of shape `(H, W, C)` (C = 1, 3 or 4, uint8) or `(H, W)`,
a torch tensor `(C, H, W)` channels first (torchvision's and pyiqa's layout; float 0-1 or uint8) or `(H, W, C)`
channels last, a batch of arrays or tensors (`(N, ...)`), or a list of any of these. A ``str`` is always one
path, never iterated as characters. Float pixels (0-1) become 8-bit as ``round(255 * x)`` clipped to 0-255, so
``ToTensor()(picture)`` scores exactly as ``picture`` does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np
from PIL import Image

from .errors import InvalidValue
from .results import ScoreResult
from .scoring import Progress, ScoringEngine
from .spec import EngineSpec

Input = str | bytes | os.PathLike[str] | Image.Image | np.ndarray | Any  # Any: a torch.Tensor (torch optional here)
_PATHS = (str, bytes, os.PathLike)


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach")


def _is_single(value: Any) -> bool:
    """One input that gives one result: a path to one existing file, one picture, one array or tensor."""
    if isinstance(value, _PATHS):
        path = os.path.expanduser(os.fsdecode(value))
        return not os.path.isdir(path) and (os.path.lexists(path) or not _has_magic(path))
    if isinstance(value, Image.Image):
        return True
    if isinstance(value, np.ndarray) or _is_tensor(value):
        return value.ndim in (2, 3)
    return False


def _has_magic(path: str) -> bool:
    import glob

    return glob.has_magic(path)


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind == "f":
        return np.clip(np.rint(255.0 * array), 0, 255).astype(np.uint8)  # u / 255 comes back as u
    if array.dtype == bool or array.dtype.kind in "iu":
        if array.min(initial=0) < 0 or array.max(initial=0) > 255:
            raise InvalidValue(f"integer pixels must be 0-255, not {array.min()}..{array.max()} ({array.dtype})")
        return array.astype(np.uint8)
    raise InvalidValue(f"pixels of dtype {array.dtype} are not supported (use uint8 0-255 or float 0-1)")


def _array_image(array: np.ndarray, channels_first: bool) -> Image.Image:
    """One picture from `(H, W)`, `(H, W, C)` or, when ``channels_first``, `(C, H, W)` pixels."""
    if array.ndim == 3 and channels_first and array.shape[0] in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        layout = "(C, H, W) or (H, W, C)" if channels_first else "(H, W, C)"
        raise InvalidValue(f"an image array must be {layout} with C = 1, 3 or 4, or (H, W); got {tuple(array.shape)}")
    return Image.fromarray(np.ascontiguousarray(_to_uint8(array)))


def _pictures(value: Any) -> list[Image.Image]:
    """An array or tensor as pictures: one, or one per item of a batch `(N, ...)`."""
    channels_first = _is_tensor(value)
    array = value.detach().cpu().numpy() if channels_first else np.asarray(value)
    if array.ndim == 4:
        return [_array_image(item, channels_first) for item in array]
    return [_array_image(array, channels_first)]


Slot = ScoreResult | str | Image.Image  # a ready result (not scored), or a source for the engine


def expand_inputs(inputs: Input | Iterable[Input]) -> tuple[list[Slot], bool]:
    """(slots, single): every input as a source for the engine or a ready result, in order.

    Folders and glob patterns are walked (``files.collect_images``): files that cannot be scored become
    ``failed`` results and files deliberately left out (hidden, not an image, no decoder...) become
    ``passed_over`` results, each with its reason, so nothing disappears silently.

    Raises:
        InvalidValue: an input of a type or shape this API does not read (before any work).
    """
    from .files import collect_images

    single = _is_single(inputs)
    items = [inputs] if single or isinstance(inputs, (*_PATHS, np.ndarray)) or _is_tensor(inputs) else inputs
    if isinstance(items, Image.Image) or not isinstance(items, Iterable):
        raise InvalidValue(
            f"cannot score a {type(inputs).__name__}: give a path, folder, PIL image, numpy array, torch tensor "
            "or a list of them"
        )
    slots: list[Slot] = []
    for item in items:
        if isinstance(item, Image.Image):
            slots.append(item)
        elif isinstance(item, np.ndarray) or _is_tensor(item):
            slots.extend(_pictures(item))
        elif isinstance(item, _PATHS):
            collected = collect_images([os.fsdecode(item)])
            slots.extend(ScoreResult(path=p, error=m, error_kind=k) for p, k, m in collected.problems)
            slots.extend(os.fsdecode(f) for f in collected.files)
            slots.extend(
                ScoreResult(path=p.path, error=p.message, error_kind=p.kind, status="passed_over")
                for p in collected.passed_over
            )
        else:
            raise InvalidValue(
                f"cannot score a {type(item).__name__}: give a path, folder, PIL image, numpy array or torch tensor"
            )
    return slots, single


class Model:
    """One ArtiMuse checkpoint, called on images. Build it with ``get_model`` (or ``Model(engine)`` around
    any ``scoring.ScoringEngine``, such as ``testing.FakeEngine``).

    ``model(inputs)`` returns one ``ScoreResult`` for one input (a file, a picture, one array or tensor)
    and a list, in input order, for a folder, a glob pattern, a batch or a list. A result's ``score`` is
    0-100 (higher is better), ``std`` its spread in score points, ``status`` scored / failed /
    passed_over with ``error`` saying why; a bad file never stops the others.
    """

    def __init__(self, engine: ScoringEngine):
        self.engine = engine

    @property
    def spec(self) -> EngineSpec | None:
        """The settings the engine runs with."""
        return self.engine.spec

    @overload
    def __call__(
        self, inputs: str | bytes | os.PathLike[str] | Image.Image, **options: Any
    ) -> ScoreResult | list[ScoreResult]: ...
    @overload
    def __call__(self, inputs: Sequence[Input], **options: Any) -> list[ScoreResult]: ...
    def __call__(self, inputs: Any, **options: Any) -> ScoreResult | list[ScoreResult]:
        return self.score(inputs, **options)

    def score(
        self,
        inputs: Input | Iterable[Input],
        *,
        category: bool = False,
        critique: Sequence[str] = (),
        max_new_tokens: int | None = None,
        progress: Progress | None = None,
    ) -> ScoreResult | list[ScoreResult]:
        """Score ``inputs`` (see the module's docstring for what they may be).

        Args:
            category: also predict each image's ArtiMuse-10K category (``result.category``,
                ``category_probability``).
            critique: attributes to write critiques for (``ATTRIBUTES`` or unambiguous prefixes such as
                ``"composition"``); ``result.critiques`` maps attribute -> text.
            max_new_tokens: the most tokens per critique (default: the spec's 512).
            progress: called with 1 after each image.

        Raises:
            InvalidValue: an input this API does not read, or an unknown attribute (before any work).
        """
        results = list(self.iter_score(inputs, category=category, critique=critique,
                                       max_new_tokens=max_new_tokens, progress=progress))  # fmt: skip
        single = _is_single(inputs)
        return results[0] if single and len(results) == 1 else results

    def iter_score(
        self,
        inputs: Input | Iterable[Input],
        *,
        category: bool = False,
        critique: Sequence[str] = (),
        max_new_tokens: int | None = None,
        progress: Progress | None = None,
    ) -> Iterator[ScoreResult]:
        """Like ``score`` but always yields, in input order, each result as its batch finishes."""
        slots, _ = expand_inputs(inputs)
        sources = [s for s in slots if not isinstance(s, ScoreResult)]
        scored = iter(
            self.engine.evaluate(
                sources, predict_category=category, critique=critique, max_new_tokens=max_new_tokens, progress=progress
            )
            if sources
            else ()
        )
        for slot in slots:
            yield slot if isinstance(slot, ScoreResult) else next(scored)


def get_model(model: str | os.PathLike[str] | EngineSpec | None = None, **settings: Any) -> Model:
    """The one entry point: a ``Model`` for ``model`` (a short name from ``list_models()``, a Hugging Face id,
    a checkpoint folder or an ``EngineSpec``; default: what the config file and ``ARTIMUSE_*`` say, else
    ``ArtiMuse``), with engine ``settings`` on top (``device="cuda"``, ``batch_size=16``...; see
    ``describe_settings()``). The weights load once per process (``engine_cache.get_engine``); a published
    checkpoint downloads on first use (about 16 GB, with a progress bar) unless ``HF_HUB_OFFLINE`` is set.

    Raises:
        CheckpointNotFound: the checkpoint is neither a folder nor in the cache (nor downloadable); the
            message says where to put the files and how to get them.
        InvalidValue: a setting with a bad value (the message names the setting).
    """
    from .config import load_config
    from .engine_cache import get_engine

    if isinstance(model, EngineSpec):
        spec = model
    else:
        spec = load_config().spec
        if model is not None:
            spec = spec.replace(model=os.fspath(model))
    return Model(get_engine(spec, **settings))


__all__ = ["Input", "Model", "expand_inputs", "get_model"]
