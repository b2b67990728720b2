"""The critique search language, parsed once and rendered for each database's full-text index: an SQLite
FTS5 MATCH expression, a PostgreSQL ``to_tsquery`` text.

Both indexes stem words (SQLite: FTS5's porter tokenizer over unicode61, migration 0006; PostgreSQL: a
Snowball English dictionary behind ``unaccent``, migration 0011) and fold case and accents, so words match
their other forms; every bare word is also a prefix. No SQLAlchemy here: the CLI shows ``SEARCH_SYNTAX`` in
``--help``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidValue

SEARCH_SYNTAX = (
    "Every word must appear. A word also finds the longer words it starts (dumm finds dummy) and other "
    'forms of the same word (line finds lines and lined; accents are ignored). "Quoted words" must appear '
    "together, in that order. OR between two terms finds either; -word leaves out the critiques that "
    "contain that word."
)


@dataclass(frozen=True)
class Term:
    """One word (``prefix``: it also finds the longer words it starts) or one quoted phrase, as typed."""

    text: str
    prefix: bool

    @property
    def tokens(self) -> list[str]:
        """Its words as the indexes split them: runs of letters and digits (``well-lit`` is well, lit)."""
        return re.findall(r"[^\W_]+", self.text)


@dataclass(frozen=True)
class Search:
    """A parsed search: critiques matching every term of one of ``alternatives`` (OR between them) and
    none of ``excluded``."""

    alternatives: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...]


def parse_search(query: str) -> Search:
    """The user's search (``SEARCH_SYNTAX``): bare words, quoted phrases (an unclosed quote ends the
    query), ``OR`` between terms, ``-word`` exclusions.

    Raises:
        InvalidValue: nothing to search for.
    """
    groups: list[list[Term]] = [[]]
    excluded: list[Term] = []
    for phrase, word in re.findall(r'"([^"]*)"?|(\S+)', query):
        if phrase.strip():
            groups[-1].append(Term(phrase.strip(), prefix=False))
        elif word == "OR":
            if groups[-1]:
                groups.append([])
        elif word.startswith("-") and len(word) > 1:
            excluded.append(Term(word[1:], prefix=True))
        elif word and word != "-":
            groups[-1].append(Term(word, prefix=True))
    alternatives = tuple(tuple(group) for group in groups if group)
    if not alternatives:
        raise InvalidValue(f"search {query!r}: give at least one word to look for")
    return Search(alternatives, tuple(excluded))


def fts_query(query: str) -> str:
    """The search as an FTS5 MATCH expression: every bare word a quoted prefix term (``"dumm"*``), quoted
    phrases kept, ``OR`` kept, ``-word`` as ``NOT`` of everything before it. Quotes inside terms are
    escaped, so no input is an FTS5 syntax error.

    Raises:
        InvalidValue: nothing to search for.
    """
    search = parse_search(query)

    def term(t: Term) -> str:
        return '"' + t.text.replace('"', '""') + '"' + ("*" if t.prefix else "")

    wanted = " OR ".join(" ".join(term(t) for t in group) for group in search.alternatives)
    if not search.excluded:
        return wanted
    return f"({wanted})" + "".join(f" NOT {term(t)}" for t in search.excluded)


def tsquery(query: str) -> str | None:
    """The search as PostgreSQL ``to_tsquery`` text: a term's words in sequence (``<->``), the last one a
    prefix (``:*``) for a bare word, ``&`` within an alternative, ``|`` between them, ``& !`` for each
    exclusion. Words are runs of letters and digits, so no input is a tsquery syntax error. None when
    nothing can match (every alternative holds a term without a letter or digit: FTS5 matches nothing then).

    Raises:
        InvalidValue: nothing to search for.
    """
    search = parse_search(query)

    def term(t: Term) -> str | None:
        tokens = [f"'{token}'" for token in t.tokens]
        if not tokens:
            return None
        if t.prefix:
            tokens[-1] += ":*"
        return tokens[0] if len(tokens) == 1 else "(" + " <-> ".join(tokens) + ")"

    alternatives = []
    for group in search.alternatives:
        terms = [term(t) for t in group]
        if all(terms):
            alternatives.append(" & ".join(t for t in terms if t))
    if not alternatives:
        return None
    excluded = [t for t in map(term, search.excluded) if t]
    wanted = " | ".join(f"({a})" if len(alternatives) > 1 else a for a in alternatives)
    if not excluded:
        return wanted
    return f"({wanted})" + "".join(f" & !{t}" for t in excluded)
