"""Formats beyond Pillow's own, each through a well-kept decoder: HEIC/HEIF (pillow-heif), JPEG XL
(pillow-jxl-plugin) and camera RAW through its embedded preview (rawpy / LibRaw ``extract_thumb``, the way
culling tools show RAW files fast). AVIF is Pillow's own (its wheels include libavif since 11.3).

Each decoder is optional: when its package is missing the file is passed over with a ``NoDecoder`` error
that says what to install, never mistaken for "not an image". Nothing here registers a Pillow plugin or
changes global state, except that importing pillow-jxl-plugin registers its own Pillow plugin (that
package's import does it; it only adds JPEG XL to what Pillow can open).
"""

from __future__ import annotations

import functools
import importlib
import io
import os
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image

from .errors import CorruptImage, NoDecoder, NotAnImage, ThumbnailOnly

# Camera RAW name endings (LibRaw reads all of these). Routed by name: most are TIFF inside, and Pillow
# would open their small first-page thumbnail as if it were the photo.
RAW_EXTENSIONS = frozenset(
    {
        ".3fr",
        ".ari",
        ".arw",
        ".bay",
        ".cap",
        ".cr2",
        ".cr3",
        ".crw",
        ".dcr",
        ".dcs",
        ".dng",
        ".drf",
        ".eip",
        ".erf",
        ".fff",
        ".gpr",
        ".iiq",
        ".k25",
        ".kdc",
        ".mdc",
        ".mef",
        ".mos",
        ".mrw",
        ".nef",
        ".nrw",
        ".orf",
        ".pef",
        ".ptx",
        ".pxn",
        ".r3d",
        ".raf",
        ".raw",
        ".rw2",
        ".rwl",
        ".rwz",
        ".sr2",
        ".srf",
        ".srw",
        ".x3f",
    }
)
HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".hif", ".heics", ".heifs"})
JXL_EXTENSIONS = frozenset({".jxl"})

#: A RAW file's embedded preview is scored only when its short side is at least this (the model's input
#: side): a smaller one is a thumbnail, and scoring it would not score the photo.
MIN_PREVIEW_SIDE = 448

_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1")
_AVIF_BRANDS = (b"avif", b"avis")
_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"


@dataclass(frozen=True)
class Family:
    """One optional format family: its label in messages and summaries, and the package that reads it."""

    name: str
    label: str
    module: str
    package: str
    extensions: frozenset[str]
    decoder: str  # recorded on the decoded image (provenance)


FAMILIES = {
    "raw": Family("raw", "RAW", "rawpy", "rawpy", RAW_EXTENSIONS, "raw-preview"),
    "heif": Family("heif", "HEIC", "pillow_heif", "pillow-heif", HEIF_EXTENSIONS, "pillow-heif"),
    "jxl": Family("jxl", "JPEG XL", "pillow_jxl", "pillow-jxl-plugin", JXL_EXTENSIONS, "pillow-jxl"),
}
OPTIONAL_EXTENSIONS = frozenset().union(*(f.extensions for f in FAMILIES.values()))


def family_of_name(path: str | os.PathLike) -> Family | None:
    """The optional family a file name belongs to (by its ending), or None."""
    suffix = os.path.splitext(os.fsdecode(path))[1].lower()
    return next((f for f in FAMILIES.values() if suffix in f.extensions), None)


def sniff(head: bytes) -> str | None:
    """'heif', 'avif' or 'jxl' from a file's first 16 bytes (its content, whatever its name), else None."""
    if head[4:8] == b"ftyp":
        if head[8:12] in _HEIF_BRANDS:
            return "heif"
        if head[8:12] in _AVIF_BRANDS:
            return "avif"
    if head.startswith(b"\xff\x0a") or head.startswith(_JXL_CONTAINER):
        return "jxl"
    return None


@functools.cache
def available(family: str) -> bool:
    """True when the family's decoder package imports (checked once per process)."""
    try:
        importlib.import_module(FAMILIES[family].module)
    except Exception:  # missing, or a broken binary wheel: either way it cannot decode
        return False
    return True


def install_hint(family: str) -> str:
    """What to install to read a family: one line for error messages."""
    fam = FAMILIES[family]
    # rawpy is a regular dependency; the others are the `formats` extra (their binary wheels are GPL).
    command = f"pip install {fam.package}" if family == "raw" else "pip install 'artimuse-studio[formats]'"
    return f"install {fam.package} ({command}) to read {fam.label} files"


def no_decoder(path: str, family: str) -> NoDecoder:
    fam = FAMILIES[family]
    return NoDecoder(path, f"{fam.label} file passed over: {install_hint(family)}")


def open_with(family: str, handle: BinaryIO, name: str) -> Image.Image:
    """Open (identify, not decode) ``handle`` with an optional family's Pillow image class."""
    if family == "heif":
        from pillow_heif.as_plugin import HeifImageFile

        return HeifImageFile(handle, name)
    if family == "jxl":
        from pillow_jxl.JpegXLImagePlugin import JXLImageFile

        return JXLImageFile(handle, name)
    raise ValueError(f"no Pillow image class for {family!r}")


# ------------------------------------------------------------------------------------------- JPEG XL
def jxl_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG XL file's SizeHeader (ISO/IEC 18181-1 section A.3), read before
    pillow-jxl-plugin decodes the whole picture at open (so the pixel limit applies first); None if the
    header cannot be found in ``head``."""
    stream = _jxl_codestream(head)
    if stream is None or len(stream) < 2 + 12:
        return None
    bits = int.from_bytes(stream[2:14], "little")
    pos = 0

    def read(n: int) -> int:
        nonlocal pos
        value = (bits >> pos) & ((1 << n) - 1)
        pos += n
        return value

    def u32() -> int:
        return read((9, 13, 18, 30)[read(2)]) + 1

    small = read(1)
    height = (read(5) + 1) * 8 if small else u32()
    ratio = read(3)
    if ratio == 0:
        width = (read(5) + 1) * 8 if small else u32()
    else:
        num, den = ((1, 1), (12, 10), (4, 3), (3, 2), (16, 9), (5, 4), (2, 1))[ratio - 1]
        width = height * num // den
    return width, height


def _jxl_codestream(data: bytes) -> bytes | None:
    if data.startswith(b"\xff\x0a"):
        return data
    if not data.startswith(_JXL_CONTAINER):
        return None
    pos, parts = 0, b""
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        payload = data[pos + header : (pos + size) if size else len(data)]
        if kind == b"jxlc":
            return payload
        if kind == b"jxlp":  # the codestream in parts, each after a 4-byte part index
            parts += payload[4:]
            if len(parts) >= 16:
                return parts
        if size == 0 or size < header:
            break
        pos += size
    return parts or None


# ---------------------------------------------------------------------------------------------- RAW
@dataclass
class RawPreview:
    """The largest picture embedded in a RAW file: ``image`` (not yet decoded), LibRaw's ``flip`` code
    (0 none, 3: 180 degrees, 5: 90 counter-clockwise, 6: 90 clockwise) and the sensor's size in pixels."""

    image: Image.Image
    flip: int
    sensor_size: tuple[int, int]


def open_raw_preview(handle: BinaryIO, name: str, open_image) -> RawPreview:
    """The embedded preview of a RAW file through LibRaw (``extract_thumb``), opened with ``open_image``
    (a callable taking a binary file, so the caller's own checks apply to the preview too).

    Raises ``NotAnImage`` (LibRaw does not know the file), ``CorruptImage`` (it cannot read it) or
    ``ThumbnailOnly`` (no preview, or only one smaller than ``MIN_PREVIEW_SIDE`` on its short side).
    """
    import rawpy

    try:
        raw = rawpy.imread(handle)
    except rawpy.LibRawFileUnsupportedError as exc:
        raise NotAnImage(name, "not a RAW file LibRaw can read") from exc
    except (rawpy.LibRawError, rawpy.NotSupportedError) as exc:
        raise CorruptImage(name, f"damaged RAW file ({exc})") from exc
    with raw:
        sizes = raw.sizes
        try:
            thumb = raw.extract_thumb()
        except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError) as exc:
            raise ThumbnailOnly(
                name, "RAW file without a usable embedded preview; not scored (export a JPEG or TIFF to score it)"
            ) from exc
        except rawpy.LibRawError as exc:
            raise CorruptImage(name, f"damaged RAW preview ({exc})") from exc
    if thumb.format == rawpy.ThumbFormat.JPEG:
        image = open_image(io.BytesIO(bytes(thumb.data)))
    else:  # a BITMAP thumbnail: rawpy gives an (h, w, 3) uint8 array
        image = Image.fromarray(np.asarray(thumb.data))
    width, height = image.size
    if min(width, height) < MIN_PREVIEW_SIDE:
        raise ThumbnailOnly(
            name,
            f"RAW file whose only embedded picture is a {width}x{height} thumbnail; not "
            f"scored as the photo (export a JPEG or TIFF to score it)",
        )
    return RawPreview(image, int(sizes.flip), (int(sizes.width), int(sizes.height)))
