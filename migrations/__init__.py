"""Alembic migrations of the library database: the repository's top-level ``migrations/`` folder (Alembic's
own layout: ``env.py``, ``script.py.mako``, ``versions/``), installed as ``artimuse_core.library.migrations``
inside the package it migrates (``package-dir`` in pyproject.toml).

``HEAD`` is the newest revision, declared here so that opening an up-to-date library reads one row
(``alembic_version``) with plain SQL and never imports Alembic; a test checks it against the scripts.
"""

from pathlib import Path

SCRIPT_LOCATION = str(Path(__file__).resolve().parent)
HEAD = "0015"
