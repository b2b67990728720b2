"""The engine: one loaded model, batched Token-As-Score scoring and batched greedy critiques.

Speed choices (against the reference's one image per forward with full-vocabulary logits at every
position): images decode in a thread pool while the model runs; a batch is one forward pass (every score
prompt has the same length, so no padding); only the last position's hidden state is multiplied by the
101 score rows of ``lm_head``; the model loads once per process (``engine_cache.get_engine``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from . import __version__, prompts
from .categories import CATEGORY_IDS, OPTION_LETTERS, category_question
from .checkpoints import DEFAULT_MODEL, resolve_checkpoint
from .devices import choose_placement, free_cached_memory, is_out_of_memory
from .errors import ImageError
from .images import DecodedImage, ImageOptions, decode_many
from .loading import LoadedModel, load_model
from .results import CritiqueResult, Provenance, ScoreResult

Progress = Callable[[int], None]
DEFAULT_MAX_NEW_TOKENS = prompts.DEFAULT_MAX_NEW_TOKENS


@dataclass(frozen=True)
class EngineOptions:
    model: str = DEFAULT_MODEL
    device: str = "auto"
    dtype: str = "auto"
    quantize: str = "none"
    attn: str = "auto"
    batch_size: int = 8
    decode_workers: int | None = None


class Engine:
    """Scores and critiques images with one ArtiMuse checkpoint. Build it with ``create_engine``."""

    def __init__(self, loaded: LoadedModel, options: EngineOptions = EngineOptions(),
                 image_options: ImageOptions = ImageOptions()):
        self.loaded = loaded
        self.options = options
        self.image_options = image_options
        self.batch_size = max(1, options.batch_size)
        self._lock = threading.Lock()  # one forward at a time: the watcher and ComfyUI share an engine
        tokenizer = loaded.tokenizer
        self.score_prompt = prompts.render_prompt(loaded.system_message, prompts.SCORE_QUESTION,
                                                  loaded.num_image_tokens)
        self._score_ids = torch.tensor(tokenizer.encode(self.score_prompt, add_special_tokens=False))
        category_prompt = prompts.render_prompt(loaded.system_message, category_question(), loaded.num_image_tokens)
        self._category_ids = torch.tensor(tokenizer.encode(category_prompt, add_special_tokens=False))
        letters = [tokenizer.encode(letter, add_special_tokens=False) for letter in OPTION_LETTERS]
        self._score_rows = torch.tensor(loaded.score_token_ids)
        self._category_rows = torch.tensor([ids[0] for ids in letters])
        self._grid = torch.arange(101, dtype=torch.float32)
        placement = loaded.placement
        self.provenance = Provenance(
            model=loaded.info.name, repo_id=loaded.info.repo_id, fingerprint=loaded.fingerprint,
            layout=loaded.info.layout, device=str(placement.device),
            dtype=str(placement.dtype).removeprefix("torch.") + ("" if placement.quantize == "none"
                                                                 else f"+{placement.quantize}"),
            engine_version=__version__, prompt_hash=prompts.sha256_text(self.score_prompt)[:16],
        )

    @property
    def _device(self) -> torch.device:
        """Where the model is now (a host such as ComfyUI may move it between GPU and CPU)."""
        return self.loaded.model.get_input_embeddings().weight.device

    def _head(self, rows: torch.Tensor) -> torch.Tensor:
        """The lm_head rows of the answer tokens we read: a 101 (or 5) row gather, never the full vocabulary."""
        weight = self.loaded.model.get_output_embeddings().weight
        return weight[rows.to(weight.device)]

    # ----------------------------------------------------------------------------------------- scoring
    def score(self, sources: Sequence, progress: Progress | None = None,
              predict_category: bool | Callable[[str], bool] = False) -> list[ScoreResult]:
        """Score files (paths) or in-memory PIL images; a bad one gets an error result, the rest score.

        ``predict_category`` (True, or a test on the source's name) also asks the model which of the five
        ArtiMuse-10K categories each image belongs to, reusing the image features of the score pass.
        """
        return list(self.iter_scores(sources, progress, predict_category))

    def iter_scores(self, sources: Iterable, progress: Progress | None = None,
                    predict_category: bool | Callable[[str], bool] = False):
        """Like ``score`` but yields results in input order as each batch finishes."""
        batch: list[DecodedImage] = []
        for item in decode_many(sources, self.image_options, self.options.decode_workers,
                                lookahead=max(2 * self.batch_size, 8)):
            if isinstance(item, ImageError):
                # Flush first so results stay in input order.
                yield from self._flush(batch, progress, predict_category)
                batch = []
                yield ScoreResult(path=item.path, error=str(item), error_kind=item.kind,
                                  provenance=self.provenance)
                if progress:
                    progress(1)
                continue
            batch.append(item)
            if len(batch) >= self.batch_size:
                yield from self._flush(batch, progress, predict_category)
                batch = []
        yield from self._flush(batch, progress, predict_category)

    def _flush(self, batch: list[DecodedImage], progress: Progress | None, predict_category):
        if not batch:
            return
        wanted = [bool(predict_category(d.source) if callable(predict_category) else predict_category)
                  for d in batch]
        probs, category_probs = self.score_pixels(np.stack([d.pixel_values for d in batch]), wanted)
        scores = probs @ self._grid
        stds = ((self._grid[None, :] - scores[:, None]) ** 2 * probs).sum(-1).sqrt()
        for i, decoded in enumerate(batch):
            result = ScoreResult(path=decoded.source, score=float(scores[i]), std=float(stds[i]),
                                 probs=probs[i].tolist(), width=decoded.width, height=decoded.height,
                                 provenance=self.provenance)
            if wanted[i]:
                best = int(category_probs[i].argmax())
                result.category, result.category_probability = CATEGORY_IDS[best], float(category_probs[i, best])
            yield result
        if progress:
            progress(len(batch))

    def score_pixels(self, pixel_values: np.ndarray | torch.Tensor, categories: Sequence[bool] | None = None):
        """(N, 3, 448, 448) normalised pixels -> (N, 101) float32 probabilities on the CPU, and, for the
        rows flagged in ``categories``, (N, 5) category probabilities (NaN rows elsewhere).

        Runs in chunks of the batch size; a CUDA out-of-memory error halves the batch and retries.
        """
        pixels = torch.as_tensor(pixel_values)
        flags = list(categories) if categories is not None else [False] * len(pixels)
        scores, cats = [], []
        start = 0
        while start < len(pixels):
            size = min(self.batch_size, len(pixels) - start)
            try:
                score, category = self._score_forward(pixels[start:start + size], flags[start:start + size])
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if not is_out_of_memory(exc) or size == 1:
                    raise
                free_cached_memory(self._device)
                self.batch_size = (size + 1) // 2
                continue
            scores.append(score)
            cats.append(category)
            start += size
        if not scores:
            return torch.empty(0, 101), torch.empty(0, len(CATEGORY_IDS))
        probs = torch.cat(scores)
        return (probs, torch.cat(cats)) if categories is not None else probs

    @torch.inference_mode()
    def _score_forward(self, pixels: torch.Tensor, categories: Sequence[bool] = ()):
        """One pass of the vision tower; the score prompt for every image, the category prompt for those
        flagged. Only the last position's hidden state meets only the rows of lm_head it needs."""
        model = self.loaded.model
        with self._lock:
            features = model.model.get_image_features(
                pixel_values=pixels.to(self._device, model.dtype)).pooler_output
            scores = self._last_logits(features, self._score_ids, self._head(self._score_rows)).softmax(-1).cpu()
            category = torch.full((len(pixels), len(CATEGORY_IDS)), float("nan"))
            rows = [i for i, flag in enumerate(categories) if flag]
            if rows:
                chosen = features[torch.tensor(rows, device=features.device)]
                category[rows] = self._last_logits(chosen, self._category_ids,
                                                   self._head(self._category_rows)).softmax(-1).cpu()
        return scores, category

    def _last_logits(self, features: torch.Tensor, prompt_ids: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
        model = self.loaded.model
        ids = prompt_ids.to(self._device).expand(len(features), -1)
        embeds = model.get_input_embeddings()(ids)
        mask = (ids == self.loaded.image_token_id).unsqueeze(-1)
        embeds = embeds.masked_scatter(mask, features.to(embeds.dtype))
        hidden = model.model.language_model(inputs_embeds=embeds, use_cache=False).last_hidden_state[:, -1]
        return (hidden.to(head.dtype) @ head.T).float()

    # --------------------------------------------------------------------------------------- critiques
    def critique(self, sources: Sequence, attributes: Sequence[str] = prompts.ATTRIBUTES,
                 max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                 progress: Progress | None = None,
                 on_step: Callable[[int, int], None] | None = None) -> list[CritiqueResult]:
        """Greedy critiques for every (image, attribute) pair, batched across attributes and images.

        Left padding with an attention mask (and position ids from it) keeps every greedy output
        identical to running its prompt alone. ``on_step(step, max_new_tokens)`` is called after every
        generated token step of each batch (step 1..max_new_tokens); an exception it raises (a host's
        interrupt, KeyboardInterrupt) aborts generation and propagates.
        """
        attributes = [prompts.resolve_attribute(a) for a in attributes]
        slots: list[CritiqueResult | tuple[DecodedImage, str]] = []
        for item in decode_many(sources, self.image_options, self.options.decode_workers):
            if isinstance(item, ImageError):
                slots.extend(CritiqueResult(item.path, a, error=str(item), error_kind=item.kind)
                             for a in attributes)
                if progress:
                    progress(len(attributes))
            else:
                slots.extend((item, a) for a in attributes)
        jobs = [i for i, slot in enumerate(slots) if isinstance(slot, tuple)]
        start, size = 0, self.batch_size
        while start < len(jobs):
            chunk = jobs[start:start + size]
            try:
                generated = self._generate([slots[i] for i in chunk], max_new_tokens, on_step)
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if not is_out_of_memory(exc) or size == 1:
                    raise
                free_cached_memory(self._device)
                size = (size + 1) // 2
                continue
            for i, ids in zip(chunk, generated):
                decoded, attribute = slots[i]
                slots[i] = CritiqueResult(decoded.source, attribute, text=self.decode_response(ids), token_ids=ids)
            if progress:
                progress(len(chunk))
            start += len(chunk)
        return slots

    @torch.inference_mode()
    def _generate(self, chunk: list[tuple[DecodedImage, str]], max_new_tokens: int,
                  on_step: Callable[[int, int], None] | None = None) -> list[list[int]]:
        loaded, model = self.loaded, self.loaded.model
        tokenizer = loaded.tokenizer
        prompt_ids = [tokenizer.encode(prompts.render_prompt(loaded.system_message,
                                                             prompts.critique_question(a),
                                                             loaded.num_image_tokens),
                                       add_special_tokens=False) for _, a in chunk]
        width = max(len(p) for p in prompt_ids)
        ids = torch.full((len(chunk), width), loaded.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, p in enumerate(prompt_ids):
            ids[row, width - len(p):] = torch.tensor(p)
            mask[row, width - len(p):] = 1
        ids, mask = ids.to(self._device), mask.to(self._device)
        # Each distinct image goes through the vision tower once, however many attributes it has.
        unique: dict[int, int] = {}
        for decoded, _ in chunk:
            unique.setdefault(id(decoded), len(unique))
        images = list({id(d): d for d, _ in chunk}.values())
        pixels = torch.as_tensor(np.stack([d.pixel_values for d in images])).to(self._device, model.dtype)
        with self._lock:
            features = model.model.get_image_features(pixel_values=pixels).pooler_output
            features = features[torch.tensor([unique[id(d)] for d, _ in chunk], device=features.device)]
            embeds = model.get_input_embeddings()(ids)
            image_mask = (ids == loaded.image_token_id).unsqueeze(-1)
            embeds = embeds.masked_scatter(image_mask, features.to(embeds.dtype))
            out = model.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_new_tokens,
                                 do_sample=False, num_beams=1, eos_token_id=loaded.eos_token_id,
                                 pad_token_id=loaded.pad_token_id, temperature=None, top_p=None, top_k=None,
                                 stopping_criteria=_StepHook.list(on_step, max_new_tokens))
        sequences = []
        for row in out.tolist():
            if loaded.eos_token_id in row:
                row = row[:row.index(loaded.eos_token_id)]
            sequences.append(row)
        return sequences

    def decode_response(self, ids: Sequence[int]) -> str:
        """The reference's post-processing: drop only eos, pad and the tokenizer's additional specials
        (InternVL's <img>, <ref>... stay as text), cut at <|im_end|>, strip."""
        kept = [i for i in ids if i not in self.loaded.skip_token_ids]
        text = self.loaded.tokenizer.decode(kept, skip_special_tokens=False)
        return text.split(prompts.IM_END)[0].strip()


class _StepHook(StoppingCriteria):
    """Calls ``on_step(step, max_new_tokens)`` after every generated token; never stops generation itself
    (an exception raised by ``on_step`` does)."""

    def __init__(self, on_step: Callable[[int, int], None], max_new_tokens: int):
        self.on_step, self.max_new_tokens, self.step = on_step, max_new_tokens, 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        self.step += 1
        self.on_step(self.step, self.max_new_tokens)
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    @classmethod
    def list(cls, on_step, max_new_tokens: int) -> StoppingCriteriaList | None:
        return StoppingCriteriaList([cls(on_step, max_new_tokens)]) if on_step is not None else None


def create_engine(model: str | os.PathLike = DEFAULT_MODEL, *, device: str = "auto", dtype: str = "auto",
                  quantize: str = "none", attn: str = "auto", batch_size: int = 8,
                  image_options: ImageOptions = ImageOptions(), decode_workers: int | None = None,
                  adapter: str | None = None) -> Engine:
    """The one way in: a model name, Hugging Face id or folder (plus an optional fine-tuned adapter)
    -> a ready engine."""
    options = EngineOptions(model=os.fspath(model), device=device, dtype=dtype, quantize=quantize, attn=attn,
                            batch_size=batch_size, decode_workers=decode_workers)
    placement = choose_placement(device, dtype, quantize, attn)
    info = resolve_checkpoint(options.model)
    loaded = load_model(info, placement)
    engine = Engine(loaded, options, image_options)
    if adapter:
        from .adapters import apply_adapter

        engine.provenance = replace(engine.provenance, adapter=apply_adapter(loaded, adapter))
    return engine


__all__ = ["Engine", "EngineOptions", "create_engine"]
