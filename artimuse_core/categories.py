"""The five main categories of ArtiMuse-10K, their accepted spellings, and the multiple-choice question
the model answers to predict one (read from the option-letter logits, the same trick as Token As Score)."""

from __future__ import annotations

from typing import Literal, get_args

from .errors import InvalidValue

#: Where an image's category came from: ``option`` (given to the command, node or run), ``config`` (the deepest
#: configured folder holding it), ``library`` (what the library already held), ``user`` (set by hand),
#: ``predicted`` (the model's answer, with its probability).
CategorySource = Literal["option", "config", "library", "user", "predicted"]
CATEGORY_SOURCES: tuple[CategorySource, ...] = get_args(CategorySource)

CATEGORIES: dict[str, str] = {
    "photography": "Photography",
    "painting": "Painting & Calligraphy",
    "aigc": "AIGC",
    "3d": "3D Design",
    "graphic": "Graphic Design",
}
_ALIASES = {
    "photo": "photography",
    "photograph": "photography",
    "photos": "photography",
    "painting & calligraphy": "painting",
    "painting and calligraphy": "painting",
    "calligraphy": "painting",
    "art": "painting",
    "ai": "aigc",
    "ai-generated": "aigc",
    "generated": "aigc",
    "3d design": "3d",
    "3d-design": "3d",
    "render": "3d",
    "graphic design": "graphic",
    "graphic-design": "graphic",
    "design": "graphic",
}
OPTION_LETTERS = "ABCDE"


def normalise_category(text: str) -> str:
    """'Photography', 'photo', 'Painting & Calligraphy', '3D Design'... -> a category id.

    Raises:
        InvalidValue: not a category or an accepted spelling of one (the message lists the five).
    """
    key = text.strip().lower().replace("_", " ")
    if key in CATEGORIES:
        return key
    for cid, name in CATEGORIES.items():
        if key == name.lower():
            return cid
    if key in _ALIASES:
        return _ALIASES[key]
    raise InvalidValue(f"unknown category {text!r}; choose from: {', '.join(CATEGORIES)}")


def category_question() -> str:
    """InternVL's multiple-choice format (options on their own lines, "Answer with the option's letter from
    the given choices directly."), as InternVL's own evaluation prompts ask multiple-choice questions."""
    lines = ["Which category does this image belong to?"]
    lines += [f"{letter}. {name}" for letter, name in zip(OPTION_LETTERS, CATEGORIES.values())]
    lines.append("Answer with the option's letter from the given choices directly.")
    return "\n".join(lines)


CATEGORY_IDS = list(CATEGORIES)
