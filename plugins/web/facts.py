"""What a page shows of one image, built once for the gallery's pages and the HTML report: the current
evaluation, its distribution plot, the user's latest rating; and the template filters both use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from artimuse_core.paths import display_path

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


def stars_text(rating: float | None, stars: float | None = None) -> str:
    """The user's rating as pages show it: ★★★★☆, "rejected", or "" when unrated."""
    if rating is None:
        return ""
    if rating <= 0:
        return "rejected"
    count = round(stars if stars is not None else (rating + 10) / 20)
    return "★" * count + "☆" * (5 - count)


#: Jinja2 filters of every template.
FILTERS = {
    "display": display_path,
    "filename": lambda p: display_path(Path(p).name),
    "stars": stars_text,
}
