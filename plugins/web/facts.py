"""What a page shows of one image, built once for the gallery's pages and the HTML report: the current
evaluation, its distribution plot, the user's latest rating; and the template filters both use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from artimuse_core import display_path

from .plots import distribution_svg


def image_view(image_id: int, record: Any, reason: str | None) -> dict[str, Any]:
    """The template context for one image: ``record`` is the library's ``ImageRecord``; ``reason`` why its
    file cannot be shown (None when it can)."""
    current = [e for e in record.evaluations if e.current] or record.evaluations[:1]
    main = current[0] if current else None
    return {
        "id": image_id,
        "record": record,
        "reason": reason,
        "evaluation": main,
        "current": current,
        "plot": distribution_svg(main.distribution, main.score, main.std) if main else "",
        "rating": record.ratings[0] if record.ratings else None,
    }


def stars_text(rating: float | None, stars: float | None = None, picked: bool = False, rejected: bool = False) -> str:
    """The user's decision as pages show it: ★★★★☆, "★★★★☆ ⚑ pick", "⚑ pick", "rejected", or "" when none."""
    if rejected:
        return "rejected"
    text = ""
    if rating is not None:
        count = min(5, max(0, round(stars if stars is not None else (rating + 10) / 20)))
        text = "★" * count + "☆" * (5 - count)
    return f"{text} ⚑ pick".strip() if picked else text


def decision_of(item: Any) -> str:
    """``stars_text`` of a grid item or a ``RatingRecord`` (None: no decision)."""
    if item is None:
        return ""
    rating = getattr(item, "rating", getattr(item, "score", None))
    return stars_text(rating, item.stars, bool(getattr(item, "picked", False)), bool(getattr(item, "rejected", False)))


#: Jinja2 filters of every template.
FILTERS = {
    "display": display_path,
    "filename": lambda p: display_path(Path(p).name),
    "stars": stars_text,
    "decision": decision_of,
}
