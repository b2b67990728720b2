"""What a file holds, before any pixel is decoded: its format identified (Pillow's plugins in Pillow's order,
HEIC and JPEG XL through ``decoders``, a RAW file's embedded preview), its header read and the pixel limit
checked. Scoring (``images.open_rgb``), previews and photo facts (``previews``, ``exif``) all start here, so a
file reads the same way everywhere: what ``score`` accepts, the gallery shows.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

from PIL import Image

from . import decoders
from .errors import CorruptImage, ImageTooLarge, NotAnImage
from .opening import one_line

# Signatures of formats we read: a file that starts like one but can't be opened is corrupt, not
# "not an image".
_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x00\x0cjP  ",
    b"qoif",
    b"\xff\x0a",
    b"\x00\x00\x00\x0cJXL ",
)
# Pillow's own "could not read this" exceptions, and those its plugins leak on hostile headers.
_OPEN_FAILURES = (SyntaxError, IndexError, TypeError, struct.error)
_T = Image.Transpose
# LibRaw's ``flip`` codes (RAW files keep orientation there, not in the preview's EXIF).
_RAW_FLIPS = {3: _T.ROTATE_180, 5: _T.ROTATE_90, 6: _T.ROTATE_270}


@dataclass
class Picture:
    """An identified picture: ``image`` (a Pillow image, header read, pixels not yet decoded), the
    ``decoder`` that reads it ("pillow", "pillow-heif", "pillow-jxl", "raw-preview") and ``turn``, the
    orientation a RAW file keeps outside its preview (None: read the image's own EXIF orientation)."""

    image: Image.Image
    decoder: str
    turn: Image.Transpose | None = None


def identify_picture(handle: BinaryIO, name: str, family: Any, max_pixels: int, exif_transpose: bool = True) -> Picture:
    """Identify ``handle`` (``family``: ``decoders.family_of_name(name)``); a RAW file (or a DNG under a TIFF
    name) gives its embedded preview.

    Raises:
        NoDecoder: the optional decoder is missing (the message says what to install).
        ThumbnailOnly, NotAnImage, CorruptImage, ImageTooLarge: as ``images.open_rgb``.
    """
    if not (family and family.name == "raw"):
        image, decoder = _identify(handle, name, max_pixels)
        if not _is_dng(image):
            return Picture(image, decoder)
        if not decoders.available("raw"):  # a DNG under a TIFF name: its first page is a thumbnail
            raise decoders.no_decoder(name, "raw")
        handle.seek(0)
    preview = decoders.open_raw_preview(handle, name, lambda f: _identify(f, name, max_pixels)[0])
    return Picture(preview.image, "raw-preview", _RAW_FLIPS.get(preview.flip) if exif_transpose else None)


def _is_dng(image: Image.Image) -> bool:
    """A TIFF that is a DNG (DNGVersion tag): Pillow would show its first page, usually a thumbnail."""
    return image.format == "TIFF" and 50706 in getattr(image, "tag_v2", {})


def _identify(handle: BinaryIO, name: str, max_pixels: int) -> tuple[Image.Image, str]:
    """Identify the format and read the header (no pixels yet); check the pixel limit first where a
    decoder would decode at open (JPEG XL)."""
    head = handle.read(16)
    handle.seek(0)
    sniffed = decoders.sniff(head)
    if sniffed in ("heif", "jxl"):
        if not decoders.available(sniffed):
            raise decoders.no_decoder(name, sniffed)
        if sniffed == "jxl":
            size = decoders.jxl_size(handle.read(4096))
            handle.seek(0)
            if size:
                check_pixels(name, *size, max_pixels)
        try:
            plugin_image = decoders.open_with(sniffed, handle, name)
        except _OPEN_FAILURES as exc:
            raise CorruptImage(name, f"damaged {decoders.FAMILIES[sniffed].label} file ({one_line(exc)})") from exc
        return plugin_image, decoders.FAMILIES[sniffed].decoder
    image = _pillow_open(handle, head, name)
    if image is None:
        if sniffed == "avif":
            raise CorruptImage(
                name, "damaged AVIF file, or this Pillow has no AVIF support (Pillow >= 11.3 wheels include it)"
            )
        if head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
            raise CorruptImage(name, "damaged image file (its header is unreadable)")
        family = decoders.family_of_name(name)
        if family and not decoders.available(family.name):
            raise decoders.no_decoder(name, family.name)
        raise NotAnImage(name, "not an image file Pillow can read")
    return image, "pillow"


def _pillow_open(handle: BinaryIO, head: bytes, name: str) -> Image.Image | None:
    """``PIL.Image.open`` without its process-wide decompression-bomb check (ours follows, with our own
    limit): the same plugins, tried in the same order, with the same rule for moving on to the next."""
    Image.preinit()
    tried: set[str] = set()
    for load_all in (False, True):
        if load_all:
            Image.init()
        for fmt in list(Image.ID):
            if fmt in tried:
                continue
            tried.add(fmt)
            factory, accept = Image.OPEN[fmt]
            try:
                verdict = accept(head) if accept else True
                if not verdict or isinstance(verdict, str):
                    continue
                handle.seek(0)
                return factory(handle, name)
            except _OPEN_FAILURES:
                continue
    return None


def check_pixels(name: str, width: int, height: int, max_pixels: int) -> None:
    """Refuse a picture over the pixel limit (the decompression-bomb guard), from its header size.

    Raises:
        ImageTooLarge: more than ``max_pixels`` pixels.
    """
    if width * height > max_pixels:
        raise ImageTooLarge(
            name,
            f"{width}x{height} is {width * height / 1e6:.0f} MP, over the "
            f"{max_pixels / 1e6:.0f} MP limit (the max_pixels setting; "
            f"raise it to read this image)",
        )


__all__ = ["Picture", "check_pixels", "identify_picture"]
