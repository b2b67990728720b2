"""The ``Library`` class: one database of images, evaluations, critiques, ratings, errors, jobs and adapters.

It is assembled from one module per job: ``session`` (connection, transactions), ``writes`` (recording),
``decisions`` (the user's stars, picks, rejects), ``moves`` (following renamed, moved and deleted files),
``jobs`` (the watcher's queue), ``queries``
(reading), ``listings`` (errors, ratings, adapters), ``browse`` (the gallery's pages, by image id) and
``stacks`` (near-duplicates and bursts, the best of each).
Scores enter through one door, ``door.ingest(engine, library, files)``, which uses this class and is not
used by it.
"""

from __future__ import annotations

from .browse import Browse
from .decisions import Decisions
from .jobs import Jobs
from .listings import Listings
from .moves import Moves
from .queries import Queries
from .stacks import Stacks
from .writes import Writes


class Library(Writes, Decisions, Moves, Jobs, Queries, Listings, Browse, Stacks):
    """One library database (SQLite by default: ``library.db`` in the ArtiMuse home, or the config's
    ``database_url``). ``Library()`` opens the configured one; ``Library.at(path)`` a file.

    Raises:
        LibraryError: the database is newer than this version, not an ArtiMuse library, or unusable.
    """
