"""The pack's only write to the ArtiMuse library: saved PNGs with their scores and critiques."""

from __future__ import annotations

from dataclasses import replace


def record_in_library(paths, results, critiques, category: str | None) -> None:
    """Record each saved file's result (and critiques) in the user's library.

    Category, by the library's rule: the node's ``category`` when the user chose one; else the deepest
    configured folder that holds the file; else the model's prediction carried on the result (if any).
    """
    from artimuse_core.categories import normalise_category
    from artimuse_core.library import Library, file_facts

    library = Library()
    fixed = normalise_category(category) if category else None
    items = []
    for path, result, texts in zip(paths, results, critiques):
        facts = file_facts(path)
        configured = None if fixed else library.config.category_for(facts.path)
        if fixed or configured:
            chosen = (fixed or configured, "option" if fixed else "config", None)
        elif result.category:
            chosen = (result.category, "predicted", result.category_probability)
        else:
            chosen = (None, None, None)
        items.append((facts, replace(result, path=str(path)), *chosen, texts or None))
    library.record_scores(items)
