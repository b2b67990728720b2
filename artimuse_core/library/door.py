"""The one door from image files to library rows. The CLI, the watcher and ComfyUI all come through here;
none of them repeats a rule or writes a row itself.

For each file the door decides, in this order:

1. **Cached or new**: the same content (SHA-256) already scored by the same weights (fingerprint) and
   adapter is not scored again (status ``cached``) unless ``force``; a file renamed or moved since keeps
   its history and is cached too. Paths are the library's spelling (``paths.path_key``), so
   ``sub/../b.png`` and ``b.png`` are one image.
2. **Category**, one rule: the ``category`` given (applied to cached files too); else the deepest
   configured folder holding the file (``[[folders]]`` of the config, or the ``folders`` given); else what
   the library already holds for the image; else the model predicts it (recorded as ``predicted``, with its
   probability).
3. **Score** (and the category prediction and critiques) in one engine call, ``Engine.evaluate``: one
   decode and one vision pass per image for all three.
4. **Critiques follow the score**: asked-for critiques are stored with the evaluation they describe; with
   ``queue_critiques`` they are queued as a durable job in the same transaction as the score (the watcher
   writes scores first and critiques when no score waits); a cached evaluation only gets the critiques it
   lacks.
5. **Errors**: a file that cannot be read or decoded is recorded with its reason (``artimuse errors``) and
   yields a ``failed`` result; the run goes on. A file passed over on purpose (no decoder installed, a RAW
   with only a thumbnail, a FIFO) or gone before it was read is not an error: it yields a ``passed_over``
   or ``gone`` result, and its watcher job (if any) ends with that status and the reason.
6. **Stacks**: each file joins its stack of near-duplicates or burst with its score (``library.stacks``).

Results are ``ScoreResult``s with ``status`` and ``evaluation_id`` filled, yielded as they are recorded:
cached and failed files first, then each batch of scored ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from ..categories import CategorySource, normalise_category
from ..config import deepest_category
from ..errors import LibraryError
from ..lazy_engine import WeightsIdentity, identity_of, known_provenance
from ..paths import display_path, path_key
from ..prompts import resolve_attribute
from ..results import Provenance, ScoreResult
from ..scoring import CategoryWish, Progress, ScoringEngine, StepHook, spec_value
from .records import EvaluationRecord, FileFacts, JobOptions, JobRecord, ScoredFile, capture_times, facts_or_error
from .stacks import hash_scored, stack_files

if TYPE_CHECKING:
    from .library import Library

#: The start of the warning a result carries when its score or error could not be written to the library.
NOT_SAVED = "not saved in the library"


def ingest(
    engine: ScoringEngine | None,
    library: Library | None,
    sources: Sequence[str | os.PathLike[str]],
    *,
    category: str | None = None,
    force: bool = False,
    critique: Sequence[str] = (),
    max_new_tokens: int | None = None,
    queue_critiques: bool = False,
    problems: Iterable[tuple[str, str, str]] = (),
    folders: Iterable[tuple[Path, str | None]] | None = None,
    progress: Progress | None = None,
    flush_every: int | None = None,
    jobs: Mapping[str, int] | None = None,
    on_step: StepHook | None = None,
) -> Iterator[ScoreResult]:
    """Score ``sources`` (image files) into ``library`` (``None``: score without recording), one result each.

    Args:
        engine: an ``Engine`` (or anything with its public interface, such as ``testing.FakeEngine``); None
            when there are no ``sources`` (only ``problems`` to record: no model needs loading for that).
        category: the category of every file (any accepted spelling); None applies the rule above.
        force: score again even when this content was already scored by this model.
        critique: attributes to critique (full names or unique prefixes); empty for none.
        max_new_tokens: longest critique in tokens; None uses the engine's spec.
        queue_critiques: queue the critiques as watcher jobs instead of writing them now.
        problems: (path, kind, message) of inputs that never became files (missing, outside...):
            recorded as errors (ending their ``jobs``) and yielded as failed results first.
        folders: (folder, category) pairs for the category rule instead of the config's ``[[folders]]``.
        progress: called with the number of files finished, as they finish.
        flush_every: scored files per library transaction (default: the engine's batch size).
        jobs: path (any spelling of the file: ``paths.path_key`` decides) -> watcher job id, each completed in
            the transaction of its file's result.
        on_step: ``Engine.evaluate``'s per-token hook for the critiques written now; an exception from it
            stops the run (the watcher's clean stop): files already recorded stay, the rest are not.

    Raises:
        InvalidValue: an unknown category or attribute.
        LibraryError: the database cannot be written.
    """
    attributes = tuple(resolve_attribute(a) for a in critique)
    fixed = normalise_category(category) if category else None
    jobs = {path_key(path): job_id for path, job_id in (jobs or {}).items()}  # one spelling per file
    provenance = known_provenance(engine)  # a LazyEngine not yet built has none: no model ran for these
    for path, kind, message in problems:
        result = ScoreResult(str(path), error=message, error_kind=kind, provenance=provenance)
        if library is not None:
            _record_outcome(library, result, jobs.get(path_key(str(path))))
        _tick(progress)
        yield result
    if not sources:
        return
    if engine is None:
        raise ValueError("ingest needs an engine for its sources")  # a caller's bug, not a user's mistake
    tokens = max_new_tokens or spec_value(engine, "max_new_tokens")
    if library is None:
        yield from _score_only(engine, sources, fixed, attributes, tokens, progress)
        return
    known_folders = list(folders) if folders is not None else [(f.path, f.category) for f in library.config.folders]
    facts_by_path: dict[str, FileFacts] = {}
    chosen: dict[str, tuple[str | None, CategorySource]] = {}
    to_score: list[Path] = []
    to_critique: list[ScoreResult] = []
    not_saved: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        hashed = list(pool.map(facts_or_error, [Path(p) for p in sources]))
    identity = identity_of(engine)  # from the checkpoint's files: a fully cached folder loads no model
    for given, facts in hashed:
        if isinstance(facts, OSError):
            yield _unreadable(library, given, facts, jobs.get(path_key(given)), known_provenance(engine))
            _tick(progress)
            continue
        key = str(facts.path)  # the library's spelling (``paths.path_key``): one image per file
        stored = None if force else _cached(library, facts, identity)
        if stored is not None:
            if fixed and (stored.category, stored.category_source) != (fixed, "option"):
                try:
                    library.set_category(key, fixed, source="option")  # an explicit category always applies
                    stored = dataclasses.replace(stored, category=fixed, category_source="option")
                except LibraryError as exc:
                    not_saved[key] = f"{NOT_SAVED}: {exc}"
            result = stored.to_result(path=key)
            if key in not_saved:
                result.warnings.append(not_saved[key])
            missing = [a for a in attributes if a not in result.critiques]
            if missing and queue_critiques:
                library.queue_follow_up(key, stored.evaluation_id, JobOptions.of(missing, tokens), jobs.get(key))
            elif key in jobs:
                library.finish_jobs([jobs[key]], "done")
            if missing and not queue_critiques:
                to_critique.append(result)
                continue
            _tick(progress)
            yield result
            continue
        facts_by_path[key] = facts
        chosen[key] = _category_rule(library, facts.path, fixed, known_folders)
        to_score.append(facts.path)

    cached = [str(f.path) for _, f in hashed if not isinstance(f, OSError) and str(f.path) not in facts_by_path]
    with contextlib.suppress(LibraryError):
        library.resolve_errors(cached)  # a cached file has succeeded too: its old errors close
        stack_files(library, library.unhashed(cached))  # scored before stacks existed
    pending: list[ScoredFile] = []
    flush_every = flush_every or (engine.batch_size if to_score else 1)
    captured = capture_times(to_score)

    def flush() -> list[ScoreResult]:
        hash_scored(pending)  # each joins its stack in its score's transaction
        try:
            ids: list[int | None] = list(library.record_scores(pending)) if pending else []
        except LibraryError as exc:  # read-only, full, locked, damaged: the scores are still the user's
            ids = [None] * len(pending)
            for item in pending:
                item.result.warnings.append(f"{NOT_SAVED}: {exc}")
        for item, evaluation_id in zip(pending, ids):
            item.result.evaluation_id = evaluation_id
        done = [item.result for item in pending]
        pending.clear()
        return done

    predicted = {k for k, (_, source) in chosen.items() if source == "predicted"}
    for result in _evaluate(
        engine,
        to_score,
        predict_category=lambda s: str(s) in predicted,
        critique=() if queue_critiques else attributes,
        max_new_tokens=tokens,
        progress=progress,
        on_step=on_step,
    ):
        job_id = jobs.get(result.path)
        if not result.ok:
            _record_outcome(library, result, job_id)
            yield result
            continue
        if result.error:  # scored, but a critique failed: the score is kept, the failure recorded
            library.record_error(result.path, result.error_kind or "image", result.error)
        value, source = chosen[result.path]
        confidence = None
        if source == "predicted":
            value, confidence = result.category, result.category_probability
        result.category, result.category_source, result.category_probability = value, source, confidence
        keep = source == "library"  # the image keeps the category it has
        pending.append(
            ScoredFile(
                facts_by_path[result.path],
                result,
                category=None if keep else value,
                category_source=None if keep else source,
                category_confidence=None if keep else confidence,
                captured_at=captured.get(result.path),
                job_id=job_id,
                follow_up=JobOptions.of(attributes, tokens) if queue_critiques and attributes else None,
            )
        )
        if len(pending) >= flush_every:
            yield from flush()
    yield from flush()
    yield from _critique_cached(engine, library, to_critique, attributes, tokens, progress)


def critique_jobs(
    engine: ScoringEngine, library: Library, jobs: Iterable[JobRecord], on_step: StepHook | None = None
) -> Iterator[ScoreResult]:
    """Run queued critique jobs (``queue_critiques``), each stored with its evaluation and completed in that
    transaction; yields the evaluation's result with its critiques (or the failure) per job, lazily, so a
    caller may stop between jobs. ``on_step`` (per generated token) may raise to stop inside a job, which
    then stays pending."""
    for job in jobs:
        tokens = job.options.max_new_tokens or spec_value(engine, "max_new_tokens")
        results = engine.critique([job.path], job.options.attributes, max_new_tokens=tokens, on_step=on_step)
        failed = [r for r in results if not r.ok]
        if failed:
            result = ScoreResult(
                job.path,
                error=failed[0].error,
                error_kind=failed[0].error_kind or "image",
                evaluation_id=job.evaluation_id,
                provenance=engine.provenance,
            )
            _record_outcome(library, result, job.id)
            yield result
            continue
        texts = {r.attribute: r.text or "" for r in results}
        library.record_critiques(job.evaluation_id, texts, job.id)  # type: ignore[arg-type]
        stored = library.evaluation(job.evaluation_id) if job.evaluation_id is not None else None
        if stored is None:
            yield ScoreResult(
                job.path,
                status="cached",
                critiques=texts,
                evaluation_id=job.evaluation_id,
                provenance=engine.provenance,
            )
        else:
            yield stored.to_result(path=job.path)


def _cached(library: Library, facts: FileFacts, identity: WeightsIdentity) -> EvaluationRecord | None:
    """The stored evaluation of this content by these weights (``WeightsIdentity``), here or where it was."""
    stored = library.find_current(facts, identity.fingerprint, identity.adapter)
    try:
        moved = stored is None and library.adopt_moved(facts, identity.fingerprint, identity.adapter)
    except LibraryError:  # cannot write: the file is scored (and its save fails the same way, with a warning)
        moved = False
    return library.find_current(facts, identity.fingerprint, identity.adapter) if moved else stored


def _evaluate(
    engine: ScoringEngine,
    sources: Sequence[str | os.PathLike[str]],
    *,
    predict_category: CategoryWish,
    critique: Sequence[str],
    max_new_tokens: int,
    progress: Progress | None,
    on_step: StepHook | None = None,
) -> Iterator[ScoreResult]:
    """The door's one engine call: score, optional category and optional critiques of each source, in
    input order, from one decode and one vision-tower pass per image (``Engine.evaluate``)."""
    if not sources:
        return iter(())
    return engine.evaluate(
        sources,
        predict_category=predict_category,
        critique=critique,
        max_new_tokens=max_new_tokens,
        progress=progress,
        on_step=on_step,
    )


def _with_critiques(
    engine: ScoringEngine, results: list[ScoreResult], attributes: Sequence[str], max_new_tokens: int
) -> list[ScoreResult]:
    scored = [r for r in results if r.ok]
    if scored:
        by_path = {r.path: r for r in scored}
        for c in engine.critique([r.path for r in scored], attributes, max_new_tokens=max_new_tokens):
            target = by_path.get(c.path)
            if target is None:
                continue
            if c.ok:
                target.critiques[c.attribute] = c.text or ""
            elif target.error is None:
                target.error, target.error_kind = f"critique {c.attribute}: {c.error}", c.error_kind
    return results


def _record_outcome(library: Library, result: ScoreResult, job_id: int | None) -> None:
    """Where a result without a score goes: a failure is an error row (``artimuse errors``); a file passed
    over or gone is not an error, so only its watcher job (if any) ends with that status and the reason.
    A database that cannot be written leaves a ``NOT_SAVED`` warning on the result instead of ending the run."""
    try:
        if result.status == "failed":
            library.record_error(result.path, result.error_kind or "image", result.error or "", job_id)
        elif job_id is not None:
            library.finish_jobs([job_id], result.status, result.error)
    except LibraryError as exc:
        result.warnings.append(f"{NOT_SAVED}: {exc}")


def _critique_cached(
    engine: ScoringEngine,
    library: Library,
    results: list[ScoreResult],
    attributes: Sequence[str],
    max_new_tokens: int,
    progress: Progress | None,
) -> Iterator[ScoreResult]:
    """Cached evaluations that lack some asked-for critiques get them now."""
    for result in results:
        missing = [a for a in attributes if a not in result.critiques]
        before = dict(result.critiques)
        _with_critiques(engine, [result], missing, max_new_tokens)
        new = {a: t for a, t in result.critiques.items() if a not in before}
        if new and result.evaluation_id is not None:
            library.record_critiques(result.evaluation_id, new)
        if result.error:
            library.record_error(result.path, result.error_kind or "image", result.error)
        _tick(progress)
        yield result


def _score_only(
    engine: ScoringEngine,
    sources: Sequence[str | os.PathLike[str]],
    fixed: str | None,
    attributes: Sequence[str],
    tokens: int,
    progress: Progress | None,
) -> Iterator[ScoreResult]:
    """No library: the category is the one given, else predicted; nothing is recorded."""
    for result in _evaluate(
        engine,
        list(sources),
        predict_category=fixed is None,
        critique=attributes,
        max_new_tokens=tokens,
        progress=progress,
    ):
        if result.ok and fixed:
            result.category, result.category_source, result.category_probability = fixed, "option", None
        elif result.ok and result.category:
            result.category_source = "predicted"
        yield result


def _category_rule(
    library: Library, path: Path, fixed: str | None, folders: list[tuple[Path, str | None]]
) -> tuple[str | None, CategorySource]:
    """(category, source) by the door's one rule: option, config folder, library, else predicted."""
    if fixed:
        return fixed, "option"
    configured = deepest_category(path.expanduser().resolve(), folders)
    if configured:
        return configured, "config"
    known = library.image_category(path)
    if known:
        return known, "library"
    return None, "predicted"


def _unreadable(
    library: Library, path: Path, error: OSError, job_id: int | None, provenance: Provenance | None
) -> ScoreResult:
    """A file that could not be hashed: gone (vanished before it was read: not an error) or unreadable."""
    message = f"{display_path(path)}: {error.strerror or error}"
    kind = "gone" if isinstance(error, FileNotFoundError) else "unreadable"
    result = ScoreResult(str(path), error=message, error_kind=kind, provenance=provenance)
    _record_outcome(library, result, job_id)
    return result


def _tick(progress: Progress | None) -> None:
    progress(1) if progress else None


__all__ = ["critique_jobs", "ingest"]
