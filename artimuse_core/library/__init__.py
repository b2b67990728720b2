"""The library: every score, critique, rating and error in one database (SQLite by default).

``Library`` reads and records; ``ingest`` is the one door from image files to library rows, used by the
CLI, the watcher and ComfyUI. Public methods take and return typed records (``records``). Names load on
first use (PEP 562), so ``artimuse_core.library.search`` and friends import without SQLAlchemy's ORM.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Library": "library",
    "ingest": "door",
    "critique_jobs": "door",
    "parse_since": "queries",
    "SEARCH_SYNTAX": "search",
    "STAR_SCORES": "records",
    "stars_to_score": "records",
    "RATING_SOURCES": "records",
    "rating_sources": "records",
    "LibraryError": "..errors",
    **{name: "browse" for name in ("GridItem", "GridPage", "ImageFile", "RATING_FILTERS", "SORTS")},
    **{name: "decisions" for name in ("Change", "DECISION_FILTERS", "REJECT_SCORE")},
    **{
        name: "records"
        for name in (
            "AdapterRecord",
            "CategoryStats",
            "ErrorEntry",
            "EvaluationRecord",
            "FileFacts",
            "ImageRecord",
            "JobOptions",
            "JobRecord",
            "KnownFile",
            "LibraryStats",
            "RatingRecord",
            "ScoredFile",
            "SearchHit",
            "file_facts",
        )
    },
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'artimuse_core.library' has no attribute {name!r}")
    value = getattr(importlib.import_module(("." if not module.startswith(".") else "") + module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
