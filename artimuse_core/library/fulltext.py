"""Critique search on each database, through one function: the ids of the critiques matching a search
(``search.SEARCH_SYNTAX``), best match first.

- SQLite: the FTS5 index ``critiques_fts`` (porter over unicode61, migration 0006), ranked by bm25.
- PostgreSQL: ``to_tsvector`` over a GIN expression index (migration 0011) in the ``artimuse_search``
  configuration (``unaccent`` then Snowball English without stop words, like FTS5's porter: nothing is
  dropped), ranked by ``ts_rank``. ASCII punctuation is read as a space first, so that PostgreSQL's parser
  splits words where unicode61 does (``well-lit``, ``f/2.8``, ``a@b.c``) instead of keeping compound tokens.
- Other databases: every word as a case-insensitive substring (no index), in id order.

The same critiques match on SQLite and PostgreSQL (tests/test_postgres.py compares both on one fixture); the
two stemmers can differ on rare words (Porter and Snowball English are close cousins), and the rankings
differ (bm25, ts_rank), so the order of equally good matches may too.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, and_, column, false, func, literal_column, select, table

from ..errors import InvalidValue
from .search import fts_query, tsquery
from .tables import critiques

#: The PostgreSQL text search configuration (migration 0011 creates it).
PG_CONFIG = "artimuse_search"
#: The indexed expression, exactly as migration 0011's index has it (the planner only uses the index for
#: this very expression): constants, not parameters.
_PG_CONFIG_SQL: Any = literal_column(f"'{PG_CONFIG}'::regconfig")
_FTS5 = table("critiques_fts", column("rowid"), column("rank"))


def search_vector(text: Any) -> Any:
    """``to_tsvector('artimuse_search', regexp_replace(text, '[[:punct:]]+', ' ', 'g'))``."""
    spaced = func.regexp_replace(text, literal_column("'[[:punct:]]+'"), literal_column("' '"), literal_column("'g'"))
    return func.to_tsvector(_PG_CONFIG_SQL, spaced)


def matching_critiques(dialect: str, query: str, limit: int | None = None) -> Select | None:
    """A SELECT of one column, the ids of the critiques matching ``query``, best first (at most ``limit``);
    None when nothing can match (a search of punctuation only).

    Raises:
        InvalidValue: nothing to search for.
    """
    C = critiques.c
    found: Select
    if dialect == "sqlite":
        match = literal_column("critiques_fts").op("MATCH")(fts_query(query))
        found = select(_FTS5.c.rowid.label("id")).where(match).order_by(_FTS5.c.rank)
    elif dialect == "postgresql":
        text = tsquery(query)
        if text is None:
            return None
        wanted = func.to_tsquery(_PG_CONFIG_SQL, text)
        vector = search_vector(C.text)
        found = select(C.id).where(vector.op("@@")(wanted)).order_by(func.ts_rank(vector, wanted).desc(), C.id)
    else:
        words = re.findall(r"\w+", query)
        if not words:
            raise InvalidValue(f"search {query!r}: give at least one word to look for")
        found = select(C.id).where(and_(*[C.text.ilike(f"%{w}%") for w in words])).order_by(C.id)
    return found.limit(limit) if limit is not None else found


def matching_evaluations(dialect: str, query: str) -> Select:
    """A SELECT of the ids of the evaluations with a critique matching ``query`` (a subquery).

    Raises:
        InvalidValue: nothing to search for.
    """
    C = critiques.c
    found = matching_critiques(dialect, query)
    if found is None:
        return select(C.evaluation_id).where(false())
    return select(C.evaluation_id).where(C.id.in_(found.order_by(None).scalar_subquery()))
