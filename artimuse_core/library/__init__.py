"""The library: every score, critique, rating and error in one database (SQLite by default)."""

from .api import STAR_SCORES, FileFacts, Library, file_facts, parse_since, stars_to_score
from .database import LibraryError

__all__ = ["Library", "LibraryError", "FileFacts", "file_facts", "parse_since", "stars_to_score", "STAR_SCORES"]
