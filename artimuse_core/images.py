"""Image decoding and preprocessing, exactly as the reference's ``load_image`` (SPEC.md "Image").

``convert("RGB")`` of whatever the file holds, a 448x448 bicubic squash (skipped for 448x448 input, as
torchvision's Resize does), /255, ImageNet normalisation, one tile. Pillow decodes: scores react to
single-level pixel changes, so no other decoder is used. Extras the reference lacks (EXIF orientation,
first frame of animations, optional alpha compositing, optional JPEG draft decoding) are explicit options.
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import CorruptImage, ImageError, ImageTooLarge, NotAnImage, UnreadableFile

IMAGE_SIZE = 448
IMAGENET_MEAN = np.array((0.485, 0.456, 0.406), dtype=np.float32)
IMAGENET_STD = np.array((0.229, 0.224, 0.225), dtype=np.float32)
DEFAULT_MAX_PIXELS = 200_000_000
EXIF_ORIENTATION = 0x0112

# Our own pixel limit (ImageOptions.max_pixels, typed ImageTooLarge error) replaces Pillow's warning.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

# Signatures of formats Pillow reads: a file that starts like one but can't be opened is corrupt, not
# "not an image".
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
          b"\x00\x00\x00\x0cjP  ", b"qoif")

# File name endings the folder walkers treat as images. Decoding decides in the end; this only avoids
# opening every sidecar file in a photo folder.
IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff",
    ".tga", ".ppm", ".pgm", ".pbm", ".pnm", ".jp2", ".j2k", ".avif", ".heic", ".heif", ".ico",
    ".dib", ".pcx", ".sgi", ".qoi",
})


@dataclass(frozen=True)
class ImageOptions:
    """How files become pixels. The defaults reproduce the reference exactly."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    exif_transpose: bool = True
    # None: drop alpha like the reference. An (r, g, b) tuple: composite transparency on that colour.
    background: tuple[int, int, int] | None = None
    # Let libjpeg decode at the smallest 1/2, 1/4 or 1/8 scale still >= 448 px. Faster, not exact.
    jpeg_draft: bool = False


@dataclass
class DecodedImage:
    """One preprocessed image: ``pixel_values`` is float32 (3, 448, 448), normalised."""

    source: str
    pixel_values: np.ndarray
    width: int
    height: int
    format: str | None
    mode: str


def _allow_pillow_up_to(max_pixels: int) -> None:
    # Pillow refuses images above 2x its MAX_IMAGE_PIXELS on its own; our own check (with its own,
    # configurable limit and typed error) decides instead, so lift Pillow's when ours is higher.
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def open_rgb(source: str | os.PathLike | Image.Image, options: ImageOptions = ImageOptions()) -> DecodedImage:
    """Open, check and convert one image to an RGB PIL image wrapped with its metadata (not yet resized)."""
    if isinstance(source, Image.Image):
        return _finish(source, "<memory>", options)
    path = Path(source)
    _allow_pillow_up_to(options.max_pixels)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise UnreadableFile(path, exc.strerror or str(exc)) from exc
    with handle:
        try:
            image = Image.open(handle)
        except UnidentifiedImageError as exc:
            handle.seek(0)
            head = handle.read(16)
            if head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
                raise CorruptImage(path, "damaged image file (its header is unreadable)") from exc
            raise NotAnImage(path, "not an image file Pillow can read") from exc
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(path, str(exc)) from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise CorruptImage(path, f"cannot open: {exc}") from exc
        return _finish(image, str(path), options)


def _finish(image: Image.Image, name: str, options: ImageOptions) -> DecodedImage:
    width, height = image.size
    if width * height > options.max_pixels:
        raise ImageTooLarge(name, f"{width}x{height} is {width * height / 1e6:.0f} MP, over the "
                                  f"{options.max_pixels / 1e6:.0f} MP limit (raise it with --max-pixels)")
    fmt, mode = image.format, image.mode
    try:
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)
        if options.jpeg_draft and fmt == "JPEG":
            image.draft(None, (IMAGE_SIZE, IMAGE_SIZE))
        image.load()
        if options.exif_transpose and image.getexif().get(EXIF_ORIENTATION, 1) != 1:
            image = ImageOps.exif_transpose(image)
        rgb = _to_rgb(image, options.background)
        if rgb.size != (IMAGE_SIZE, IMAGE_SIZE):
            rgb = rgb.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)
        pixels = normalise(np.asarray(rgb, dtype=np.uint8))
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(name, str(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        raise CorruptImage(name, f"cannot decode: {exc}") from exc
    return DecodedImage(name, pixels, width, height, fmt, mode)


def _to_rgb(image: Image.Image, background: tuple[int, int, int] | None) -> Image.Image:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if background is None or not has_alpha:
        return image.convert("RGB")  # the reference: alpha dropped, 16-bit clipped, CMYK by Pillow
    rgba = image.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (*background, 255))
    return Image.alpha_composite(canvas, rgba).convert("RGB")


def normalise(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 (3, H, W): /255 then ImageNet mean/std, as ToTensor + Normalize."""
    scaled = rgb.astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(((scaled - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))


def decode_many(sources: Iterable, options: ImageOptions = ImageOptions(), workers: int | None = None,
                lookahead: int = 32) -> Iterator[DecodedImage | ImageError]:
    """Decode in a thread pool (Pillow releases the GIL while decoding and resizing), yielding in input
    order. A bad file yields its ``ImageError`` in its place instead of stopping the stream."""
    workers = workers or min(8, os.cpu_count() or 1)

    def job(source):
        try:
            return open_rgb(source, options)
        except ImageError as exc:
            return exc

    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="artimuse-decode") as pool:
        for source in sources:
            pending.append(pool.submit(job, source))
            if len(pending) >= lookahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def is_image_name(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS
