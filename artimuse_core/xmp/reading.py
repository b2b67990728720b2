"""Read the stars users already gave: sidecars (both naming styles), embedded XMP, then EXIF.

The first source that holds a rating decides, in this order: the sidecars (``naming``'s style first), the
XMP embedded in the image, the image's EXIF ``Rating`` (``RatingPercent`` as Windows writes it). So a RAW
with a sidecar is rated by its sidecar. Stars become 0-100 scores through the library's documented mapping
(``artimuse_core.library.STAR_SCORES``: score = stars x 20 - 10).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import MetadataUnreadable, XmpError
from ..library.records import RATING_SOURCES
from .packets import PREFIX, XmpPacket, read_image_metadata
from .sidecars import find_sidecars

#: darktable's ``darktable:colorlabels`` numbers, in Lightroom's label names.
DARKTABLE_LABELS = {"0": "Red", "1": "Yellow", "2": "Green", "3": "Blue", "4": "Purple"}
#: Windows' EXIF ``RatingPercent`` for 1..5 stars.
WINDOWS_PERCENT = {1: 1, 2: 25, 3: 50, 4: 75, 5: 99}


@dataclass(frozen=True)
class RatingRecord:
    """One image's rating as its photo manager left it.

    ``status``: ``rated`` (``stars`` 0.5-5 and ``score`` 0-100 set), ``rejected`` (``xmp:Rating`` -1 or a
    reject pick flag), ``picked`` (a pick without stars), ``unrated``, ``ours`` (the rating is the model's,
    written by ArtiMuse, so it is not the user's and must not train the model) or ``failed`` (``reason`` says
    why, ``error_kind`` as ``XmpError.kind``).
    ``source``: ``xmp:lightroom``, ``xmp:darktable`` (the sidecar's naming style), ``xmp:embedded`` or ``exif``,
    or, for the user's own decision that ``xmp write`` wrote, the source it had in the library (``user``...);
    ``origin`` the file it was read from; ``picked``: a pick flag (digiKam, Photo Mechanic, the pick label).
    """

    image: str
    status: str
    stars: float | None = None
    score: float | None = None
    source: str | None = None
    origin: str | None = None
    label: str | None = None
    picked: bool = False
    reason: str | None = None
    error_kind: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready, for ``--json`` output."""
        return asdict(self)


class _Fields:
    """One metadata source seen as get / get_items, over a parsed packet or exiv2's key -> value dict."""

    def __init__(self, values: dict | XmpPacket):
        self._values = values

    def get(self, key: str) -> str | None:
        if isinstance(self._values, XmpPacket):
            return self._values.get(key)
        value = self._values.get(key)
        return ", ".join(value) if isinstance(value, list) else value

    def items(self, key: str) -> list[str]:
        if isinstance(self._values, XmpPacket):
            return self._values.get_items(key)
        value = self._values.get(key)
        return value if isinstance(value, list) else ([] if value is None else [value])


def _from_xmp(
    fields: _Fields, image: str, source: str, origin: str, pick_label: str | None = None
) -> RatingRecord | None:
    """A record when this source holds a rating, a reject or a pick; None to look further. ``pick_label``: the
    colour label that means a pick (the ``pick_label`` setting), unless it is a label ArtiMuse gave for a
    category or a model's pick."""
    ours = f"Xmp.{PREFIX}."
    label = fields.get("Xmp.xmp.Label") or next(
        (DARKTABLE_LABELS[i] for i in fields.items("Xmp.darktable.colorlabels") if i in DARKTABLE_LABELS), None
    )
    model_label = label == fields.get(ours + "WrittenLabel") and fields.get(ours + "LabelSource") in (
        "category",
        "model",
        "stack",  # the rest of a stack (xmp_stack_rest label): the model's grouping, not a pick
    )
    pick = (fields.get("Xmp.digiKam.PickLabel") or "").strip()
    picked_for = fields.get(ours + "LabelSource") if label and label == fields.get(ours + "WrittenLabel") else None
    picked = (
        pick == "3"
        or (fields.get("Xmp.photomechanic.Tagged") or "").strip().lower() in ("true", "yes", "1")
        or (pick_label is not None and label == pick_label and not model_label)
        or picked_for in RATING_SOURCES  # the user's own pick that `xmp write` wrote, whatever its colour
    )
    common: dict[str, Any] = {"image": image, "source": source, "origin": origin, "label": label, "picked": picked}
    if picked_for in RATING_SOURCES:
        common["source"] = picked_for  # taken back with the source it had in the library
    text = (fields.get("Xmp.xmp.Rating") or "").strip()
    if text:
        try:
            stars = float(text)
        except ValueError:
            return RatingRecord(status="unrated", reason=f"xmp:Rating {text!r} is not a number", **common)
        if text == fields.get(ours + "WrittenRating"):
            written_for = fields.get(ours + "RatingSource")
            if written_for not in RATING_SOURCES:  # the model's stars (or an older sidecar's): not the user's
                if picked:
                    return RatingRecord(status="picked", **common)
                return RatingRecord(status="ours", stars=stars, reason="the rating was written by ArtiMuse", **common)
            common["source"] = written_for  # the user's own decision that `xmp write` wrote: taken back as it was
        if stars == -1:
            return RatingRecord(status="rejected", stars=-1, **common)
        if 0.5 <= stars <= 5:
            return _rated(stars, common)
        if stars != 0:
            return RatingRecord(status="unrated", reason=f"xmp:Rating {text} is outside -1..5", **common)
    if pick == "1":
        return RatingRecord(status="rejected", reason="digiKam pick label: rejected", **common)
    if picked:
        return RatingRecord(status="picked", **common)
    return None


def _rated(stars: float, common: dict[str, Any]) -> RatingRecord:
    from ..library.records import stars_to_score  # the library's documented mapping (STAR_SCORES)

    return RatingRecord(status="rated", stars=stars, score=stars_to_score(stars), **common)


def _from_exif(exif: dict, image: str) -> RatingRecord | None:
    common = {"image": image, "source": "exif", "origin": image}
    try:
        stars = float(exif.get("Exif.Image.Rating", "0") or 0)
        percent = float(exif.get("Exif.Image.RatingPercent", "0") or 0)
    except ValueError:
        return None
    if stars == 0 and percent > 0:
        stars = min(WINDOWS_PERCENT, key=lambda s: abs(WINDOWS_PERCENT[s] - percent))
    return _rated(stars, common) if 1 <= stars <= 5 else None


def read_rating(
    image: str | os.PathLike,
    *,
    prefer: str = "darktable",
    embedded: bool = True,
    exif: bool = True,
    pick_label: str | None = None,
) -> RatingRecord:
    """The rating of one image (see the module docstring for the order of sources).

    Returns a ``RatingRecord`` (``unrated`` with a reason when no source holds one). Raises
    ``InvalidSidecar`` for a sidecar that is not valid XMP (it is never skipped silently: the user's
    photo manager wrote it) and ``MetadataUnreadable`` when the image has no sidecar and exiv2 cannot read
    it (missing, empty, not an image).
    """
    image = Path(image)
    name = str(image)
    found = find_sidecars(image, prefer=prefer)
    for sidecar in found:
        try:
            data = sidecar.path.read_bytes()
        except OSError as exc:
            raise MetadataUnreadable(sidecar.path, exc.strerror or str(exc)) from None
        record = _from_xmp(
            _Fields(XmpPacket.parse_sidecar(data, sidecar.path)),
            name,
            f"xmp:{sidecar.style}",
            str(sidecar.path),
            pick_label,
        )
        if record is not None:
            return record
    if embedded or exif:
        try:
            xmp, exif_data = read_image_metadata(image)
        except MetadataUnreadable as exc:
            if not found:
                raise MetadataUnreadable(image, f"no sidecar, and exiv2 cannot read the image: {exc.reason}") from None
            return RatingRecord(
                name, "unrated", reason=f"no rating in {found[0].path.name}; the image itself: {exc.reason}"
            )
        record = (_from_xmp(_Fields(xmp), name, "xmp:embedded", name, pick_label) if embedded else None) or (
            _from_exif(exif_data, name) if exif else None
        )
        if record is not None:
            return record
    where = ", ".join(s.path.name for s in found) or "no sidecar"
    return RatingRecord(name, "unrated", reason=f"no rating ({where}; nor in the image)")


def iter_ratings(images: Iterable[str | os.PathLike], **options) -> Iterator[RatingRecord]:
    """``read_rating`` for each image; a file that cannot be read becomes a ``failed`` record, so every
    image gives exactly one record and a run never stops on one bad file."""
    for image in images:
        try:
            yield read_rating(image, **options)
        except XmpError as exc:
            yield RatingRecord(str(image), "failed", origin=exc.path, reason=exc.reason, error_kind=exc.kind)
