"""The gallery's filters: the query string of a page, checked, as ``Library.browse`` arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from artimuse_core import InvalidValue
from artimuse_core.library import RATING_FILTERS, SORTS, parse_since

#: The "since" choices the page offers (any ``parse_since`` text works in the URL).
SINCE_CHOICES = {"": "any time", "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days"}
RANK_CHOICES = {key: f"sort: {label}" for key, label in SORTS.items()}
RATING_CHOICES = {
    "": "any rating",
    "unrated": "unrated",
    "rated": "rated",
    "picked": "picked (P)",
    "rejected": "rejected (X)",
    **{s: f"{'★' * int(s)}{' or more' if s != '5' else ''}" for s in RATING_FILTERS if s.isdigit()},
}


#: How stacks show: folded behind their best ("", the default) or every picture ("all").
STACK_VIEWS = ("", "all")


@dataclass(frozen=True)
class GalleryQuery:
    """What a gallery URL asks for; ``browse_arguments()`` checks it and gives ``Library.browse``'s keywords."""

    rank: str = "mean"
    category: str = ""
    folder: str = ""
    model: str = ""
    adapter: str = ""
    since: str = ""
    min_score: str = ""
    rating: str = ""
    q: str = ""
    missing: str = ""  # "1": also files the library marked missing (hidden by default)
    stacks: str = ""  # "all": every picture of a stack shown (by default each stack folds behind its best)

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> GalleryQuery:
        """From a request's query parameters (unknown ones ignored, values stripped)."""
        return cls(**{name: params.get(name, default).strip() for name, default in asdict(cls()).items()})

    def browse_arguments(self) -> dict[str, Any]:
        """Keywords for ``Library.browse``.

        Raises:
            InvalidValue: a minimum score that is not a number in 0-100, a ``stacks`` other than "" or "all",
                or any value ``browse`` refuses.
        """
        if self.stacks not in STACK_VIEWS:
            raise InvalidValue(f"stacks must be one of {', '.join(map(repr, STACK_VIEWS))}, not {self.stacks[:40]!r}")
        minimum = None
        if self.min_score:
            try:
                minimum = float(self.min_score)
            except ValueError:
                raise InvalidValue(f"min_score must be a number from 0 to 100, not {self.min_score!r}") from None
            if not 0 <= minimum <= 100:
                raise InvalidValue(f"min_score must be between 0 and 100, not {minimum:g}")
        return {
            "rank": self.rank or "mean",
            "category": self.category or None,
            "folder": self.folder or None,
            "model": self.model or None,
            "adapter": self.adapter or None,
            "since": parse_since(self.since),
            "min_score": minimum,
            "rating": self.rating or None,
            "search": self.q or None,
            "include_missing": self.missing == "1",
        }

    @property
    def folded(self) -> bool:
        """Whether each stack shows as its best alone (the tiles carry their stack)."""
        return self.stacks != "all"

    def url_query(self, **extra: Any) -> str:
        """This query (non-default values only) plus ``extra`` as a URL query string."""
        values = {k: v for k, v in asdict(self).items() if v and not (k == "rank" and v == "mean")}
        return urlencode({**values, **{k: v for k, v in extra.items() if v is not None}})
