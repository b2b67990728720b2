"""Pictures for people to look at (the gallery's tiles, its loupe, the HTML report), read by the same
decoders as scoring (``images.read_picture``): every file ``score`` accepts shows (HEIC, JPEG XL, a RAW
file's embedded preview, CMYK, EXIF-rotated, 16-bit), upright and as seen. A format whose optional decoder
is missing raises ``NoDecoder``, whose one line names what to install (``preview_reason`` words it for a
placeholder): never a traceback in place of a picture.
"""

from __future__ import annotations

import io
import os

from PIL import Image

from .errors import ImageError, NoDecoder
from .images import SIXTEEN_BIT_MODES, ImageOptions, read_picture, sixteen_bit, to_rgb, upright

#: Transparent parts of a picture are shown on the gallery's own dark grey.
BACKGROUND = (17, 18, 20)
JPEG_QUALITY = 85


def render_preview(
    source: str | os.PathLike | bytes,
    longest: int | None,
    *,
    name: str | None = None,
    options: ImageOptions = ImageOptions(),
) -> bytes:
    """A JPEG of the picture (sRGB, upright, first frame) at most ``longest`` pixels on its longest side
    (None: at full size, the loupe's 100 %). ``source``: a file, or its ``bytes`` with ``name``.

    Raises:
        ImageError: as ``images.open_rgb`` (``NoDecoder`` when the format's decoder is not installed).
    """

    def draw(picture) -> bytes:
        label = name or os.fsdecode(source)
        image, _, _ = upright(picture.image, label, options, picture.turn, draft=longest)
        profile = image.info.get("icc_profile") if image.mode == "RGB" else None
        if image.mode in SIXTEEN_BIT_MODES:
            image, _ = sixteen_bit(image, "scale")  # as seen, not the reference's clipping
        image = to_rgb(image, BACKGROUND)
        if longest and max(image.size) > longest:
            image.thumbnail((longest, longest), Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=longest is not None, icc_profile=profile)
        return out.getvalue()

    return read_picture(source, draw, options, name=name)


def preview_reason(error: ImageError) -> str:
    """One line for a placeholder in place of the picture: what to install for a missing decoder, else
    why the file cannot be shown."""
    if isinstance(error, NoDecoder):
        return "no preview: " + error.reason.replace(" file passed over: ", ": ", 1)
    return f"no preview: {error.reason}"


__all__ = ["BACKGROUND", "preview_reason", "render_preview"]
