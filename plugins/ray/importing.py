"""``artimuse library import``: batch results into the library through the one door (``door.ingest``).

The door's engine seam takes any ``ScoringEngine``; ``BatchRowsEngine`` answers ``evaluate`` from the rows of
a batch output instead of running a model, so the door applies every rule it applies to the CLI, the watcher
and ComfyUI: the same content already scored by the same weights is ``cached`` (not written twice; an import
run twice adds nothing), the category rule (option, config folder, library, else the row's predicted
category), critiques stored with their evaluation, failed rows recorded as errors, passed-over rows not. A
file whose content changed since it was scored (its SHA-256 differs from the row's) is refused with
``changed``: that score describes other pixels. Rows are keyed by the library's spelling of their path
(``paths.path_key``), the one the door asks with: a run over a folder reached through a symlink imports
under the real folder.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
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
    Source,
    StepHook,
    family_named,
    match_family,
    path_key,
    source_name,
)

from . import parts

if TYPE_CHECKING:
    from artimuse_core.library import Library

#: (path, error kind, message) of rows that hold no score: recorded by the door as they are.
Problems = list[tuple[str, str, str]]

#: Why an engine over a batch run's rows writes no new text: it holds what the run wrote, nothing more.
NO_MODEL = "a batch import holds only what the run wrote; critique or ask with `artimuse critique`/`ask`"


class BatchRowsEngine(BaseEngine):
    """An engine over a batch run's rows, for the door: ``evaluate`` yields the stored result of each source
    (``paths.path_key`` of its path -> ``ScoreResult`` of one set of weights), checking first that the file
    still has the content scored."""

    spec: EngineSpec | None = None
    batch_size = 256  # library transactions of this many rows

    def __init__(self, provenance: Provenance, results: dict[str, tuple[ScoreResult, str | None]]):
        self.provenance = provenance
        # The family the rows were scored with, as their provenance says, else as the model's name says
        # (``match_family``, the rule a checkpoint without a ``family`` in its config follows).
        self.family: Family = (
            family_named(provenance.family) if provenance.family else match_family([provenance.model], {})
        )
        self.results = results  # path_key -> (result, content hash)

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
        for source in sources:
            path = path_key(source_name(source))
            found = self.results.get(path)
            if found is None:  # the door asks only for the files it was given: a caller's mistake, said so
                result = ScoreResult(path, error=f"{path}: not in the batch output", error_kind="not_in_output")
            elif found[1] and _sha256(path) != found[1]:
                result = ScoreResult(
                    path,
                    error=f"{found[0].path}: changed since it was scored (its content hash differs); score it again",
                    error_kind="changed",
                    provenance=self.provenance,
                )
            else:
                result = replace(found[0], path=path, critiques=dict(found[0].critiques), status="scored")
            if progress:
                progress(1)
            yield result

    def critique_each(
        self, sources: Iterable[Source], attributes: list[str], max_new_tokens: int, on_step: StepHook | None
    ) -> Iterator[list[CritiqueResult]]:
        for source in sources:  # the door asks only when critiques are requested; an import requests none
            yield [CritiqueResult(source_name(source), a, error=NO_MODEL, error_kind="no_model") for a in attributes]

    def answer_each(
        self, sources: Iterable[Source], question: str, max_new_tokens: int, on_step: StepHook | None
    ) -> Iterator[AskResult]:
        for source in sources:
            yield AskResult(source_name(source), question, error=NO_MODEL, error_kind="no_model")


def import_results(
    library: Library, output: str | os.PathLike[str], *, category: str | None = None, progress: Progress | None = None
) -> Iterator[ScoreResult]:
    """Every row of a batch ``output`` into ``library`` through the door, one result per row (``cached``
    where the library already held that score), grouped by the weights that produced them.

    Raises:
        InvalidValue: an unknown category. LibraryError: the database cannot be written.
    """
    from artimuse_core.library import ingest

    groups: dict[str, tuple[Provenance | None, dict[str, tuple[ScoreResult, str | None]], Problems]] = defaultdict(
        lambda: (None, {}, [])
    )
    for row in parts.iter_rows(output):
        result = parts.result_of(row)
        provenance, scored, problems = groups[row["model_key"]]
        if result.ok:
            scored[path_key(result.path)] = (result, row.get("content_hash"))
        else:
            problems.append((result.path, result.error_kind or "image", result.error or ""))
        if provenance is None and result.provenance is not None:
            groups[row["model_key"]] = (result.provenance, scored, problems)
    for provenance, scored, problems in groups.values():
        engine = BatchRowsEngine(provenance, scored) if provenance is not None else None
        yield from ingest(engine, library, list(scored), category=category, problems=problems, progress=progress)


def _sha256(path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
