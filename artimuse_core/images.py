"""Image decoding and preprocessing, exactly as the reference's ``load_image`` (docs/inference.md "Image").

``convert("RGB")`` of whatever the file holds, a 448x448 bicubic squash (skipped for 448x448 input, as
torchvision's Resize does), /255, ImageNet normalisation, one tile. Pillow decodes: scores react to
single-level pixel changes, so no other decoder is used for what Pillow reads. Extras the reference lacks
(EXIF orientation, first frame of animations, optional alpha compositing, optional JPEG draft decoding,
optional 16->8-bit scaling) are explicit options; formats Pillow lacks (HEIC, JPEG XL, RAW previews) go
through ``decoders``.

Every file problem is a typed ``ImageError`` (``errors.py``); nothing else escapes ``open_rgb`` or
``decode_many``. Only regular files are opened (``stat`` first, then a non-blocking open), so a FIFO
cannot hang a run. Nothing here changes global state: the pixel limit is our own check on the header
size, made before any pixel is decoded, instead of a change to ``PIL.Image.MAX_IMAGE_PIXELS`` (which
would be a process-wide toggle under a thread pool).
"""

from __future__ import annotations

import io
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TypeVar

import numpy as np
from PIL import Image

from . import decoders
from .errors import CorruptImage, EmptyFile, ImageError
from .identify import Picture, check_pixels, identify_picture
from .opening import OPEN_FLAGS, check_regular, exception_name, guarded, one_line, stat_error
from .spec import EngineSpec, check_declared, default_of, settings_at

T = TypeVar("T")
IMAGE_SIZE = 448
IMAGENET_MEAN = np.array((0.485, 0.456, 0.406), dtype=np.float32)
IMAGENET_STD = np.array((0.229, 0.224, 0.225), dtype=np.float32)
DEFAULT_MAX_PIXELS: int = default_of("max_pixels")
EXIF_ORIENTATION = 0x0112

# File name endings Pillow reads that the folder walkers treat as images (plus ``decoders``' optional
# families). Decoding decides in the end; this only avoids opening every sidecar file in a photo folder.
PILLOW_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".webp",
        ".gif",
        ".bmp",
        ".tif",
        ".tiff",
        ".tga",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
        ".jp2",
        ".j2k",
        ".avif",
        ".ico",
        ".dib",
        ".pcx",
        ".sgi",
        ".qoi",
    }
)
IMAGE_EXTENSIONS = PILLOW_EXTENSIONS | decoders.OPTIONAL_EXTENSIONS

# Modes whose samples go above 255: the reference's convert("RGB") clips them (docs/inference.md "Image" 1).
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_T = Image.Transpose
# EXIF orientation -> the turn that displays it upright (the table of ImageOps.exif_transpose).
_EXIF_TURNS = {
    2: _T.FLIP_LEFT_RIGHT,
    3: _T.ROTATE_180,
    4: _T.FLIP_TOP_BOTTOM,
    5: _T.TRANSPOSE,
    6: _T.ROTATE_270,
    7: _T.TRANSVERSE,
    8: _T.ROTATE_90,
}
_SWAPS_SIZE = frozenset({_T.TRANSPOSE, _T.ROTATE_270, _T.TRANSVERSE, _T.ROTATE_90})


def _declared(name: str) -> Any:
    """An ``ImageOptions`` field whose default is the setting's declared one (``spec.SETTINGS``)."""
    return field(default=default_of(name))


@dataclass(frozen=True)
class ImageOptions:
    """How files become pixels: the settings of the ``image`` stage (``spec.settings_at("image")``), with their
    declared defaults and checks; the defaults reproduce the reference exactly. The fields are spelt out for the
    type checker; ``tests/test_spec.py`` holds them to the declarations.

    ``max_pixels``: refuse images with more pixels than this (width x height, read from the header before
    decoding: the decompression-bomb guard). ``exif``: apply the EXIF orientation. ``background``: None drops
    alpha like the reference, an (r, g, b) tuple composites transparency on that colour. ``jpeg_draft``: let
    libjpeg decode at the smallest 1/2, 1/4 or 1/8 scale still >= 448 px (faster, not exact). ``sixteen_bit``:
    "reference" converts 16-bit greyscale as the authors' code does (values over 255 clip to white; the result
    carries a warning), "scale" scores the picture as seen (0..65535 scaled to 0..255).

    Raises:
        InvalidValue: a value its declaration refuses (the message names the setting).
    """

    max_pixels: int = _declared("max_pixels")
    exif: bool = _declared("exif")
    background: tuple[int, int, int] | None = _declared("background")
    jpeg_draft: bool = _declared("jpeg_draft")
    sixteen_bit: str = _declared("sixteen_bit")

    def __post_init__(self) -> None:
        check_declared(self)

    @classmethod
    def of(cls, spec: EngineSpec) -> ImageOptions:
        """The decoding options ``spec`` asks for."""
        return cls(**{s.name: getattr(spec, s.name) for s in settings_at("image")})


@dataclass
class DecodedImage:
    """One preprocessed image: ``pixel_values`` is float32 (3, 448, 448), normalised.

    ``width`` x ``height`` is the picture as displayed (after the EXIF orientation, when applied), in
    pixels. ``decoder`` says what read it ("pillow", "pillow-heif", "pillow-jxl", "raw-preview": a RAW
    file's embedded preview; "memory": an in-memory image). ``warnings`` are one-line notes a person
    should see (e.g. 16-bit values clipped by the reference conversion).
    """

    source: str
    pixel_values: np.ndarray
    width: int
    height: int
    format: str | None
    mode: str
    decoder: str = "pillow"
    warnings: tuple[str, ...] = ()


#: What decoding reads an image from: a file path (as the OS gives it), an in-memory PIL image, or an image
#: already decoded by these rules (a Ray decode task's output, used as it is).
ImageSource = str | bytes | os.PathLike[str] | os.PathLike[bytes] | Image.Image | DecodedImage


def source_name(source: ImageSource) -> str:
    """A source's name as its result carries it: a path as the OS gives it (``os.fsdecode``), a decoded
    image's own ``source``, ``<memory>`` for an in-memory picture."""
    if isinstance(source, DecodedImage):
        return source.source
    if isinstance(source, Image.Image):
        return "<memory>"
    return os.fsdecode(source)


def open_rgb(source: ImageSource, options: ImageOptions = ImageOptions()) -> DecodedImage:
    """Open, check and preprocess one image (a path as the OS gives it, or an in-memory PIL image).

    Raises only ``ImageError`` subclasses: ``FileGone``, ``UnreadableFile``, ``SymlinkLoop``,
    ``NotARegularFile`` and ``NoDecoder`` / ``ThumbnailOnly`` (passed over), ``EmptyFile``,
    ``NotAnImage``, ``ImageTooLarge`` and ``CorruptImage`` (any other exception a decoder raises on a
    hostile file becomes ``CorruptImage``).
    """
    if isinstance(source, DecodedImage):
        return source  # decoded elsewhere by these rules (``decode_bytes`` in a Ray task): used as it is
    if isinstance(source, Image.Image):
        return guarded("<memory>", lambda: _finish(source, "<memory>", options, "memory"))
    path = os.fsdecode(source)
    return read_picture(path, lambda picture: _prepared(picture, path, options), options)


def decode_bytes(data: bytes, name: str, options: ImageOptions = ImageOptions()) -> DecodedImage:
    """Preprocess one image from its bytes, read elsewhere (an fsspec URI: s3://, gs://...), by the same
    rules as ``open_rgb`` applies to a file of that ``name`` (which picks the RAW family by its ending).

    Raises only ``ImageError`` subclasses, as ``open_rgb`` (``EmptyFile`` for no bytes).
    """
    return read_picture(data, lambda picture: _prepared(picture, name, options), options, name=name)


def read_picture(
    source: str | bytes | os.PathLike[str],
    use: Callable[[Picture], T],
    options: ImageOptions = ImageOptions(),
    *,
    name: str | None = None,
) -> T:
    """``use(picture)`` on the identified picture of a file (or of ``bytes`` named ``name``), opened and
    identified as ``open_rgb`` does (regular files only, the same decoders and limits), while it is open:
    what previews and photo facts read pictures with.

    Raises only ``ImageError`` subclasses (whatever ``use`` raises on a hostile file becomes one too).
    """
    if isinstance(source, bytes) and name is not None:
        data = source
        if not data:
            raise EmptyFile(name, "empty file (0 bytes)")
        return guarded(name, lambda: _with_handle(io.BytesIO(data), name, use, options))
    path = os.fsdecode(source)
    return guarded(path, lambda: _with_file(path, use, options))


def _with_file(path: str, use: Callable[[Picture], T], options: ImageOptions) -> T:
    try:
        check_regular(path, os.stat(path))
        fd = os.open(path, OPEN_FLAGS)  # non-blocking: were it swapped for a FIFO, open would not hang
    except OSError as exc:
        raise stat_error(path, exc) from exc
    with os.fdopen(fd, "rb") as handle:
        check_regular(path, os.fstat(fd))  # the same file we stat'ed, or a swap caught here
        return _with_handle(handle, path, use, options)


def _with_handle(handle: BinaryIO, name: str, use: Callable[[Picture], T], options: ImageOptions) -> T:
    family = decoders.family_of_name(name)
    if family and family.name == "raw" and not decoders.available("raw"):
        raise decoders.no_decoder(name, "raw")
    return use(identify_picture(handle, name, family, options.max_pixels, options.exif))


def _prepared(picture: Picture, name: str, options: ImageOptions) -> DecodedImage:
    return _finish(picture.image, name, options, picture.decoder, turn=picture.turn)


def _finish(
    image: Image.Image, name: str, options: ImageOptions, decoder: str, turn: Image.Transpose | None = None
) -> DecodedImage:
    fmt, mode = image.format, image.mode
    notes: list[str] = []
    image, width, height = upright(image, name, options, turn, IMAGE_SIZE if options.jpeg_draft else None)
    if image.mode in SIXTEEN_BIT_MODES:
        image, note = sixteen_bit(image, options.sixteen_bit)
        if note:
            notes.append(note)
    rgb = to_rgb(image, options.background)
    if rgb.size != (IMAGE_SIZE, IMAGE_SIZE):
        rgb = rgb.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)
    pixels = normalise(np.asarray(rgb, dtype=np.uint8))
    return DecodedImage(name, pixels, width, height, fmt, mode, decoder, tuple(notes))


def upright(
    image: Image.Image, name: str, options: ImageOptions, turn: Image.Transpose | None = None, draft: int | None = None
) -> tuple[Image.Image, int, int]:
    """The first frame decoded and turned upright: (image, width, height as displayed). ``turn``: a RAW
    file's orientation (None: the image's EXIF orientation); ``draft``: let libjpeg decode a JPEG at the
    smallest 1/2..1/8 scale still at least this many pixels on each side.

    Raises:
        ImageTooLarge: over ``options.max_pixels`` (checked before any pixel is decoded).
    """
    width, height = image.size
    check_pixels(name, width, height, options.max_pixels)
    # A freshly opened file is at its first frame (animations, multi-page TIFF): no need to count frames,
    # which would read every frame of a 500-frame GIF and every page of a TIFF.
    if draft and image.format == "JPEG":
        image.draft(None, (draft, draft))
    image.load()
    if options.exif and turn is None:
        # Only the pixels are turned (as ImageOps.exif_transpose turns them), without its rewrite of the
        # EXIF block, which raises on malformed tags of a picture that is otherwise fine.
        orientation = image.getexif().get(EXIF_ORIENTATION, 1)
        turn = _EXIF_TURNS.get(orientation) if isinstance(orientation, int) else None
    if options.exif and turn is not None:
        image = image.transpose(turn)
        if turn in _SWAPS_SIZE:
            width, height = height, width  # record the size as displayed
    return image, width, height


def sixteen_bit(image: Image.Image, how: str) -> tuple[Image.Image, str | None]:
    """The reference's clipping (with a warning saying how much it clipped) or a proper 16->8-bit scale."""
    values = np.asarray(image)
    if how == "scale":
        scaled = (np.clip(values, 0, 65535).astype(np.uint32) * 255 + 32767) // 65535
        return Image.fromarray(scaled.astype(np.uint8), "L"), None
    clipped = float((values > 255).mean())
    return image, (
        f"16-bit {image.mode} image converted as the reference does (16-bit values read as 8-bit "
        f"ones: {clipped:.0%} of pixels clip to white), not as seen; the sixteen_bit setting "
        f'"scale" scores it as seen'
    )


def to_rgb(image: Image.Image, background: tuple[int, int, int] | None) -> Image.Image:
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


def default_decode_workers() -> int:
    """Decode threads when the caller does not size the pool: one per core, at most 8."""
    return min(8, os.cpu_count() or 1)


class DecodeStream(Iterator["DecodedImage | ImageError"]):
    """Decoded images (or their ``ImageError``) in input order, from a pool of decode threads that works at
    most ``lookahead`` files ahead of the reader. Files are submitted only as the reader takes items, so
    while the reader runs model work, the pool decodes only what is already submitted: ``settle`` waits for
    that, after which the pool holds no core until the next item is taken (the CPU engine lets decoding and
    the model take turns, each with every core, instead of splitting the cores between them)."""

    def __init__(self, sources: Iterable[ImageSource], options: ImageOptions, workers: int, lookahead: int) -> None:
        self._pending: deque[Future[DecodedImage | ImageError]] = deque()
        self._items = self._run(sources, options, workers, max(1, lookahead))

    def _run(
        self, sources: Iterable[ImageSource], options: ImageOptions, workers: int, lookahead: int
    ) -> Generator[DecodedImage | ImageError, None, None]:
        def job(source: ImageSource) -> DecodedImage | ImageError:
            try:
                return open_rgb(source, options)
            except ImageError as exc:
                return exc
            except Exception as exc:  # open_rgb already types everything; this is the last line of defence
                return CorruptImage(source_name(source), f"cannot decode ({exception_name(exc)}: {one_line(exc)})")

        pending = self._pending
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="artimuse-decode") as pool:
            for source in sources:
                pending.append(pool.submit(job, source))
                if len(pending) >= lookahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def __next__(self) -> DecodedImage | ImageError:
        return next(self._items)

    def settle(self) -> None:
        """Wait until every submitted file is decoded (the pool is then idle until the next item is taken)."""
        wait(list(self._pending))

    def close(self) -> None:
        """Stop submitting; files in flight finish, the pool's threads end."""
        self._items.close()


def decode_many(
    sources: ImageSource | Iterable[ImageSource],
    options: ImageOptions = ImageOptions(),
    workers: int | None = None,
    lookahead: int = 32,
) -> DecodeStream:
    """Decode in a pool of ``workers`` threads (default ``default_decode_workers()``; Pillow releases the
    GIL while decoding and resizing), yielding in input order, at most ``lookahead`` files ahead. A bad
    file yields its ``ImageError`` in its place instead of stopping the stream. One path or picture given
    bare is one source (a ``str`` is never iterated as characters)."""
    chosen: Iterable[ImageSource] = (
        [sources] if isinstance(sources, (str, bytes, os.PathLike, Image.Image, DecodedImage)) else sources
    )
    return DecodeStream(chosen, options, max(1, workers or default_decode_workers()), lookahead)


def is_image_name(path: str | bytes | os.PathLike[str]) -> bool:
    """True for a file name ending the product reads as a picture (Pillow's formats, HEIC, JPEG XL, RAW),
    whether or not the optional decoder is installed (a missing one is reported, not ignored)."""
    return os.path.splitext(os.fsdecode(path))[1].lower() in IMAGE_EXTENSIONS
