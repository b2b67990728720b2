"""Alembic migrations of the ArtiMuse library database (installed as ``artimuse_migrations``)."""

from pathlib import Path

SCRIPT_LOCATION = str(Path(__file__).resolve().parent)
