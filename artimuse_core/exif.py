"""How a photo was taken, from its EXIF: when (``DateTimeOriginal`` + ``SubSecTimeOriginal``, in the zone of
``OffsetTimeOriginal`` when the camera wrote one, else this machine's local time, as photo managers read it),
the camera, lens, exposure, aperture, ISO and focal length. Read through the same identification as scoring
(``images.read_picture``: HEIC, JPEG XL, a RAW file's embedded preview), from the header only.

Tags (EXIF 2.32): IFD0 Make 0x010F, Model 0x0110, DateTime 0x0132; the Exif IFD 0x8769: ExposureTime 0x829A,
FNumber 0x829D, ISOSpeedRatings 0x8827, DateTimeOriginal 0x9003, OffsetTimeOriginal 0x9011,
SubSecTimeOriginal 0x9291, FocalLength 0x920A, FocalLengthIn35mmFilm 0xA405, LensMake 0xA433, LensModel 0xA434.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import ImageError

EXIF_IFD = 0x8769
MAKE, MODEL, DATETIME = 0x010F, 0x0110, 0x0132
EXPOSURE, FNUMBER, ISO, TAKEN, OFFSET, SUBSEC = 0x829A, 0x829D, 0x8827, 0x9003, 0x9011, 0x9291
FOCAL, FOCAL_35, LENS_MAKE, LENS_MODEL = 0x920A, 0xA405, 0xA433, 0xA434


@dataclass(frozen=True)
class PhotoFacts:
    """What the EXIF says, as people read it (None: not recorded): ``camera`` "Canon EOS R5", ``lens``,
    ``exposure`` "1/250 s", ``aperture`` "f/2.8", ``iso`` 400, ``focal_length`` "50 mm (80 mm in 35 mm)",
    ``taken`` "2026-05-01 10:00:00.25" (as the camera's clock said), ``captured_at`` the same instant in
    seconds since the epoch."""

    camera: str | None = None
    lens: str | None = None
    exposure: str | None = None
    aperture: str | None = None
    iso: int | None = None
    focal_length: str | None = None
    taken: str | None = None
    captured_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) of what is known, in the order a photographer reads an EXIF panel."""
        shown = [
            ("camera", self.camera),
            ("lens", self.lens),
            ("exposure", self.exposure),
            ("aperture", self.aperture),
            ("ISO", None if self.iso is None else str(self.iso)),
            ("focal length", self.focal_length),
            ("taken", self.taken),
        ]
        return [(label, value) for label, value in shown if value]


def photo_facts(source: str | os.PathLike) -> PhotoFacts:
    """The EXIF facts of an image file (an empty ``PhotoFacts`` when it has no EXIF).

    Raises:
        ImageError: the file cannot be opened or identified (as ``images.open_rgb`` says why).
    """
    from .images import read_picture

    return read_picture(source, lambda picture: facts_of(picture.image.getexif()))


def capture_time(source: str | os.PathLike) -> float | None:
    """When the photo was taken (seconds since the epoch), or None: no EXIF time, or a file that cannot be
    read (scoring reports that; a capture time is never a reason to fail)."""
    try:
        return photo_facts(source).captured_at
    except (ImageError, OSError):
        return None


def facts_of(exif: Any) -> PhotoFacts:
    """``PhotoFacts`` from a Pillow ``Image.Exif`` (malformed values are left out, never raised)."""
    try:
        ifd = exif.get_ifd(EXIF_IFD)
    except Exception:  # a damaged Exif IFD: IFD0's facts still count
        ifd = {}
    make, model = _text(exif.get(MAKE)), _text(exif.get(MODEL))
    camera = model if make and model and model.lower().startswith(make.lower().split()[0]) else _join(make, model)
    lens = _text(ifd.get(LENS_MODEL))
    if lens and _text(ifd.get(LENS_MAKE)) and not lens.lower().startswith(str(_text(ifd.get(LENS_MAKE))).lower()):
        lens = _join(_text(ifd.get(LENS_MAKE)), lens)
    taken, captured_at = _when(ifd.get(TAKEN) or exif.get(DATETIME), ifd.get(SUBSEC), ifd.get(OFFSET))
    return PhotoFacts(
        camera=camera,
        lens=lens,
        exposure=_exposure(ifd.get(EXPOSURE)),
        aperture=_number(ifd.get(FNUMBER), "f/{:g}"),
        iso=_iso(ifd.get(ISO)),
        focal_length=_focal(ifd.get(FOCAL), ifd.get(FOCAL_35)),
        taken=taken,
        captured_at=captured_at,
    )


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = value.replace("\x00", "").strip()
    return text or None


def _join(*parts: str | None) -> str | None:
    return " ".join(p for p in parts if p) or None


def _float(value: Any) -> float | None:
    try:
        number = float(value[0]) / float(value[1]) if isinstance(value, tuple) and len(value) == 2 else float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if number == number and number > 0 else None  # NaN and 0: not recorded


def _number(value: Any, form: str) -> str | None:
    number = _float(value)
    return None if number is None else form.format(round(number, 1))


def _exposure(value: Any) -> str | None:
    seconds = _float(value)
    if seconds is None:
        return None
    return f"1/{round(1 / seconds):d} s" if seconds < 0.5 else f"{seconds:g} s"


def _iso(value: Any) -> int | None:
    if isinstance(value, tuple):
        value = value[0] if value else None
    number = _float(value)
    return None if number is None else int(number)


def _focal(value: Any, in_35mm: Any) -> str | None:
    focal = _number(value, "{:g} mm")
    equivalent = _float(in_35mm)
    if focal and equivalent and f"{equivalent:g} mm" != focal:
        return f"{focal} ({equivalent:g} mm in 35 mm)"
    return focal


def _when(value: Any, subsec: Any, offset: Any) -> tuple[str | None, float | None]:
    """("2026-05-01 10:00:00.25", epoch seconds) from EXIF's "2026:05:01 10:00:00", "25" and "+02:00"."""
    text = _text(value)
    if not text:
        return None, None
    try:
        moment = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None, None
    digits = "".join(c for c in (_text(subsec) or "") if c.isdigit())
    if digits:
        moment += timedelta(seconds=float(f"0.{digits}"))
    zone = _zone(_text(offset))
    shown = moment.strftime("%Y-%m-%d %H:%M:%S") + (f".{digits}" if digits else "")
    aware = moment.replace(tzinfo=zone) if zone else moment.astimezone()  # no zone: this machine's local time
    return shown, aware.timestamp()


def _zone(text: str | None) -> timezone | None:
    if not text or len(text) < 6 or text[0] not in "+-":
        return None
    try:
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


__all__ = ["PhotoFacts", "capture_time", "facts_of", "photo_facts"]
