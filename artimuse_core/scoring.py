"""The engine seam: what the library door, the Python API, ComfyUI, Ray and the CLI need of an engine
(``ScoringEngine``), and the one base (``BaseEngine``) that defines the wrappers every engine shares.

Four classes act as engines: ``engine.Engine`` (a loaded model), ``testing.FakeEngine`` (seeded results, no
model), ComfyUI's ``NodeResultsEngine`` (results its nodes already computed) and Ray's ``BatchRowsEngine``
(the rows of a batch run); ``lazy_engine.LazyEngine`` builds one of them on first use. Each implements
``evaluate``, ``critique_each`` and ``answer_each``; ``BaseEngine`` turns those into ``score``,
``iter_scores``, ``critique`` and ``ask`` once, with one rule for attribute names, the default critique
length and progress. Nothing here imports torch (``images`` is numpy and Pillow).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from .errors import InvalidValue
from .families import Family
from .images import ImageSource, source_name
from .prompts import ATTRIBUTES, resolve_attribute
from .results import AskResult, CritiqueResult, Provenance, ScoreResult
from .spec import EngineSpec, default_of

#: What an engine reads an image from: a file path (as the OS gives it), an in-memory PIL image, or an image
#: already decoded by ``images``' rules (a Ray decode task's output).
Source = ImageSource
#: Called with how many items (images, or (image, attribute) pairs for ``critique``) just finished.
Progress = Callable[[int], None]
#: ``on_step(step, max_new_tokens)`` after each generated token step; an exception it raises stops the work.
StepHook = Callable[[int, int], None]
#: Which images also get the category question: all (True), none (False), or a test of each source's name.
CategoryWish = bool | Callable[[str], bool]


class ScoringEngine(Protocol):
    """What every front end may use of an engine (``BaseEngine`` implements it; so does ``LazyEngine``).

    ``spec``: the settings it runs with (None for an engine over stored results); ``provenance``: which
    weights and prompt its results come from; ``batch_size``: images per forward (the door's transaction
    size); ``family``: the model family (dimensions, abilities).
    """

    @property
    def spec(self) -> EngineSpec | None: ...
    @property
    def provenance(self) -> Provenance: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def family(self) -> Family: ...

    def evaluate(
        self,
        sources: Iterable[Source],
        *,
        predict_category: CategoryWish = False,
        critique: Sequence[str] = (),
        max_new_tokens: int | None = None,
        progress: Progress | None = None,
        on_step: StepHook | None = None,
    ) -> Iterator[ScoreResult]: ...

    def score(
        self, sources: Iterable[Source], progress: Progress | None = None, predict_category: CategoryWish = False
    ) -> list[ScoreResult]: ...

    def iter_scores(
        self, sources: Iterable[Source], progress: Progress | None = None, predict_category: CategoryWish = False
    ) -> Iterator[ScoreResult]: ...

    def critique(
        self,
        sources: Iterable[Source],
        attributes: Sequence[str] = ATTRIBUTES,
        max_new_tokens: int | None = None,
        progress: Progress | None = None,
        on_step: StepHook | None = None,
    ) -> list[CritiqueResult]: ...

    def ask(
        self,
        sources: Iterable[Source],
        question: str,
        max_new_tokens: int | None = None,
        progress: Progress | None = None,
        on_step: StepHook | None = None,
    ) -> list[AskResult]: ...


class BaseEngine(ABC):
    """``score``, ``iter_scores``, ``critique`` and ``ask``, defined once over each engine's ``evaluate``,
    ``critique_each`` and ``answer_each``.

    A subclass sets ``spec``, ``provenance``, ``batch_size`` and ``family`` (see ``ScoringEngine``).
    """

    spec: EngineSpec | None
    provenance: Provenance
    batch_size: int
    family: Family

    # ------------------------------------------------------------------------------------ what each engine does
    @abstractmethod
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
        """Everything one image needs, per source in input order: score (0-100, the primary dimension), every
        dimension's score, the category when ``predict_category`` asks for it, the ``critique`` attributes'
        texts (at most ``max_new_tokens`` tokens each; default: the spec's). A bad image yields its error
        result in its place. ``progress(1)`` after each image; ``on_step`` as ``StepHook`` says.

        Raises:
            InvalidValue: an unknown or ambiguous attribute, or critiques from a family without them.
        """

    @abstractmethod
    def critique_each(
        self, sources: Iterable[Source], attributes: list[str], max_new_tokens: int, on_step: StepHook | None
    ) -> Iterator[list[CritiqueResult]]:
        """Per source, in input order: one ``CritiqueResult`` per attribute of ``attributes`` (already resolved),
        in that order; each one failed with the source's error when the image cannot be read."""

    @abstractmethod
    def answer_each(
        self, sources: Iterable[Source], question: str, max_new_tokens: int, on_step: StepHook | None
    ) -> Iterator[AskResult]:
        """Per source, in input order: the greedy answer to ``question`` (checked by ``check_question``), or the
        error that stopped it."""

    # ------------------------------------------------------------------------------------ the shared wrappers
    def score(
        self, sources: Iterable[Source], progress: Progress | None = None, predict_category: CategoryWish = False
    ) -> list[ScoreResult]:
        """``evaluate`` without critiques, as a list: one ``ScoreResult`` per source, in input order."""
        return list(self.evaluate(sources, predict_category=predict_category, progress=progress))

    def iter_scores(
        self, sources: Iterable[Source], progress: Progress | None = None, predict_category: CategoryWish = False
    ) -> Iterator[ScoreResult]:
        """Like ``score``, yielding results in input order as each batch finishes."""
        return self.evaluate(sources, predict_category=predict_category, progress=progress)

    def critique(
        self,
        sources: Iterable[Source],
        attributes: Sequence[str] = ATTRIBUTES,
        max_new_tokens: int | None = None,
        progress: Progress | None = None,
        on_step: StepHook | None = None,
    ) -> list[CritiqueResult]:
        """Greedy critiques for every (image, attribute) pair, in that order, with their token ids.

        ``attributes``: full names (``prompts.ATTRIBUTES``) or unambiguous prefixes; ``max_new_tokens``: the
        most tokens per critique (default: the spec's, 512); ``progress`` is called with the number of pairs
        finished, ``on_step`` after every generated token step.

        Raises:
            InvalidValue: an unknown or ambiguous attribute, or a family that writes no attribute critiques.
        """
        chosen = self.resolve_attributes(attributes)
        if not chosen:
            return []
        results: list[CritiqueResult] = []
        for each in self.critique_each(sources, chosen, self.token_limit(max_new_tokens), on_step):
            results.extend(each)
            if progress:
                progress(len(each))
        return results

    def ask(
        self,
        sources: Iterable[Source],
        question: str,
        max_new_tokens: int | None = None,
        progress: Progress | None = None,
        on_step: StepHook | None = None,
    ) -> list[AskResult]:
        """Greedy free-form answers to ``question`` about each image, as InternVL's ``chat()`` gives them
        (UniPercept's VQA, ArtiMuse's chat), one ``AskResult`` per source in input order; a bad image gets its
        error in its place. ``progress(1)`` per image, ``on_step`` as in ``critique``.

        Raises:
            InvalidValue: an empty question, or ``<image>`` other than at its start.
        """
        check_question(question)
        results: list[AskResult] = []
        for answer in self.answer_each(sources, question, self.token_limit(max_new_tokens), on_step):
            results.append(answer)
            if progress:
                progress(1)
        return results

    # ------------------------------------------------------------------------------------ the shared rules
    def resolve_attributes(self, names: Sequence[str]) -> list[str]:
        """Attribute names (full, or unambiguous prefixes) resolved to ``prompts.ATTRIBUTES``.

        Raises:
            InvalidValue: an unknown or ambiguous name, or a family that writes no attribute critiques.
        """
        if names and not self.family.attributes:
            raise InvalidValue(f"{self.family.name} writes no attribute critiques; ask it a question instead (ask)")
        return [resolve_attribute(a) for a in names]

    def token_limit(self, max_new_tokens: int | None) -> int:
        """The most tokens per generated text: ``max_new_tokens``, else the spec's (else the declared default)."""
        return max_new_tokens or spec_value(self, "max_new_tokens")


IMAGE_PLACEHOLDER = "<image>"


def check_question(question: str) -> None:
    """The rule every engine applies to a free-form question (InternVL's ``chat()`` with one image).

    Raises:
        InvalidValue: an empty question, or one with ``<image>`` anywhere but at its start.
    """
    if not question.strip():
        raise InvalidValue("question must not be empty")
    if IMAGE_PLACEHOLDER in question.removeprefix(IMAGE_PLACEHOLDER):
        raise InvalidValue(f"question may hold {IMAGE_PLACEHOLDER} only at its start (one image per question)")


def spec_value(engine: ScoringEngine | BaseEngine, name: str) -> Any:
    """A setting as an engine was built with it (``engine.spec``), else its declared default (an engine over
    stored results has no spec)."""
    return getattr(engine.spec, name) if engine.spec is not None else default_of(name)


__all__ = [
    "BaseEngine",
    "CategoryWish",
    "IMAGE_PLACEHOLDER",
    "Progress",
    "ScoringEngine",
    "Source",
    "StepHook",
    "check_question",
    "source_name",
    "spec_value",
]
