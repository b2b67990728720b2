"""The pack's way into the ArtiMuse library: the saved PNGs go through the core's one door
(``artimuse_core.library.ingest``), like every other front end, with the scores and critiques the nodes
already computed on the same pixels.

The door decides what it always decides (cached content, the category rule, what is recorded); the model
is asked only for what no node computed yet. ``NodeResultsEngine`` is the engine the door sees: it answers
from the nodes' results and hands anything else to the real engine. Its results are keyed by the library's
spelling of each saved file (``paths.path_key``), the one the door asks with, so an output folder reached
through a symlink is still answered from the nodes' results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from artimuse_core import (
    AskResult,
    BaseEngine,
    CategoryWish,
    CritiqueResult,
    EngineSpec,
    Family,
    Progress,
    Provenance,
    ScoreResult,
    ScoringEngine,
    Source,
    StepHook,
    path_key,
    source_name,
)

if TYPE_CHECKING:
    from artimuse_core.library import Library

#: What the nodes computed for one saved file: its ScoreResult and {attribute: critique}.
NodeResult = tuple[ScoreResult, dict[str, str]]


class NodeResultsEngine(BaseEngine):
    """An engine over results the nodes already computed: ``known`` maps a saved file's path to its
    ``NodeResult``. A request the results do not cover (a category or critique nobody computed, an unknown file)
    goes to ``ready()``'s engine."""

    def __init__(self, engine: ScoringEngine, ready: Callable[[], ScoringEngine], known: dict[str, NodeResult]):
        self.provenance: Provenance = engine.provenance
        self.batch_size: int = engine.batch_size
        self.spec: EngineSpec | None = engine.spec
        self.family: Family = engine.family
        self.ready = ready
        self.known = {path_key(path): result for path, result in known.items()}
        self.model_runs = 0  # how many files the real engine had to see (tests and the node's report)

    def _known(self, source: Source) -> NodeResult | None:
        return self.known.get(path_key(source_name(source)))

    def evaluate(
        self,
        sources: Iterable[Source],
        *,
        predict_category: CategoryWish = False,
        critique: Sequence[str] = (),
        max_new_tokens: int | None = None,
        progress: Progress | None = None,
        on_step: StepHook | None = None,
    ) -> Iterator[ScoreResult]:
        attributes = self.resolve_attributes(critique)
        for source in sources:
            name = source_name(source)
            wants = bool(predict_category(name) if callable(predict_category) else predict_category)
            result, texts = self._known(source) or (None, {})
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
                path=name,
                critiques={a: texts[a] for a in attributes},
                category=result.category if wants else None,
                category_probability=result.category_probability if wants else None,
            )

    def critique_each(
        self, sources: Iterable[Source], attributes: list[str], max_new_tokens: int, on_step: StepHook | None
    ) -> Iterator[list[CritiqueResult]]:
        for source in sources:
            texts = (self._known(source) or (None, {}))[1]
            if any(a not in texts for a in attributes):
                self.model_runs += 1
                yield self.ready().critique([source], attributes, max_new_tokens, on_step=on_step)
                continue
            yield [CritiqueResult(source_name(source), a, text=texts[a]) for a in attributes]

    def answer_each(
        self, sources: Iterable[Source], question: str, max_new_tokens: int, on_step: StepHook | None
    ) -> Iterator[AskResult]:
        for source in sources:  # the nodes ask no questions: every one goes to the model
            self.model_runs += 1
            yield from self.ready().ask([source], question, max_new_tokens, on_step=on_step)


def needs_prediction(library: Library, paths: Sequence[str], category: str | None) -> bool:
    """Whether the door's category rule will ask the model for some saved file: no category chosen on the
    node and no configured folder holding it (a new file has no category in the library yet)."""
    from artimuse_core import deepest_category

    if category:
        return False
    folders = [(f.path, f.category) for f in library.config.folders]
    return any(deepest_category(Path(p).resolve(), folders) is None for p in paths)


def record_in_library(
    library: Library,
    computed: NodeResultsEngine,
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
