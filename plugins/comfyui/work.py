"""The model work the nodes share: ComfyUI IMAGE tensors to 8-bit PIL images exactly as ComfyUI's
SaveImage writes them, scores and critiques remembered per set of weights and per image (``host.Memo``:
Select Best and Save Image re-use what Score and Critique computed upstream), and the PNG metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from artimuse_core import ScoreResult

from . import host


def tensor_to_pil(images: torch.Tensor) -> list[Image.Image]:
    """IMAGE batch -> 8-bit PIL images, rounding exactly as ComfyUI's SaveImage does."""
    pils = []
    for image in images:
        array = np.clip(255.0 * image.cpu().float().numpy(), 0, 255).astype(np.uint8)
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        pils.append(Image.fromarray(array))
    return pils


def score_images(
    model: host.ArtiMuseModel, pils: list[Image.Image], predict_category: bool = False
) -> tuple[list[ScoreResult], int]:
    """One ScoreResult per image, from the memo where this model already scored the same pixels.
    Returns (results, how many were re-used)."""
    memo = model.memo
    keys = [("score", host.pixels_key(p), repr(model.engine.image_options)) for p in pils]
    cached: list[ScoreResult | None] = [memo.get(k) for k in keys]
    todo = [i for i, r in enumerate(cached) if r is None or (predict_category and r.category is None)]
    if todo:
        with host.node_errors():
            engine = model.ready()
            fresh = engine.score(
                [pils[i] for i in todo], progress=host.Progress(len(todo)), predict_category=predict_category
            )
        failed = [r.error for r in fresh if not r.ok]
        if failed:
            raise host.NodeError(f"ArtiMuse: {failed[0]}")
        for i, result in zip(todo, fresh):
            memo.put(keys[i], result)
            cached[i] = result
    return [r for r in cached if r is not None], len(pils) - len(todo)  # every one is filled by now


def summary_lines(results: list[ScoreResult]) -> list[str]:
    """One line per image: ArtiMuse's score ± std; every dimension for UniPercept (iaa 72.85 ± 3.10  iqa ...)."""
    lines = []
    for i, r in enumerate(results):
        if len(r.scores) > 1:
            lines.append(f"#{i}: " + "  ".join(f"{d} {v:.2f} ± {r.stds[d]:.2f}" for d, v in r.scores.items()))
        else:
            lines.append(f"#{i}: {r.score:.2f} ± {r.std:.2f}")
    return lines


def critique_images(
    model: host.ArtiMuseModel, pils: list[Image.Image], attributes: list[str], max_new_tokens: int
) -> tuple[list[dict[str, str]], int]:
    """{attribute: text} per image, from the memo where possible. Returns (texts, how many re-used)."""
    memo = model.memo
    keys = [("critique", host.pixels_key(p), max_new_tokens) for p in pils]
    texts: list[dict[str, str | None]] = [{a: memo.get(k + (a,)) for a in attributes} for k in keys]
    todo = [i for i, t in enumerate(texts) if None in t.values()]
    if todo:
        with host.node_errors():
            engine = model.ready()
            bar = host.TokenProgress(len(todo) * len(attributes), max_new_tokens, engine.batch_size)
            results = engine.critique(
                [pils[i] for i in todo],
                attributes,
                max_new_tokens=max_new_tokens,
                progress=bar.done,
                on_step=bar.on_step,
            )
        for j, result in enumerate(results):
            if not result.ok:
                raise host.NodeError(f"ArtiMuse: {result.error}")
            i = todo[j // len(attributes)]
            memo.put(keys[i] + (result.attribute,), result.text)
            texts[i][result.attribute] = result.text
    return [{a: text or "" for a, text in per_image.items()} for per_image in texts], len(pils) - len(todo)


def metadata(result: ScoreResult, critiques: dict[str, str]) -> dict[str, Any]:
    """What goes into the PNG: score, the distribution (and its summary), every dimension's score, critiques,
    model provenance."""
    probs = result.distribution or []  # a scored result always has its 101 probabilities
    cumulative, quantiles, q = 0.0, dict[str, int](), [0.1, 0.5, 0.9]
    for i, p in enumerate(probs):
        cumulative += p
        while q and cumulative >= q[0]:
            quantiles[f"p{int(q.pop(0) * 100)}"] = i
    return {
        "score": result.score,
        "std": result.std,
        "mode": int(np.argmax(probs)),
        **quantiles,
        "distribution": [round(p, 6) for p in probs],
        "scores": dict(result.scores),  # every dimension (UniPercept: iaa, iqa, ista)
        "critiques": critiques,
        "provenance": vars(result.provenance),
    }


__all__ = ["critique_images", "metadata", "score_images", "summary_lines", "tensor_to_pil"]
