"""The library: every score, critique, rating and error in one database (SQLite by default).

``Library`` reads and records; ``ingest`` is the one door from image files to library rows, used by the
CLI, the watcher, ComfyUI and Ray batch. Public methods take and return typed records (``records``): the
gallery's pages (``browse``), the user's decisions (``decisions``), the watcher's jobs. ``upkeep`` is what
``artimuse db`` runs by URL without opening a ``Library``: the schema's revision, upgrading, the migrations'
history, a check for damage.

This package's names (the imports of the ``TYPE_CHECKING`` block below) are the front ends' one way into
the library; its submodules are the core's own. Each name loads on first use (PEP 562, ``..exports``), so
``artimuse_core.library.search`` and friends import without SQLAlchemy's ORM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..exports import lazy_exports

if TYPE_CHECKING:
    from ..errors import LibraryError as LibraryError
    from ..stacks.best import StackMember as StackMember
    from ..stacks.best import StackRecord as StackRecord
    from .browse import MAX_PAGE as MAX_PAGE
    from .browse import RATING_FILTERS as RATING_FILTERS
    from .browse import SORTS as SORTS
    from .browse import GridItem as GridItem
    from .browse import GridPage as GridPage
    from .browse import ImageFile as ImageFile
    from .database import is_disk_full as is_disk_full
    from .decisions import DECISION_FILTERS as DECISION_FILTERS
    from .decisions import REJECT_SCORE as REJECT_SCORE
    from .decisions import Change as Change
    from .door import NOT_SAVED as NOT_SAVED
    from .door import critique_jobs as critique_jobs
    from .door import ingest as ingest
    from .library import Library as Library
    from .queries import parse_since as parse_since
    from .records import RATING_SOURCES as RATING_SOURCES
    from .records import STAR_SCORES as STAR_SCORES
    from .records import AdapterRecord as AdapterRecord
    from .records import CategoryStats as CategoryStats
    from .records import ErrorEntry as ErrorEntry
    from .records import EvaluationRecord as EvaluationRecord
    from .records import FileFacts as FileFacts
    from .records import ImageRecord as ImageRecord
    from .records import JobOptions as JobOptions
    from .records import JobRecord as JobRecord
    from .records import KnownFile as KnownFile
    from .records import LibraryStats as LibraryStats
    from .records import RatingRecord as RatingRecord
    from .records import ScoredFile as ScoredFile
    from .records import SearchHit as SearchHit
    from .records import file_facts as file_facts
    from .records import rating_sources as rating_sources
    from .records import stars_to_score as stars_to_score
    from .search import SEARCH_SYNTAX as SEARCH_SYNTAX
    from .stacks import RejectOutcome as RejectOutcome
    from .upkeep import check_database_at as check_database_at
    from .upkeep import database_revision as database_revision
    from .upkeep import migration_history as migration_history
    from .upkeep import upgrade_database as upgrade_database
else:
    __getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
