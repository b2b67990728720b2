"""Score files into the library: skip what is already scored, choose each image's category, record
results and failures. The CLI and the watcher both call this; neither repeats its rules."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from ..categories import normalise_category
from ..engine import Engine
from .api import FileFacts, Library, file_facts


@dataclass
class Outcome:
    """What happened to one file: 'scored', 'cached' (same content and model already in the library) or
    'failed' (``error`` says why; it is also recorded in the library's errors)."""

    path: str
    status: str
    score: float | None = None
    std: float | None = None
    model: str | None = None
    category: str | None = None
    category_source: str | None = None
    category_probability: float | None = None
    evaluation_id: int | None = None
    error: str | None = None
    error_kind: str | None = None
    probs: list[float] | None = None

    def to_dict(self, with_probs: bool = False) -> dict:
        data = asdict(self)
        if not with_probs:
            data.pop("probs")
        return data


def score_into_library(engine: Engine, library: Library | None, paths: Sequence[str | os.PathLike], *,
                       category: str | None = None, force: bool = False,
                       progress: Callable[[int], None] | None = None,
                       flush_every: int | None = None, jobs: dict[str, int] | None = None) -> Iterator[Outcome]:
    """Yield one Outcome per path, in order of completion batches (cached and failed ones first).

    Category, in order: ``category`` given here; the config's folder setting; what the library already
    knows of the image; otherwise the model predicts it (recorded as predicted, with its probability).
    ``jobs`` maps absolute paths to watcher jobs, completed in the same transaction as their results; a
    job whose file vanished before it was read ends as 'gone' rather than as an error.
    """
    jobs = jobs or {}
    fixed = normalise_category(category) if category else None
    model = engine.provenance.model
    adapter = engine.provenance.adapter
    facts_by_path: dict[str, FileFacts] = {}
    chosen: dict[str, tuple[str | None, str | None]] = {}
    to_score: list[Path] = []

    with ThreadPoolExecutor(max_workers=4) as pool:
        hashed = list(pool.map(_facts_or_error, [Path(p) for p in paths]))
    for path, facts in hashed:
        if isinstance(facts, OSError):
            message = f"{path}: {facts.strerror or facts}"
            job_id = jobs.get(str(path))
            if library and job_id is not None and isinstance(facts, FileNotFoundError):
                library.finish_jobs([job_id], "gone", message)
                if progress:
                    progress(1)
                yield Outcome(str(path), "gone", model=model, error=message, error_kind="gone")
                continue
            if library:
                library.record_error(path, "unreadable", message, job_id)
            if progress:
                progress(1)
            yield Outcome(str(path), "failed", model=model, error=message, error_kind="unreadable")
            continue
        key = str(facts.path)
        if library and not force:
            stored = library.find_current(facts, engine.provenance.fingerprint, adapter)
            if stored:
                if key in jobs:
                    library.finish_jobs([jobs[key]], "done")
                if progress:
                    progress(1)
                yield Outcome(key, "cached", stored["score"], stored["std"], stored["model"], stored["category"],
                              evaluation_id=stored["evaluation_id"], probs=stored["distribution"])
                continue
        facts_by_path[key] = facts
        configured = library.config.category_for(facts.path) if library and not fixed else None
        known = library.image_category(facts.path) if library and not (fixed or configured) else None
        if fixed:
            chosen[key] = (fixed, "option")
        elif configured:
            chosen[key] = (configured, "config")
        elif known:
            chosen[key] = (known, "library")  # keep what the library has
        else:
            chosen[key] = (None, "predicted")
        to_score.append(facts.path)

    pending: list[tuple] = []
    pending_outcomes: list[Outcome] = []
    flush_every = flush_every or engine.batch_size

    def flush():
        if library and pending:
            job_ids = [jobs.get(str(item[0].path)) for item in pending]
            for outcome, evaluation_id in zip(pending_outcomes, library.record_scores(pending, job_ids)):
                outcome.evaluation_id = evaluation_id
        done = list(pending_outcomes)
        pending.clear()
        pending_outcomes.clear()
        return done

    wants_prediction = {k for k, (_, source) in chosen.items() if source == "predicted"}
    for result in engine.iter_scores(to_score, progress, predict_category=lambda s: s in wants_prediction):
        if not result.ok:
            if library:
                library.record_error(result.path, result.error_kind or "image", result.error, jobs.get(result.path))
            yield Outcome(result.path, "failed", model=model, error=result.error, error_kind=result.error_kind)
            continue
        value, source = chosen[result.path]
        confidence = None
        if source == "predicted":
            value, confidence = result.category, result.category_probability
        stored = (None, None, None) if source == "library" else (value, source, confidence)
        pending.append((facts_by_path[result.path], result, *stored, None))
        pending_outcomes.append(Outcome(result.path, "scored", result.score, result.std, model, value, source,
                                        confidence, probs=result.probs))
        if len(pending) >= flush_every:
            yield from flush()
    yield from flush()


def _facts_or_error(path: Path):
    try:
        return path, file_facts(path)
    except OSError as exc:
        return path, exc


def critique_into_library(engine: Engine, library: Library, paths: Sequence[str | os.PathLike],
                          attributes: Sequence[str], max_new_tokens: int,
                          progress: Callable[[int], None] | None = None) -> list:
    """Critiques attached to each image's current evaluation by this model (scored first when needed)."""
    outcomes = {o.path: o for o in score_into_library(engine, library, paths)}
    results = engine.critique(paths, attributes, max_new_tokens=max_new_tokens, progress=progress)
    grouped: dict[int, dict[str, str]] = {}
    for result in results:
        outcome = outcomes.get(str(Path(result.path).expanduser().absolute()))
        if result.ok and outcome and outcome.evaluation_id:
            grouped.setdefault(outcome.evaluation_id, {})[result.attribute] = result.text
        elif not result.ok:
            library.record_error(result.path, result.error_kind or "image", result.error)
    for evaluation_id, texts in grouped.items():
        library.record_critiques(evaluation_id, texts)
    return results
