"""Alembic migrations of the library database, inside the package they migrate (like llm's migrations).

``HEAD`` is the newest revision, declared here so that opening an up-to-date library reads one row
(``alembic_version``) with plain SQL and never imports Alembic; a test checks it against the scripts.
"""

from pathlib import Path

SCRIPT_LOCATION = str(Path(__file__).resolve().parent)
HEAD = "0013"
