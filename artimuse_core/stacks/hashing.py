"""Perceptual hashes of pictures: ImageHash's DCT hash (``imagehash.phash``, 64 bits), which survives resizing,
re-compression and exposure shifts unchanged and small crops with a few bits flipped, and the Hamming
distance between two hashes.

Hashes travel as Python ints (0 <= hash < 2**64); the library stores them as signed 64-bit integers
(``to_signed``/``from_signed``), which every database holds. Sources: Zauner, "Implementation and
Benchmarking of Perceptual Image Hash Functions" (2010); ImageHash (https://github.com/JohannesBuchner/imagehash).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from PIL import Image

from ..images import SIXTEEN_BIT_MODES, ImageOptions, read_picture, sixteen_bit, to_rgb, upright

#: Bits in one hash.
HASH_BITS = 64
#: The smallest side a JPEG is decoded at for hashing (libjpeg's draft scale): the hash reads 32 x 32 pixels.
_DRAFT = 128
#: The shorter side a picture is box-reduced to (at least) before the hash's own resize.
_REDUCED = 64


def perceptual_hash(image: Image.Image) -> int:
    """The 64-bit DCT perceptual hash of a picture (any mode, any size) as an int in [0, 2**64)."""
    import imagehash

    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    factor = min(image.size) // _REDUCED
    if factor > 1:  # a box filter first: the hash reads 32 x 32 pixels, and Lanczos over all of them is 20x slower
        image = image.reduce(factor)
    return int(str(imagehash.phash(image, hash_size=8)), 16)


def file_hash(source: str | os.PathLike[str], options: ImageOptions | None = None) -> int:
    """``perceptual_hash`` of an image file as it is displayed (EXIF orientation applied, the first frame,
    a RAW file's embedded preview, HEIC and JPEG XL where their decoders are installed), decoded small.

    Raises:
        ImageError: the file cannot be read or decoded (the same errors and limits as scoring).
    """
    chosen = options or ImageOptions()
    name = os.fsdecode(source)

    def hashed(picture: object) -> int:
        image, _, _ = upright(picture.image, name, chosen, picture.turn, _DRAFT)  # type: ignore[attr-defined]
        if image.mode in SIXTEEN_BIT_MODES:
            image, _ = sixteen_bit(image, "scale")
        return perceptual_hash(to_rgb(image, chosen.background))

    return read_picture(source, hashed, chosen)


def hash_distance(a: int, b: int) -> int:
    """Hamming distance in bits (0-64) between two hashes: how many bits differ."""
    return (a ^ b).bit_count()


def to_signed(value: int) -> int:
    """A hash (0 <= value < 2**64) as the signed 64-bit integer a database column holds."""
    return value - (1 << HASH_BITS) if value >= 1 << (HASH_BITS - 1) else value


def from_signed(value: int) -> int:
    """The hash ``to_signed`` stored."""
    return value + (1 << HASH_BITS) if value < 0 else value


def hash_hex(value: int) -> str:
    """A hash as 16 hex digits (ImageHash's own spelling)."""
    return f"{value:016x}"


__all__ = [
    "HASH_BITS",
    "file_hash",
    "file_hashes",
    "from_signed",
    "hash_distance",
    "hash_hex",
    "perceptual_hash",
    "to_signed",
]


def file_hashes(paths: Iterable[str | os.PathLike[str]]) -> dict[str, int]:
    """``file_hash`` of each path that can be decoded, read in a small pool, by ``os.fsdecode(path)``; files
    that cannot be decoded are left out (scoring records why they fail)."""
    from concurrent.futures import ThreadPoolExecutor

    from ..errors import ImageError

    def one(path: str | os.PathLike[str]) -> int | None:
        try:
            return file_hash(path)
        except ImageError:
            return None

    chosen = list(paths)
    if not chosen:
        return {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = dict(zip((os.fsdecode(p) for p in chosen), pool.map(one, chosen)))
    return {path: value for path, value in found.items() if value is not None}
