"""The XMP settings, declared once: what ``artimuse xmp write``, ``score --xmp`` and ``watch --xmp`` write.

Each ``Setting`` here (same declaration type as the engine's ``spec.SETTINGS``) is a key of ``config.toml``,
an ``ARTIMUSE_<NAME>`` environment variable (``ARTIMUSE_XMP_NAMING=lightroom``) and a generated command-line
option (``--xmp-naming``); ``Config.xmp`` holds the resolved values and ``xmp_settings`` turns them into the
``XmpSettings`` that ``write_xmp`` takes. Nothing else writes a default or a help text for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidValue
from ..settings import Kind, Setting
from .mapping import RatingMapping, XmpSettings


def _xmp(name: str, kind: Kind, default: Any, help: str, **extra: Any) -> Setting:
    """One XMP setting (stage ``xmp``)."""
    return Setting(name, kind, default, help, stage="xmp", **extra)


XMP_SETTINGS: tuple[Setting, ...] = (
    _xmp(
        "xmp_naming",
        "choice",
        "darktable",
        "Sidecar names: darktable (IMG_1.CR2.xmp: darktable, digiKam) or lightroom (IMG_1.xmp: Lightroom, "
        "Capture One). An existing sidecar in either style is updated where it is.",
        choices=("darktable", "lightroom"),
    ),
    _xmp(
        "xmp_target",
        "choice",
        "sidecar",
        "sidecar (default), or embedded: into the JPEG/TIFF/DNG itself (rewrites the original file).",
        choices=("sidecar", "embedded"),
    ),
    _xmp(
        "xmp_rating",
        "choice",
        "yours-or-model",
        "What xmp:Rating holds: yours (your own stars from the gallery, `artimuse rate` or an import; -1 for a "
        "reject) and nothing where you gave none, or yours-or-model (the model's stars where you gave none). The "
        "model's suggestion is always in artimuse:SuggestedRating.",
        choices=("yours", "yours-or-model"),
    ),
    _xmp(
        "rating_mode",
        "choice",
        "thresholds",
        "How scores become stars: thresholds (fixed scores) or percentiles (of the folder's or the run's scores, "
        "so the best 10% get 5 stars whatever the model's scale).",
        choices=("thresholds", "percentiles"),
    ),
    _xmp(
        "rating_scope",
        "choice",
        "folder",
        "With percentiles: the scores of each folder in the library (folder) or of all images named in the "
        "command (collection).",
        choices=("folder", "collection"),
    ),
    _xmp(
        "rating_cuts",
        "floats",
        None,
        "Four rising cut points for 2, 3, 4 and 5 stars, in the mode's units (default 20,40,60,80 scores; "
        "10,30,70,90 percentiles).",
        min=0,
        max=100,
        optional=True,
        metavar="C2,C3,C4,C5",
    ),
    _xmp(
        "reject_below",
        "float",
        None,
        "Write -1 (reject) below this score (or percentile). Default: never reject.",
        min=0,
        max=100,
        optional=True,
        metavar="SCORE",
    ),
    _xmp(
        "pick_at",
        "float",
        None,
        "A pick at or above this score (or percentile): the xmp_label 'pick' colour.",
        min=0,
        max=100,
        optional=True,
        metavar="SCORE",
    ),
    _xmp(
        "xmp_label",
        "choice",
        "none",
        "The model's colour label (xmp:Label) where you picked nothing: none, category (the category_labels "
        "colours) or pick (the pick_label at or above pick_at). Your own picks always get the pick_label.",
        choices=("none", "category", "pick"),
    ),
    _xmp(
        "pick_label",
        "str",
        "Green",
        "The colour label (xmp:Label) a pick gets: yours (P in the gallery, `artimuse rate --pick`) and the "
        "model's (xmp_label pick). `ratings import` reads this label back as a pick.",
    ),
    _xmp(
        "category_labels",
        "str",
        "photography=Blue,painting=Purple,aigc=Yellow,3d=Green,graphic=Red",
        "The colour label of each category for xmp_label category, as category=Label pairs (Lightroom's labels "
        "are Red, Yellow, Green, Blue, Purple).",
        metavar="CATEGORY=LABEL,...",
    ),
    _xmp(
        "xmp_stack_rest",
        "choice",
        "none",
        "The rest of each stack (every member but its best: `artimuse stacks`) where you decided nothing: none "
        "(written as any other picture), reject (xmp:Rating -1) or label (xmp:Label stack_label). Only when set: "
        "never by default.",
        choices=("none", "reject", "label"),
    ),
    _xmp(
        "stack_label",
        "str",
        "Purple",
        "The colour label (xmp:Label) the rest of a stack gets with xmp_stack_rest label.",
    ),
    _xmp("xmp_description", "bool", False, "Also write dc:description (score, category, summary critique)."),
    _xmp("xmp_keywords", "bool", False, "Also add the keyword artimuse/score/80-89 (for keyword-only tools)."),
    _xmp(
        "overwrite_ratings",
        "bool",
        False,
        "Replace a rating or colour label the user set (by default only empty ones and our own are replaced).",
    ),
)
_BY_NAME = {s.name: s for s in XMP_SETTINGS}
XMP_SETTING_NAMES = tuple(_BY_NAME)


def xmp_setting_named(name: str) -> Setting:
    """The declaration of one XMP setting.

    Raises:
        InvalidValue: no XMP setting has that name.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InvalidValue(f"unknown setting {name!r} (known: {', '.join(_BY_NAME)})") from None


def xmp_defaults() -> dict[str, Any]:
    """{setting: declared default} for every XMP setting."""
    return {s.name: s.default for s in XMP_SETTINGS}


def checked_xmp_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults with ``values`` on top, each checked by its declaration.

    Raises:
        InvalidValue: an unknown setting or a bad value (the message names the setting).
    """
    merged = xmp_defaults()
    for name, value in values.items():
        merged[name] = xmp_setting_named(name).check(value)
    return merged


def xmp_settings(values: Mapping[str, Any] | None = None) -> XmpSettings:
    """The ``XmpSettings`` for these setting values (missing ones take their declared defaults).

    Raises:
        InvalidValue: a bad value, or values that do not fit together (rising cuts, xmp_label 'pick'
            without pick_at); the message names the settings.
    """
    v = checked_xmp_values(values or {})
    rating = RatingMapping(
        mode=v["rating_mode"], cuts=v["rating_cuts"], reject_below=v["reject_below"], pick_at=v["pick_at"]
    )
    return XmpSettings(
        naming=v["xmp_naming"],
        target=v["xmp_target"],
        rating=rating,
        overwrite_ratings=v["overwrite_ratings"],
        label=None if v["xmp_label"] == "none" else v["xmp_label"],
        category_labels=category_labels(v["category_labels"]),
        pick_label=_label(v["pick_label"], "pick_label"),
        stack_rest=None if v["xmp_stack_rest"] == "none" else v["xmp_stack_rest"],
        stack_label=_label(v["stack_label"], "stack_label"),
        model_stars=v["xmp_rating"] == "yours-or-model",
        description=v["xmp_description"],
        keywords=v["xmp_keywords"],
    )


def category_labels(text: str) -> dict[str, str]:
    """``"photography=Blue,aigc=Yellow"`` -> {category id: label}.

    Raises:
        InvalidValue: not category=Label pairs, or an unknown category (the message names the setting).
    """
    from ..categories import normalise_category

    labels: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        category, sep, label = pair.partition("=")
        if not sep:
            raise InvalidValue(f"category_labels must be category=Label pairs, not {pair!r}")
        try:
            labels[normalise_category(category.strip())] = _label(label, "category_labels")
        except ValueError as exc:
            raise InvalidValue(f"category_labels: {exc}") from None
    return labels


def _label(text: str, setting: str) -> str:
    label = text.strip()
    if not label or any(c in label for c in '<>&"\n'):
        raise InvalidValue(f"{setting} must be a label name such as Green, not {text!r}")
    return label


__all__ = [
    "XMP_SETTINGS",
    "XMP_SETTING_NAMES",
    "category_labels",
    "checked_xmp_values",
    "xmp_defaults",
    "xmp_setting_named",
    "xmp_settings",
]
