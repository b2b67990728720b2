"""The critique search language, and its translation into an SQLite FTS5 query.

The index (migration 0006) uses FTS5's porter tokenizer over unicode61, so words match their other forms;
every bare word is also a prefix. No SQLAlchemy here: the CLI shows ``SEARCH_SYNTAX`` in ``--help``.
"""

from __future__ import annotations

import re

from ..errors import InvalidValue

SEARCH_SYNTAX = (
    "Every word must appear. A word also finds the longer words it starts (dumm finds dummy) and other "
    'forms of the same word (line finds lines and lined; accents are ignored). "Quoted words" must appear '
    "together, in that order. OR between two terms finds either; -word leaves out the critiques that "
    "contain that word."
)


def fts_query(query: str) -> str:
    """The user's search (``SEARCH_SYNTAX``) as an FTS5 MATCH expression: every bare word a quoted prefix
    term (``"dumm"*``), quoted phrases kept, ``OR`` kept, ``-word`` as ``NOT``. Quotes inside terms are
    escaped, so no input is an FTS5 syntax error.

    Raises:
        InvalidValue: nothing to search for.
    """
    wanted: list[str] = []
    excluded: list[str] = []
    for phrase, word in re.findall(r'"([^"]*)"?|(\S+)', query):
        if phrase.strip():
            wanted.append('"' + phrase.strip().replace('"', '""') + '"')
        elif word == "OR":
            if wanted and wanted[-1] != "OR":
                wanted.append("OR")
        elif word.startswith("-") and len(word) > 1:
            excluded.append('"' + word[1:].replace('"', '""') + '"*')
        elif word and word != "-":
            wanted.append('"' + word.replace('"', '""') + '"*')
    while wanted and wanted[-1] == "OR":
        wanted.pop()
    if not wanted:
        raise InvalidValue(f"search {query!r}: give at least one word to look for")
    return " ".join(wanted) + "".join(f" NOT {term}" for term in excluded)
