"""Seeded generators of real files as photographers' folders hold them, with the outcome each must get.

Used by the decode/walk tests, the CLI tests, and (reused) the watcher and library tests. Everything is
synthetic (seeded pixels, hand-built DNG/TIFF/PNG bytes) and small; nothing is downloaded.

Public API
----------
One file of a kind (each returns the path it wrote; sizes are (width, height) in pixels):

* ``photo_pixels(size, seed)`` -> uint8 (H, W, 3): smooth gradients, discs and grain (compresses like a photo)
* ``write_photo(path, size=(320, 240), seed=0, **save)``: format from the suffix (.jpg .png .webp .gif .tif ...)
* ``write_sixteen_bit_png(path, size=(200, 150), seed=0)``: 16-bit greyscale (Pillow mode I;16), values to 1000
* ``write_exif_rotated_jpeg(path, seed=0)``: stored 600x400 with EXIF orientation 6: displayed 400x600
* ``write_malformed_exif_png(path)``: a 155-byte PNG whose eXIf IFD has impossible tag types
  (Pillow's EXIF rewrite raised ``struct.error`` on it)
* ``write_two_page_tiff(path, seed=0)``: 2 pages, the second without ImageWidth (Pillow raised ``TypeError``
  counting its frames)
* ``write_truncated_jpeg(path, seed=0)``: the first third of a JPEG (a half-copied file)
* ``write_decompression_bomb(path, width=20000, height=20000)``: a PNG whose header claims 400 MP
* ``write_dng(path, preview=(1024, 768), seed=0, orientation=1)``: a minimal valid DNG: a 160x120 RGB
  thumbnail as its first TIFF page, a 16-bit CFA raw SubIFD and, unless ``preview`` is None, a JPEG preview
  SubIFD of that size
* ``write_heic(path, seed=0)``, ``write_avif(path, seed=0)``, ``write_jxl(path, seed=0)``: real files when
  pillow-heif / Pillow's AVIF / pillow-jxl-plugin can write them, else a stub with the format's signature
* ``make_fifo(path)``, ``make_socket(path)``, ``make_device(path)`` (None where the OS refuses),
  ``make_symlink_loop(path)``, ``make_broken_symlink(path)``
* ``os_name(folder, raw)``: the path of a file whose name is the raw bytes ``raw`` (e.g. ``b"caf\\xe9.png"``,
  Latin-1, not UTF-8), as ``os.fsdecode`` gives it (a str with a lone surrogate)

Folders with every kind and the exact outcome of each file:

* ``hostile_corpus(folder, seed=0) -> Corpus``: the hostile inputs (every kind of bad file), flat, plus two good files
* ``messy_export_folder(folder, seed=0) -> Corpus``: a photographer's export tree (RAW next to JPEG, sidecars,
  phone formats, subfolders, hidden files, a half-copied file, non-UTF-8 names, symlinks, a FIFO...)
* ``Corpus``: ``root``, ``cases`` (``Case(name, path, expected)``), ``by_path()``, ``vanish()`` (deletes the files
  meant to disappear mid-run; call it between collecting and decoding), ``outside`` (files outside ``root``
  that links point to)
* ``Expected(status, kind=None, label=None, decoder=None, size=None, warning=None)``: ``status`` is scored,
  failed, passed_over or gone; ``kind`` the error / passed-over kind; ``label`` the summary label;
  ``decoder``/``size``/``warning`` what a scored file's decoded image must say
* ``observe(targets, options=None, before_decode=None) -> dict[str, Observed]``: what ``collect_images`` +
  ``decode_many`` make of each file (keyed by the path as the OS gives it)
* ``bounded(func, seconds=30)``: run ``func`` in a thread; fail the test instead of hanging the suite

Expectations that depend on optional decoders (rawpy, pillow-heif, pillow-jxl-plugin) are computed from
``artimuse_core.decoders.available`` when the corpus is built.
"""

from __future__ import annotations

import functools
import io
import os
import stat
import struct
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from artimuse_core import decoders
from artimuse_core.errors import ImageError
from artimuse_core.files import collect_images, outcome_status, passed_over_label
from artimuse_core.images import DecodedImage, ImageOptions, decode_many


# ------------------------------------------------------------------------------------------ pixels
def photo_pixels(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 that looks and compresses like a photo: a sky-to-ground gradient, a few soft discs
    and fine grain, all drawn from ``seed`` (a fresh copy: the drawing is made once per process)."""
    return _photo_pixels(tuple(size), seed).copy()


@functools.lru_cache(maxsize=32)
def _photo_pixels(size: tuple[int, int], seed: int) -> np.ndarray:
    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    top, bottom = rng.uniform(40, 230, 3), rng.uniform(10, 200, 3)
    t = (y / max(height - 1, 1))[..., None]
    image = top * (1 - t) + bottom * t
    for _ in range(int(rng.integers(2, 5))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.1, 0.35) * min(width, height) + 1
        mask = np.clip(1.5 - np.hypot(x - cx, y - cy) / radius, 0, 1)[..., None]
        image = image * (1 - mask) + rng.uniform(0, 255, 3) * mask
    image += rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_photo(path: Path, size: tuple[int, int] = (320, 240), seed: int = 0, **save) -> Path:
    """A synthetic photo in the format the suffix names (Pillow's writers)."""
    image = Image.fromarray(photo_pixels(size, seed))
    if Path(path).suffix.lower() == ".gif":
        image = image.convert("P")
    image.save(path, **save)
    return Path(path)


def write_sixteen_bit_png(path: Path, size: tuple[int, int] = (200, 150), seed: int = 0) -> Path:
    """A 16-bit greyscale PNG (mode I;16) with values 0..1000: the reference clips most of it to white."""
    grey = photo_pixels(size, seed).mean(axis=2) * (1000 / 255)
    Image.fromarray(grey.astype(np.uint16)).save(path)
    return Path(path)


def write_exif_rotated_jpeg(path: Path, seed: int = 0) -> Path:
    """Stored 600x400, EXIF orientation 6 ("rotate 90 clockwise to display"): displayed 400x600."""
    upright = Image.fromarray(photo_pixels((400, 600), seed))
    exif = Image.Exif()
    exif[0x0112] = 6
    upright.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=92)
    return Path(path)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_malformed_exif_png(path: Path) -> Path:
    """A 4x4 PNG (155 bytes) whose eXIf IFD holds orientation 6 and two tags with impossible types (a
    DOUBLE JPEGInterchangeFormat, an UNDEFINED YCbCrCoefficients): ``ImageOps.exif_transpose`` raised
    ``struct.error`` rewriting it. The pixels are fine; the picture is 4x4 displayed."""
    entries = [
        struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0),  # Orientation SHORT 6
        struct.pack(">HHII", 0x0202, 14, 3, 26),  # impossible type 14
        struct.pack(">HHII", 0x0213, 7, 3, 26),
    ]  # YCbCrPositioning as UNDEFINED x3
    exif = (
        b"MM\x00\x2a\x00\x00\x00\x08"
        + struct.pack(">H", len(entries))
        + b"".join(entries)
        + b"\x00\x00\x00\x00"
        + bytes.fromhex("5b95e4e83781234823c1189ecc40fc")
    )
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + bytes([40 * r] * 12) for r in range(4)))
    Path(path).write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"eXIf", exif)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )
    return Path(path)


def write_two_page_tiff(path: Path, seed: int = 0) -> Path:
    """A 64x48 two-page TIFF whose second page has no ImageWidth tag (renamed to a private tag)."""
    image = Image.fromarray(photo_pixels((64, 48), seed))
    buffer = io.BytesIO()
    image.save(buffer, "TIFF", save_all=True, append_images=[image])
    data = bytearray(buffer.getvalue())
    first = struct.unpack_from("<I", data, 4)[0]
    second = struct.unpack_from("<I", data, first + 2 + 12 * struct.unpack_from("<H", data, first)[0])[0]
    for k in range(struct.unpack_from("<H", data, second)[0]):
        entry = second + 2 + 12 * k
        if struct.unpack_from("<H", data, entry)[0] == 256:
            struct.pack_into("<H", data, entry, 0xC000)
    Path(path).write_bytes(bytes(data))
    return Path(path)


def write_truncated_jpeg(path: Path, seed: int = 0) -> Path:
    """The first third of a 640x480 JPEG: what a copy still in progress looks like."""
    buffer = io.BytesIO()
    Image.fromarray(photo_pixels((640, 480), seed)).save(buffer, "JPEG", quality=90)
    Path(path).write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 3])
    return Path(path)


def write_decompression_bomb(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A PNG of a few dozen bytes whose header claims width x height pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    Path(path).write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )
    return Path(path)


# ---------------------------------------------------------------------------------------- RAW (DNG)
class _TiffWriter:
    """Little-endian TIFF: image data blobs first, then IFDs (out-of-line values right after each)."""

    _TYPES = {"B": (1, "B"), "A": (2, None), "H": (3, "H"), "L": (4, "I"), "SR": (10, "ii")}

    def __init__(self):
        self.data = bytearray(b"II*\x00\x00\x00\x00\x00")

    def blob(self, payload: bytes) -> int:
        if len(self.data) % 2:
            self.data += b"\x00"
        offset = len(self.data)
        self.data += payload
        return offset

    def ifd(self, entries: list[tuple[int, str, object]]) -> int:
        if len(self.data) % 2:
            self.data += b"\x00"
        entries = sorted(entries, key=lambda e: e[0])
        offset = len(self.data)
        extra_at = offset + 2 + 12 * len(entries) + 4
        head, extra = bytearray(struct.pack("<H", len(entries))), bytearray()
        for tag, kind, value in entries:
            code, fmt = self._TYPES[kind]
            if kind == "A":
                raw, count = value.encode("ascii") + b"\x00", len(value) + 1
            else:
                values = list(value) if isinstance(value, (list, tuple)) else [value]
                flat = [x for v in values for x in (v if isinstance(v, tuple) else (v,))]
                raw, count = struct.pack("<" + fmt[0] * len(flat), *flat), len(values)
            if len(raw) <= 4:
                head += struct.pack("<HHI", tag, code, count) + raw.ljust(4, b"\x00")
            else:
                head += struct.pack("<HHII", tag, code, count, extra_at + len(extra))
                extra += raw + b"\x00" * (len(raw) % 2)
        self.data += head + struct.pack("<I", 0) + extra
        return offset

    def finish(self, first_ifd: int) -> bytes:
        struct.pack_into("<I", self.data, 4, first_ifd)
        return bytes(self.data)


def write_dng(path: Path, preview: tuple[int, int] | None = (1024, 768), seed: int = 0, orientation: int = 1) -> Path:
    """A minimal valid DNG 1.4 that LibRaw opens: IFD0 is a 160x120 RGB thumbnail (what Pillow shows as
    the "image"), SubIFD 1 a 256x192 16-bit RGGB CFA raw, SubIFD 2 (unless ``preview`` is None) a baseline
    JPEG preview of ``preview`` pixels (NewSubFileType 1, YCbCr, sRGB), as cameras and converters embed.
    ``orientation`` is the TIFF/EXIF Orientation tag of the photo (6: turn 90 degrees clockwise)."""
    Path(path).write_bytes(_dng_bytes(tuple(preview) if preview else None, seed, orientation))
    return Path(path)


@functools.lru_cache(maxsize=16)
def _dng_bytes(preview: tuple[int, int] | None, seed: int, orientation: int) -> bytes:
    """The file ``write_dng`` writes (encoded once per process for each set of arguments)."""
    rng = np.random.default_rng(seed)
    tiff = _TiffWriter()
    thumb = photo_pixels((160, 120), seed)
    thumb_at = tiff.blob(thumb.tobytes())
    cfa = rng.integers(0, 4000, (192, 256)).astype("<u2")
    cfa_at = tiff.blob(cfa.tobytes())
    subs = [
        tiff.ifd(
            [
                (254, "L", 0),
                (256, "L", 256),
                (257, "L", 192),
                (258, "H", 16),
                (259, "H", 1),
                (262, "H", 32803),
                (273, "L", cfa_at),
                (277, "H", 1),
                (278, "L", 192),
                (279, "L", cfa.nbytes),
                (284, "H", 1),
                (33421, "H", [2, 2]),
                (33422, "B", [0, 1, 1, 2]),
                (50714, "L", 0),
                (50717, "L", 4095),
            ]
        )
    ]
    if preview:
        buffer = io.BytesIO()
        Image.fromarray(photo_pixels(preview, seed + 1)).save(buffer, "JPEG", quality=85)
        jpeg = buffer.getvalue()
        jpeg_at = tiff.blob(jpeg)
        subs.append(
            tiff.ifd(
                [
                    (254, "L", 1),
                    (256, "L", preview[0]),
                    (257, "L", preview[1]),
                    (258, "H", [8, 8, 8]),
                    (259, "H", 7),
                    (262, "H", 6),
                    (273, "L", jpeg_at),
                    (277, "H", 3),
                    (278, "L", preview[1]),
                    (279, "L", len(jpeg)),
                    (284, "H", 1),
                    (50970, "L", 2),
                ]
            )
        )
    identity = [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)]
    ifd0 = tiff.ifd(
        [
            (254, "L", 1),
            (256, "L", 160),
            (257, "L", 120),
            (258, "H", [8, 8, 8]),
            (259, "H", 1),
            (262, "H", 2),
            (271, "A", "ArtiMuse"),
            (272, "A", "Test Camera"),
            (273, "L", thumb_at),
            (274, "H", orientation),
            (277, "H", 3),
            (278, "L", 120),
            (279, "L", thumb.nbytes),
            (284, "H", 1),
            (330, "L", subs),
            (50706, "B", [1, 4, 0, 0]),
            (50707, "B", [1, 1, 0, 0]),
            (50708, "A", "ArtiMuse Test Camera"),
            (50721, "SR", identity),
            (50778, "H", 21),
        ]
    )
    return tiff.finish(ifd0)


# ------------------------------------------------------------------------------- phone / new formats
_HEIC_STUB = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
_JXL_STUB = b"\xff\x0a" + bytes(64)


def write_heic(path: Path, seed: int = 0, size: tuple[int, int] = (320, 240)) -> Path:
    """A real HEIC (HEVC) through pillow-heif, or a stub with the HEIC signature when it is absent."""
    Path(path).write_bytes(_heic_bytes(seed, tuple(size)) if decoders.available("heif") else _HEIC_STUB)
    return Path(path)


@functools.lru_cache(maxsize=16)
def _heic_bytes(seed: int, size: tuple[int, int]) -> bytes:
    """A real HEIC's bytes (HEVC encoding takes a quarter of a second: done once per process)."""
    import pillow_heif

    buffer = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(photo_pixels(size, seed))).save(buffer, quality=85)
    return buffer.getvalue()


def write_avif(path: Path, seed: int = 0, size: tuple[int, int] = (320, 240)) -> Path:
    """An AVIF through Pillow's own writer."""
    Image.fromarray(photo_pixels(size, seed)).save(path, "AVIF", quality=80)
    return Path(path)


def write_jxl(path: Path, seed: int = 0, size: tuple[int, int] = (320, 240)) -> Path:
    """A real JPEG XL through pillow-jxl-plugin, or a stub with the JPEG XL signature when it is absent."""
    Path(path).write_bytes(_jxl_bytes(seed, tuple(size)) if decoders.available("jxl") else _JXL_STUB)
    return Path(path)


@functools.lru_cache(maxsize=16)
def _jxl_bytes(seed: int, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo_pixels(size, seed)).save(buffer, "JXL", quality=85)
    return buffer.getvalue()


# ------------------------------------------------------------------------------- special file kinds
def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return Path(path)


def make_socket(path: Path) -> Path:
    """A UNIX socket file (``mknod``: no listening socket, no path-length limit)."""
    os.mknod(path, stat.S_IFSOCK | 0o600)
    return Path(path)


def make_device(path: Path) -> Path | None:
    """A character device node (/dev/null's numbers), or None where the OS refuses (no CAP_MKNOD)."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except (PermissionError, OSError):
        return None
    return Path(path)


def make_symlink_loop(path: Path) -> Path:
    """``ln -s x.jpg x.jpg``: a link to itself."""
    os.symlink(Path(path).name, path)
    return Path(path)


def make_broken_symlink(path: Path) -> Path:
    os.symlink(Path(path).name + ".missing", path)
    return Path(path)


def os_name(folder: Path, raw: bytes) -> Path:
    """``folder / raw`` for a name given as raw bytes (not UTF-8), as ``os.fsdecode`` gives it."""
    return Path(folder) / os.fsdecode(raw)


# --------------------------------------------------------------------------------- expected outcomes
@dataclass(frozen=True)
class Expected:
    status: str  # scored | failed | passed_over | gone
    kind: str | None = None
    label: str | None = None
    decoder: str | None = None
    size: tuple[int, int] | None = None
    warning: str | None = None  # a substring of one of the decoded image's warnings


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    expected: Expected


@dataclass
class Corpus:
    root: Path
    cases: list[Case] = field(default_factory=list)
    outside: list[Path] = field(default_factory=list)
    _vanishing: list[Path] = field(default_factory=list)

    def add(self, name: str, path: Path | None, expected: Expected) -> None:
        if path is not None:
            self.cases.append(Case(name, Path(path), expected))

    def by_path(self) -> dict[str, Case]:
        return {os.fspath(c.path): c for c in self.cases}

    def by_name(self) -> dict[str, Case]:
        return {c.name: c for c in self.cases}

    def vanish(self) -> None:
        """Delete the files meant to disappear mid-run (between collecting and decoding)."""
        for path in self._vanishing:
            path.unlink(missing_ok=True)


def _scored(decoder: str = "pillow", size=None, warning=None) -> Expected:
    return Expected("scored", decoder=decoder, size=size, warning=warning)


def _optional(family: str, decoder: str, size=None) -> Expected:
    if decoders.available(family):
        return _scored(decoder, size)
    return Expected("passed_over", "no_decoder", decoders.FAMILIES[family].label)


def _raw(size=None, thumbnail_only: bool = False) -> Expected:
    if not decoders.available("raw"):
        return Expected("passed_over", "no_decoder", "RAW")
    if thumbnail_only:
        return Expected("passed_over", "thumbnail_only", "RAW thumbnail only")
    return _scored("raw-preview", size)


def hostile_corpus(folder: Path, seed: int = 0) -> Corpus:
    """The hostile inputs (every kind of bad or odd file a walk can meet) in one flat folder, each with its
    exact outcome when the folder is walked; two good files that must still score."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(root)
    add = corpus.add
    add("good_jpeg", write_photo(root / "good.jpg", (320, 240), seed), _scored(size=(320, 240)))
    add("good_png", write_photo(root / "good2.png", (200, 300), seed + 1), _scored(size=(200, 300)))
    add("malformed_exif_png", write_malformed_exif_png(root / "exif_ifd.png"), _scored(size=(4, 4)))
    add("two_page_tiff", write_two_page_tiff(root / "two_pages.tif", seed), _scored(size=(64, 48)))
    add("truncated_jpeg", write_truncated_jpeg(root / "half_copied.jpg", seed), Expected("failed", "corrupt"))
    add("zero_bytes", _touch(root / "empty.jpg"), Expected("failed", "empty"))
    add("decompression_bomb", write_decompression_bomb(root / "bomb.png"), Expected("failed", "too_large"))
    add("text_named_jpg", _text(root / "notes.jpg"), Expected("failed", "not_an_image"))
    add("garbage_png", _garbage_png(root / "garbage.png", seed), Expected("failed", "corrupt"))
    add("symlink_loop", make_symlink_loop(root / "loop.jpg"), Expected("failed", "symlink_loop"))
    add("broken_symlink", make_broken_symlink(root / "dangling.jpg"), Expected("failed", "broken_symlink"))
    add("fifo", make_fifo(root / "pipe.jpg"), Expected("passed_over", "special", "FIFO"))
    add("socket", make_socket(root / "sock.png"), Expected("passed_over", "special", "socket"))
    add("device", make_device(root / "device.jpg"), Expected("passed_over", "special", "device"))
    add("non_utf8_good", write_photo(os_name(root, b"caf\xe9.png"), (120, 90), seed + 2), _scored(size=(120, 90)))
    add(
        "non_utf8_broken", write_truncated_jpeg(os_name(root, b"r\xe9sum\xe9.jpg"), seed), Expected("failed", "corrupt")
    )
    add("non_utf8_text", _text(os_name(root, b"l\xe9gende.txt")), Expected("passed_over", "not_an_image_name", ".txt"))
    add("text", _text(root / "readme.txt"), Expected("passed_over", "not_an_image_name", ".txt"))
    add(
        "sixteen_bit_png",
        write_sixteen_bit_png(root / "scan16.png", seed=seed),
        _scored(size=(200, 150), warning="16-bit"),
    )
    add("exif_rotated_jpeg", write_exif_rotated_jpeg(root / "rotated.jpg", seed), _scored(size=(400, 600)))
    add("dng_preview", write_dng(root / "IMG_0001.dng", (1024, 768), seed), _raw(size=(1024, 768)))
    add("dng_thumbnail_only", write_dng(root / "IMG_0002.dng", None, seed), _raw(thumbnail_only=True))
    add("heic", write_heic(root / "IMG_1001.HEIC", seed), _optional("heif", "pillow-heif", (320, 240)))
    add("jxl", write_jxl(root / "render.jxl", seed), _optional("jxl", "pillow-jxl", (320, 240)))
    add("hidden", write_photo(root / ".hidden.jpg", (64, 64), seed), Expected("passed_over", "hidden", "hidden"))
    outside_dir = root.parent / f"{root.name}-outside"
    outside_dir.mkdir(exist_ok=True)
    corpus.outside.append(write_photo(outside_dir / "elsewhere.jpg", (64, 64), seed))
    os.symlink(corpus.outside[0], root / "outside.jpg")
    add("symlink_outside", root / "outside.jpg", Expected("passed_over", "outside", "symlink outside"))
    vanishing = write_photo(root / "vanishing.jpg", (64, 64), seed + 3)
    corpus._vanishing.append(vanishing)
    add("vanishes_mid_run", vanishing, Expected("gone", "gone"))
    return corpus


def messy_export_folder(folder: Path, seed: int = 0) -> Corpus:
    """A photographer's export tree: a shoot with RAW+JPEG pairs and sidecars, a phone folder (HEIC, AVIF,
    JPEG XL), exports in every Pillow format, non-UTF-8 names, junk, hidden files and folders, a half-copied
    file, symlinks (inside, outside, to a folder, a loop) and a FIFO; every file with its exact outcome."""
    root = Path(folder)
    corpus = Corpus(root)
    add = corpus.add
    rng = np.random.default_rng(seed)
    shoot, phone, exports = root / "2026-11-28 Wedding", root / "phone", root / "exports"
    for sub in (shoot, phone, exports, root / ".thumbnails", root / "links"):
        sub.mkdir(parents=True, exist_ok=True)
    for i in range(1, 4):
        size = (int(rng.integers(300, 500)), int(rng.integers(200, 400)))
        add(f"shoot_jpeg_{i}", write_photo(shoot / f"IMG_000{i}.JPG", size, seed + i, quality=90), _scored(size=size))
        add(
            f"shoot_xmp_{i}",
            _text(shoot / f"IMG_000{i}.xmp", "<x:xmpmeta/>"),
            Expected("passed_over", "not_an_image_name", ".xmp"),
        )
    add("raw_cr2", write_dng(shoot / "IMG_0001.CR2", (900, 600), seed), _raw(size=(900, 600)))
    add("raw_nef", write_dng(shoot / "IMG_0002.NEF", (640, 480), seed + 1), _raw(size=(640, 480)))
    add("raw_dng_thumb", write_dng(shoot / "IMG_0003.dng", None, seed + 2), _raw(thumbnail_only=True))
    add("exif_rotated", write_exif_rotated_jpeg(shoot / "IMG_0004.jpg", seed), _scored(size=(400, 600)))
    add(
        "partial_download",
        write_photo(shoot / "IMG_0005.jpg.part", (100, 80), seed, format="JPEG"),
        Expected("passed_over", "not_an_image_name", ".part"),
    )
    add("half_copied", write_truncated_jpeg(shoot / "IMG_0006.jpg", seed), Expected("failed", "corrupt"))
    add("zero_bytes", _touch(shoot / "IMG_0007.jpg"), Expected("failed", "empty"))
    add("ds_store", _text(shoot / ".DS_Store", "\x00\x00\x00\x01Bud1"), Expected("passed_over", "hidden", "hidden"))
    add("heic", write_heic(phone / "IMG_1001.HEIC", seed), _optional("heif", "pillow-heif", (320, 240)))
    add("avif", write_avif(phone / "IMG_1002.avif", seed), _scored(size=(320, 240)))
    add("jxl", write_jxl(phone / "IMG_1003.jxl", seed), _optional("jxl", "pillow-jxl", (320, 240)))
    for name, size in (
        ("render.webp", (300, 200)),
        ("poster.gif", (150, 200)),
        ("scan.tif", (240, 180)),
        ("logo.bmp", (64, 64)),
        ("frame.png", (256, 144)),
    ):
        add(f"export_{name}", write_photo(exports / name, size, seed), _scored(size=size))
    add(
        "sixteen_bit",
        write_sixteen_bit_png(exports / "scan16.png", seed=seed),
        _scored(size=(200, 150), warning="16-bit"),
    )
    add("two_page_tiff", write_two_page_tiff(exports / "layers.tiff", seed), _scored(size=(64, 48)))
    add("malformed_exif", write_malformed_exif_png(exports / "exif.png"), _scored(size=(4, 4)))
    add("non_utf8_good", write_photo(os_name(exports, b"caf\xe9.jpg"), (160, 120), seed), _scored(size=(160, 120)))
    add(
        "non_utf8_broken", write_truncated_jpeg(os_name(exports, b"\xc9t\xe9.jpg"), seed), Expected("failed", "corrupt")
    )
    add("notes", _text(exports / "notes.txt"), Expected("passed_over", "not_an_image_name", ".txt"))
    add("thumbs_db", _text(exports / "Thumbs.db", "\x00"), Expected("passed_over", "not_an_image_name", ".db"))
    add("bomb", write_decompression_bomb(exports / "panorama.png"), Expected("failed", "too_large"))
    add("hidden_folder", root / ".thumbnails", Expected("passed_over", "hidden", "hidden"))
    write_photo(root / ".thumbnails" / "t1.jpg", (32, 32), seed)  # inside a hidden folder: never seen
    os.symlink("../exports/render.webp", root / "links" / "best.webp")
    add("symlink_inside", root / "links" / "best.webp", _scored(size=(300, 200)))
    os.symlink("../phone", root / "links" / "phone")
    add("symlinked_folder", root / "links" / "phone", Expected("passed_over", "symlinked_folder", "symlinked folder"))
    outside_dir = root.parent / f"{root.name}-outside"
    outside_dir.mkdir(exist_ok=True)
    corpus.outside.append(write_photo(outside_dir / "private.jpg", (64, 64), seed))
    os.symlink(corpus.outside[0], root / "links" / "private.jpg")
    add("symlink_outside", root / "links" / "private.jpg", Expected("passed_over", "outside", "symlink outside"))
    add("symlink_loop", make_symlink_loop(root / "links" / "loop.jpg"), Expected("failed", "symlink_loop"))
    add("fifo", make_fifo(root / "links" / "pipe.jpg"), Expected("passed_over", "special", "FIFO"))
    vanishing = write_photo(shoot / "IMG_0008.jpg", (64, 64), seed)
    corpus._vanishing.append(vanishing)
    add("vanishes_mid_run", vanishing, Expected("gone", "gone"))
    return corpus


def _touch(path: Path) -> Path:
    Path(path).write_bytes(b"")
    return Path(path)


def _text(path: Path, text: str = "not a picture\n") -> Path:
    Path(path).write_text(text, encoding="utf-8")
    return Path(path)


def _garbage_png(path: Path, seed: int) -> Path:
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + np.random.default_rng(seed).bytes(512))
    return Path(path)


# ------------------------------------------------------------------------------------------ observe
@dataclass(frozen=True)
class Observed:
    """What the product made of one file: its status and kind, and the decoded image when it scored."""

    status: str
    kind: str | None = None
    label: str | None = None
    message: str | None = None
    decoded: DecodedImage | None = None


def observe(
    targets: Iterable[str | os.PathLike],
    options: ImageOptions | None = None,
    before_decode: Callable[[], None] | None = None,
) -> dict[str, Observed]:
    """Collect ``targets`` and decode every file collected (``before_decode`` runs in between, e.g.
    ``Corpus.vanish``); return each file's outcome keyed by its path as the OS gives it."""
    collected = collect_images(list(targets))
    seen: dict[str, Observed] = {}
    for path, kind, message in collected.problems:
        seen[path] = Observed("failed", kind, message=message)
    for item in collected.passed_over:
        seen[item.path] = Observed("passed_over", item.kind, item.label, item.message)
    if before_decode:
        before_decode()
    for source, item in zip(collected.files, decode_many(collected.files, options or ImageOptions())):
        key = os.fspath(source)
        if isinstance(item, ImageError):
            status = outcome_status(False, item.kind)
            label = passed_over_label(item.kind, key) if status == "passed_over" else None
            seen[key] = Observed(status, item.kind, label, str(item))
        else:
            seen[key] = Observed("scored", decoded=item)
    return seen


def bounded(func: Callable[[], object], seconds: float = 30):
    """Run ``func`` in a daemon thread; fail (``AssertionError``) instead of hanging the suite if it has
    not returned after ``seconds``. Exceptions it raises are raised here."""
    box: dict = {}

    def run():
        try:
            box["value"] = func()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True, name="bounded-test-call")
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (it would hang a real run)"
    if "error" in box:
        raise box["error"]
    return box.get("value")
