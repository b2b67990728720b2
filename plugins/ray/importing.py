"""``artimuse library import``: batch results into the library through the one door (``door.ingest``).

The door's engine seam takes anything with the engine's public interface; ``Precomputed`` answers
``evaluate`` from the rows of a batch output instead of running a model, so the door applies every rule it
applies to the CLI, the watcher and ComfyUI: the same content already scored by the same weights is
``cached`` (not written twice; an import run twice adds nothing), the category rule (option, config folder,
library, else the row's predicted category), critiques stored with their evaluation, failed rows recorded
as errors, passed-over rows not. A file whose content changed since it was scored (its SHA-256 differs
from the row's) is refused with ``changed``: that score describes other pixels.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from artimuse_core import Provenance, ScoreResult

from . import parts


def absolute(path: str) -> str:
    """The path as the door keys it (``FileFacts.path``: ~ expanded, absolute, not resolved)."""
    return str(Path(path).expanduser().absolute())


class Precomputed:
    """An engine stand-in for the door: ``evaluate`` yields the stored result of each source (``path`` ->
    ``ScoreResult`` of one set of weights), checking first that the file still has the content scored."""

    batch_size = 256  # library transactions of this many rows
    spec = None

    def __init__(self, provenance: Provenance, results: dict[str, tuple[ScoreResult, str | None]]):
        self.provenance = provenance
        self.results = results  # absolute path -> (result, content hash)

    def evaluate(self, sources: Iterable[Any], *, progress: Any = None, **_: Any) -> Iterator[ScoreResult]:
        for source in sources:
            path = absolute(os.fsdecode(source))
            result, content_hash = self.results[path]
            if content_hash and _sha256(path) != content_hash:
                result = ScoreResult(
                    path,
                    error=f"{result.path}: changed since it was scored (its content hash differs); score it again",
                    error_kind="changed",
                    provenance=self.provenance,
                )
            else:
                result = replace(result, path=path, critiques=dict(result.critiques), status="scored")
            if progress:
                progress(1)
            yield result

    def critique(self, sources: Sequence[Any], attributes: Sequence[str], **_: Any) -> list[Any]:
        return []  # the door asks only when critiques are requested; an import never requests them


def import_results(
    library: Any, output: str | os.PathLike[str], *, category: str | None = None, progress: Any = None
) -> Iterator[ScoreResult]:
    """Every row of a batch ``output`` into ``library`` through the door, one result per row (``cached``
    where the library already held that score), grouped by the weights that produced them.

    Raises:
        InvalidValue: an unknown category. LibraryError: the database cannot be written.
    """
    from artimuse_core.library import ingest

    groups: dict[
        str, tuple[Provenance | None, dict[str, tuple[ScoreResult, str | None]], list[tuple[str, str, str]]]
    ] = defaultdict(lambda: (None, {}, []))
    for row in parts.iter_rows(output):
        result = parts.result_of(row)
        provenance, scored, problems = groups[row["model_key"]]
        if result.ok:
            scored[absolute(result.path)] = (result, row.get("content_hash"))
        else:
            problems.append((result.path, result.error_kind or "image", result.error or ""))
        if provenance is None and result.provenance is not None:
            groups[row["model_key"]] = (result.provenance, scored, problems)
    for provenance, scored, problems in groups.values():
        engine = Precomputed(provenance, scored) if provenance is not None else None
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
