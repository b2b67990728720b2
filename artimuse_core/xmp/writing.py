"""Write a score, and the user's own decisions, into an image's XMP (sidecar by default) without destroying
what the user wrote in their photo manager.

The ``artimuse:`` namespace is ours and mirrors the record given, as a whole (score, std, category, model,
critiques). ``xmp:Rating`` holds the user's own decision where there is one (their stars; ``-1`` for a
reject, Lightroom's convention), else the model's stars when ``model_stars``; ``xmp:Label`` the pick label
for the user's pick, else the model's label when asked. A shared property (``xmp:Rating``, ``xmp:Label``,
``dc:description``) is set only where it is empty, where it still holds what we wrote last time (remembered
in ``artimuse:WrittenRating``, ``WrittenLabel``, ``WrittenDescription``), where the user's decision in the
library is newer than the sidecar (they decided again after the photo manager's change), or with
``overwrite_ratings`` (rating and label): a rating set in the photo manager since is never overwritten.
``artimuse:RatingSource`` says whose rating we wrote (``model``, or the library decision's source such as
``user``), so ``ratings import`` takes the user's back and never the model's. Every other namespace and
property is kept as it was.
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
    "RatingSource",
    "LabelSource",
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
class UserDecision:
    """The user's own latest decision on an image (the library's ``RatingRecord``): ``stars`` 1-5 (None: no
    stars), ``picked``, ``rejected``, ``at`` (when, seconds since the epoch) and ``source`` (``user``, or the
    photo manager it was imported from)."""

    stars: int | None = None
    picked: bool = False
    rejected: bool = False
    at: float = 0.0
    source: str = "user"

    @classmethod
    def from_rating(cls, rating: Any) -> UserDecision:
        """From a ``RatingRecord``: stars rounded half up (a score without stars by score = stars x 20 - 10)."""
        from datetime import datetime

        stars = (
            rating.stars if rating.stars is not None else (None if rating.score is None else (rating.score + 10) / 20)
        )
        whole = None if stars is None or rating.rejected else min(5, max(1, int(stars + 0.5)))
        at = datetime.fromisoformat(rating.created_at).timestamp()
        return cls(whole, bool(rating.picked), bool(rating.rejected), at, rating.source)


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
    decision: UserDecision | None = None
    stack_rest: bool = False

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
    kept_user_rating: bool  # the photo manager's rating differed and was kept
    label: str | None
    kept_user_label: bool
    retries: int = 0
    rating_from: str | None = None  # whose rating xmp:Rating holds: "yours", "model", or None (kept or none)

    def to_dict(self) -> dict:
        """JSON-ready, for ``--json`` output."""
        return asdict(self)


def _number(value: float) -> str:
    return f"{value:.2f}"


def _ours_to_replace(
    packet: XmpPacket, key: str, written_key: str, new: str, overwrite: bool, newer: bool = False
) -> tuple[bool, bool]:
    """(write it, kept a user's value): empty, still what we wrote, the user's newer decision, or overwrite."""
    current = packet.get(key)
    if current is None or current == "" or (key == RATING and current == "0"):
        return True, False
    if current == packet.get(written_key) or overwrite or newer:
        return True, False
    return False, current != new


def _set_shared(
    packet: XmpPacket, key: str, name: str, value: str | None, source: str | None, overwrite: bool, newer: bool
) -> bool:
    """Set ``xmp:Rating``/``xmp:Label`` (``name``: Rating, Label) to ``value`` by the module's rules and record
    it as ours (``Written<name>``, ``<name>Source``); ``value`` None takes our own earlier value away. Returns
    whether a value of the user's was kept."""
    written, origin = OURS + "Written" + name, OURS + name + "Source"
    if value is None:
        if packet.get(written) is not None and packet.get(key) == packet.get(written):
            packet.delete(key)  # ours no longer applies (a clear, an unpick, no longer a pick)
        packet.delete(written)
        packet.delete(origin)
        return False
    write, kept = _ours_to_replace(packet, key, written, value, overwrite, newer)
    if write:
        packet.set(key, value)
        packet.set(written, value)
        packet.set(origin, source or "model")
    else:
        packet.delete(written)
        packet.delete(origin)
    return kept


def merge_score(
    packet: XmpPacket, image: Path, facts: ScoreFacts, settings: XmpSettings, scale: StarScale, changed_at: float = 0.0
) -> dict:
    """Put ``facts`` into ``packet`` following the rules in the module docstring; ``changed_at``: when the
    sidecar (or embedding image) was last changed (seconds since the epoch; 0: new). Returns what was done."""
    stars = scale.stars(facts.score)
    written = {name: packet.get(OURS + "Written" + name) for name in ("Rating", "Label", "Description")}
    sources = {name: packet.get(OURS + name + "Source") for name in ("Rating", "Label")}
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
    for name, value in sources.items():
        if value is not None:
            packet.set(OURS + name + "Source", value)

    outcome: dict[str, Any] = {
        "rating": None,
        "kept_user_rating": False,
        "label": None,
        "kept_user_label": False,
        "suggested_rating": stars,
        "rating_from": None,
    }
    user = facts.decision
    newer = user is not None and user.at > changed_at  # decided in ArtiMuse after the sidecar last changed
    overwrite = settings.overwrite_ratings
    rest = facts.stack_rest and user is None  # the model's rest of a stack, written only when asked
    if user is not None and (user.rejected or user.stars is not None):
        rating, origin = ("-1" if user.rejected else str(user.stars)), user.source
    elif rest and settings.stack_rest == "reject":
        rating, origin, newer = "-1", "stack", False
    elif settings.model_stars:
        rating, origin, newer = str(stars), "model", False
    else:
        rating, origin = None, None
    outcome["kept_user_rating"] = _set_shared(packet, RATING, "Rating", rating, origin, overwrite, newer)
    if rating is not None and packet.get(OURS + "WrittenRating") == rating:
        outcome["rating_from"] = "model" if origin == "model" else "yours"

    label, label_from, label_newer = None, None, False
    if user is not None and user.picked:
        label, label_from, label_newer = settings.pick_label, user.source, newer  # the user's pick, from their source
    elif rest and settings.stack_rest == "label":
        label, label_from = settings.stack_label, "stack"
    elif settings.label == "category" and facts.category:
        label, label_from = settings.category_labels.get(_category_id(facts.category)), "category"
    elif settings.label == "pick" and user is None and scale.is_pick(facts.score):
        label, label_from = settings.pick_label, "model"
    if label or settings.label or settings.stack_rest or written["Label"] is not None:
        outcome["kept_user_label"] = _set_shared(packet, LABEL, "Label", label, label_from, overwrite, label_newer)

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


def _changed_at(path: Path) -> float:
    """When a file was last changed (seconds since the epoch; 0 when it is not there)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


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
            outcome.update(merge_score(embedded.packet, image, facts, settings, scale, _changed_at(image)))
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
            changed_at = 0.0 if data is None else _changed_at(sidecar.path)
            outcome.update(merge_score(packet, image, facts, settings, scale, changed_at))
            return None if packet.snapshot() == before else packet.serialize()

        target, style = sidecar.path, sidecar.style
        status, retries = sidecars.replace_file(
            target, edit, retries=settings.retries, new_mode=image.stat().st_mode & 0o666
        )
    return XmpWrite(image=str(image), path=str(target), style=style, status=status, retries=retries, **outcome)
