"""Write a score into an image's XMP (sidecar by default) without destroying what the user wrote.

The ``artimuse:`` namespace is ours and mirrors the record given, as a whole. The shared properties
(``xmp:Rating``, ``xmp:Label``, ``dc:description``) are set only where empty or where they still hold what we
wrote last time (remembered in ``artimuse:WrittenRating``, ``WrittenLabel``, ``WrittenDescription``), unless
``overwrite_ratings`` (rating and label). Every other namespace and property is kept as it was.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..categories import normalise_category
from ..errors import InvalidValue, SidecarWriteError
from . import sidecars
from .mapping import StarScale, XmpSettings, score_keyword
from .packets import PREFIX, EmbeddedXmp, XmpPacket

OURS = f"Xmp.{PREFIX}."
RATING, LABEL, DESCRIPTION = "Xmp.xmp.Rating", "Xmp.xmp.Label", "Xmp.dc.description"
SUBJECT, HIERARCHICAL = "Xmp.dc.subject", "Xmp.lr.hierarchicalSubject"
#: Every property we write into the artimuse namespace (critiques add one ``Critique<Attribute>`` each).
PROPERTIES = (
    "Score",
    "Std",
    "LowerBound",
    "LowerBoundK",
    "Category",
    "Model",
    "ModelFingerprint",
    "Adapter",
    "EngineVersion",
    "ScoredAt",
    "SourceFile",
    "SuggestedRating",
    "RatingMapping",
    "WrittenRating",
    "WrittenLabel",
    "WrittenDescription",
)
EMBEDDABLE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".dng"}


def critique_property(attribute: str) -> str:
    """'Composition & Design' -> 'CritiqueCompositionAndDesign' (a valid XML name, one per attribute)."""
    words = re.findall(r"[A-Za-z0-9]+|&", attribute)
    name = "".join("And" if w == "&" else w[:1].upper() + w[1:] for w in words)
    if not name:
        raise InvalidValue(f"critique attribute {attribute!r} has no letters or digits")
    return "Critique" + name


@dataclass(frozen=True)
class ScoreFacts:
    """What the library knows about one image's current evaluation; plain values, no engine objects.

    ``score`` 0-100; ``std`` in score points; ``scored_at`` ISO 8601 (UTC); ``critiques`` attribute -> text
    (the eight ArtiMuse attributes, ``prompts.ATTRIBUTES``, or any subset).
    """

    score: float
    std: float | None = None
    category: str | None = None
    model: str | None = None
    fingerprint: str | None = None
    adapter: str | None = None
    engine_version: str | None = None
    scored_at: str | None = None
    critiques: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if not (isinstance(self.score, (int, float)) and 0 <= self.score <= 100):
            raise InvalidValue(f"score must be a number within 0-100, got {self.score!r}")
        if self.std is not None and not (isinstance(self.std, (int, float)) and self.std >= 0):
            raise InvalidValue(f"std must be a number of score points >= 0, got {self.std!r}")

    @classmethod
    def from_result(
        cls, result, critiques: Mapping[str, str] | None = None, scored_at: str | None = None
    ) -> ScoreFacts:
        """From a ``ScoreResult`` (its provenance gives model, fingerprint, adapter, engine version)."""
        if result.score is None:
            raise InvalidValue(f"{result.path}: no score to write ({getattr(result, 'error', None) or 'not scored'})")
        provenance = getattr(result, "provenance", None)
        return cls(
            score=result.score,
            std=result.std,
            category=getattr(result, "category", None),
            model=getattr(provenance, "model", None),
            fingerprint=getattr(provenance, "fingerprint", None),
            adapter=getattr(provenance, "adapter", None),
            engine_version=getattr(provenance, "engine_version", None),
            scored_at=scored_at,
            critiques=dict(critiques or getattr(result, "critiques", None) or {}),
        )


@dataclass(frozen=True)
class XmpWrite:
    """What ``write_xmp`` did to one image. ``status``: created, updated or unchanged."""

    image: str
    path: str  # the sidecar, or the image itself for embedded XMP
    style: str  # "lightroom" | "darktable" | "embedded"
    status: str
    rating: int | None  # xmp:Rating now in the file (None: none)
    suggested_rating: int  # what the mapping gives this score
    kept_user_rating: bool  # the user's own rating differed and was kept
    label: str | None
    kept_user_label: bool
    retries: int = 0

    def to_dict(self) -> dict:
        """JSON-ready, for ``--json`` output."""
        return asdict(self)


def _number(value: float) -> str:
    return f"{value:.2f}"


def _ours_to_replace(packet: XmpPacket, key: str, written_key: str, new: str, overwrite: bool) -> tuple[bool, bool]:
    """(write it, kept a user's value): empty, still what we wrote, or overwrite allowed."""
    current = packet.get(key)
    if current is None or current == "" or (key == RATING and current == "0"):
        return True, False
    if current == packet.get(written_key) or overwrite:
        return True, False
    return False, current != new


def merge_score(packet: XmpPacket, image: Path, facts: ScoreFacts, settings: XmpSettings, scale: StarScale) -> dict:
    """Put ``facts`` into ``packet`` following the rules in the module docstring; returns what was done."""
    stars = scale.stars(facts.score)
    written = {name: packet.get(OURS + "Written" + name) for name in ("Rating", "Label", "Description")}
    for key in packet.keys(OURS):
        packet.delete(key)
    values = {
        "Score": _number(facts.score),
        "Category": facts.category,
        "Model": facts.model,
        "ModelFingerprint": facts.fingerprint,
        "Adapter": facts.adapter,
        "EngineVersion": facts.engine_version,
        "ScoredAt": facts.scored_at,
        "SourceFile": image.name,
        "SuggestedRating": str(stars),
        "RatingMapping": scale.description,
    }
    if facts.std is not None:
        values.update(
            Std=_number(facts.std),
            LowerBound=_number(facts.score - settings.lower_bound_k * facts.std),
            LowerBoundK=f"{settings.lower_bound_k:g}",
        )
    for attribute, text in facts.critiques.items():
        values[critique_property(attribute)] = text
    for name, value in values.items():
        if value is not None:
            packet.set(OURS + name, value)
    for name, value in written.items():  # restore the bookkeeping before deciding
        if value is not None:
            packet.set(OURS + "Written" + name, value)

    outcome: dict[str, Any] = {
        "rating": None,
        "kept_user_rating": False,
        "label": None,
        "kept_user_label": False,
        "suggested_rating": stars,
    }
    write, kept = _ours_to_replace(packet, RATING, OURS + "WrittenRating", str(stars), settings.overwrite_ratings)
    if write:
        packet.set(RATING, str(stars))
        packet.set(OURS + "WrittenRating", str(stars))
    else:
        packet.delete(OURS + "WrittenRating")
    outcome["kept_user_rating"] = kept

    label = None
    if settings.label == "category" and facts.category:
        label = settings.category_labels.get(_category_id(facts.category))
    elif settings.label == "pick" and scale.is_pick(facts.score):
        label = settings.pick_label
    if label:
        write, kept = _ours_to_replace(packet, LABEL, OURS + "WrittenLabel", label, settings.overwrite_ratings)
        if write:
            packet.set(LABEL, label)
            packet.set(OURS + "WrittenLabel", label)
        else:
            packet.delete(OURS + "WrittenLabel")
        outcome["kept_user_label"] = kept
    elif settings.label and written["Label"] is not None and packet.get(LABEL) == written["Label"]:
        packet.delete(LABEL)  # our earlier label no longer applies (e.g. no longer a pick)
        packet.delete(OURS + "WrittenLabel")

    if settings.description:
        text = _description(facts, settings)
        write, _ = _ours_to_replace(packet, DESCRIPTION, OURS + "WrittenDescription", text, False)
        if write:
            packet.set_default_language(DESCRIPTION, text)
            packet.set(OURS + "WrittenDescription", text)
        else:
            packet.delete(OURS + "WrittenDescription")

    if settings.keywords:
        for key, separator in ((SUBJECT, "/"), (HIERARCHICAL, "|")):
            mine = "artimuse" + separator + "score" + separator
            items = [item for item in packet.get_items(key) if not item.startswith(mine)]
            packet.set_items(key, items + [score_keyword(facts.score, separator)])

    outcome["rating"] = _int_or_none(packet.get(RATING))
    outcome["label"] = packet.get(LABEL)
    return outcome


def _category_id(category: str) -> str:
    try:
        return normalise_category(category)
    except ValueError:
        return category


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(float(text)) if text not in (None, "") else None
    except ValueError:
        return None


def _description(facts: ScoreFacts, settings: XmpSettings) -> str:
    parts = [f"ArtiMuse aesthetic score {facts.score:.1f}/100"]
    if facts.std is not None:
        parts[0] += f" (± {facts.std:.1f})"
    if facts.category:
        parts.append(facts.category)
    summary = next(
        (facts.critiques[a] for a in ("Comprehensive Evaluation", "Overall Gestalt") if a in facts.critiques), None
    )
    return ". ".join(parts) + (f". {summary}" if summary else "")


def write_xmp(
    image: str | os.PathLike, facts: ScoreFacts, settings: XmpSettings | None = None, *, scale: StarScale | None = None
) -> XmpWrite:
    """Create or update the XMP of ``image`` with ``facts``; see the module docstring for what is kept.

    ``scale``: the star cut points, from ``settings.rating.scale(folder_scores)``; needed for percentile
    ratings, defaults to the fixed thresholds. ``settings.target == "embedded"`` writes into the JPEG/TIFF/DNG
    itself (never done otherwise). Returns an ``XmpWrite``. Raises ``InvalidSidecar`` (existing sidecar or
    embedded packet not valid XMP: left untouched), ``SidecarWriteError`` (read-only folder, permissions,
    missing image), ``SidecarConflict`` (another program kept changing it), ``MetadataUnreadable`` (embedded
    target that exiv2 cannot open), ``InvalidValue`` (percentile mapping without ``scale``).
    """
    settings = settings or XmpSettings()
    image = Path(image)
    if not image.is_file():
        raise SidecarWriteError(image, "the image is not there (a sidecar needs its image)")
    scale = scale or settings.rating.scale()
    outcome: dict = {}

    if settings.target == "embedded":
        if image.suffix.lower() not in EMBEDDABLE_SUFFIXES:
            raise SidecarWriteError(image, "XMP is embedded only into JPEG, TIFF or DNG files")

        def edit(data: bytes | None) -> bytes | None:
            embedded = EmbeddedXmp(data or b"", image)
            before = embedded.packet.snapshot()
            outcome.update(merge_score(embedded.packet, image, facts, settings, scale))
            return None if embedded.packet.snapshot() == before else embedded.serialize()

        target, style = image, "embedded"
        status, retries = sidecars.replace_file(
            image, edit, retries=settings.retries, compare_content=False, expect_existing=True
        )
    else:
        sidecar = sidecars.choose_sidecar(image, settings.naming)

        def edit(data: bytes | None) -> bytes | None:
            packet = XmpPacket.new() if data is None else XmpPacket.parse_sidecar(data, sidecar.path)
            before = None if data is None else packet.snapshot()
            outcome.update(merge_score(packet, image, facts, settings, scale))
            return None if packet.snapshot() == before else packet.serialize()

        target, style = sidecar.path, sidecar.style
        status, retries = sidecars.replace_file(
            target, edit, retries=settings.retries, new_mode=image.stat().st_mode & 0o666
        )
    return XmpWrite(image=str(image), path=str(target), style=style, status=status, retries=retries, **outcome)
