"""The pack's way into the ArtiMuse library: the saved PNGs go through the core's one door
(``artimuse_core.library.ingest``), like every other front end, with the scores and critiques the nodes
already computed on the same pixels.

The door decides what it always decides (cached content, the category rule, what is recorded); the model
is asked only for what no node computed yet. ``Computed`` is the engine the door sees: it answers from the
nodes' results and hands anything else to the real engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from artimuse_core import ATTRIBUTES, CritiqueResult, ScoreResult, resolve_attribute


class Computed:
    """An engine (``Engine``'s public interface, as the door uses it) over results already computed:
    ``known`` maps a saved file's path to (its ScoreResult, {attribute: critique}). A request the results do
    not cover (a category or critique nobody computed, an unknown file) goes to ``ready()``'s engine."""

    def __init__(self, engine: Any, ready: Callable[[], Any], known: dict[str, tuple[ScoreResult, dict[str, str]]]):
        self.provenance = engine.provenance
        self.batch_size = engine.batch_size
        self.spec = engine.spec
        self.image_options = engine.image_options
        self.ready = ready
        self.known = known
        self.model_runs = 0  # how many files the real engine had to see (tests and the node's report)

    def evaluate(
        self,
        sources: Iterable[Any],
        *,
        predict_category: bool | Callable[[Any], bool] = False,
        critique: Sequence[str] = (),
        max_new_tokens: int | None = None,
        progress: Callable[[int], None] | None = None,
        on_step: Callable[[int, int], None] | None = None,
    ) -> Iterator[ScoreResult]:
        attributes = [resolve_attribute(a) for a in critique]
        for source in sources:
            wants = bool(predict_category(source) if callable(predict_category) else predict_category)
            result, texts = self.known.get(str(source), (None, {}))
            if result is None or (wants and result.category is None) or any(a not in texts for a in attributes):
                self.model_runs += 1
                yield from self.ready().evaluate(
                    [source],
                    predict_category=wants,
                    critique=attributes,
                    max_new_tokens=max_new_tokens,
                    progress=progress,
                    on_step=on_step,
                )
                continue
            if progress:
                progress(1)
            yield replace(
                result,
                path=str(source),
                critiques={a: texts[a] for a in attributes},
                category=result.category if wants else None,
                category_probability=result.category_probability if wants else None,
            )

    def critique(
        self,
        sources: Sequence[Any],
        attributes: Sequence[str] = ATTRIBUTES,
        max_new_tokens: int | None = None,
        progress: Callable[[int], None] | None = None,
        on_step: Callable[[int, int], None] | None = None,
    ) -> list[CritiqueResult]:
        attributes = [resolve_attribute(a) for a in attributes]
        results: list[CritiqueResult] = []
        for source in sources:
            texts = self.known.get(str(source), (None, {}))[1]
            if any(a not in texts for a in attributes):
                self.model_runs += 1
                results += self.ready().critique([source], attributes, max_new_tokens, progress, on_step)
                continue
            results += [CritiqueResult(str(source), a, text=texts[a]) for a in attributes]
            if progress:
                progress(len(attributes))
        return results


def needs_prediction(library: Any, paths: Sequence[str], category: str | None) -> bool:
    """Whether the door's category rule will ask the model for some saved file: no category chosen on the
    node and no configured folder holding it (a new file has no category in the library yet)."""
    from artimuse_core import deepest_category

    if category:
        return False
    folders = [(f.path, f.category) for f in library.config.folders]
    return any(deepest_category(Path(p).resolve(), folders) is None for p in paths)


def record_in_library(
    library: Any,
    computed: Computed,
    paths: Sequence[str],
    category: str | None,
    attributes: Sequence[str],
    max_new_tokens: int,
) -> list[ScoreResult]:
    """The saved files through the door, with their critiques; one result each (status scored, cached or
    failed). Category: the node's ``category`` when chosen, else the library's rule."""
    from artimuse_core.library import ingest

    return list(
        ingest(computed, library, list(paths), category=category, critique=attributes, max_new_tokens=max_new_tokens)
    )
