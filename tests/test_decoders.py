"""Decoding what users export, and every way a file can fail, each as a typed error with the right value."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from artimuse_core import decoders
from artimuse_core.errors import (
    CorruptImage,
    EmptyFile,
    FileGone,
    ImageError,
    ImageTooLarge,
    NoDecoder,
    NotARegularFile,
    SymlinkLoop,
    ThumbnailOnly,
)
from artimuse_core.images import IMAGE_SIZE, ImageOptions, decode_many, default_decode_workers, normalise, open_rgb
from artimuse_core.paths import display_path
from tests import corpus

needs_rawpy = pytest.mark.skipif(not decoders.available("raw"), reason="rawpy is not installed")
needs_heif = pytest.mark.skipif(not decoders.available("heif"), reason="pillow-heif is not installed")
needs_jxl = pytest.mark.skipif(not decoders.available("jxl"), reason="pillow-jxl-plugin is not installed")


def _reference_pixels(image: Image.Image) -> np.ndarray:
    rgb = image.convert("RGB")
    if rgb.size != (IMAGE_SIZE, IMAGE_SIZE):
        rgb = rgb.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)
    return normalise(np.asarray(rgb, dtype=np.uint8))


# ----------------------------------------------------------------------------------------------- RAW
@needs_rawpy
def test_raw_is_scored_from_its_embedded_preview_not_its_thumbnail(tmp_path):
    dng = corpus.write_dng(tmp_path / "IMG_0001.dng", preview=(1024, 768))
    with Image.open(dng) as pillow_view:  # Pillow's own view: the small thumbnail, not the preview
        assert pillow_view.size == (160, 120)
    decoded = open_rgb(dng)
    assert (decoded.decoder, decoded.width, decoded.height) == ("raw-preview", 1024, 768)
    import rawpy

    with rawpy.imread(str(dng)) as raw:
        preview = Image.open(io.BytesIO(raw.extract_thumb().data))
        assert np.array_equal(decoded.pixel_values, _reference_pixels(preview))


@needs_rawpy
@pytest.mark.parametrize("orientation, size", [(1, (600, 450)), (6, (450, 600)), (3, (600, 450)), (8, (450, 600))])
def test_raw_preview_is_turned_upright_from_the_raw_orientation(tmp_path, orientation, size):
    dng = corpus.write_dng(tmp_path / f"o{orientation}.dng", preview=(600, 450), orientation=orientation)
    decoded = open_rgb(dng)
    assert (decoded.width, decoded.height) == size
    import rawpy

    with rawpy.imread(str(dng)) as raw:
        preview = Image.open(io.BytesIO(raw.extract_thumb().data))
    turn = {1: None, 6: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180, 8: Image.Transpose.ROTATE_90}
    upright = preview.transpose(turn[orientation]) if turn[orientation] else preview
    assert np.array_equal(decoded.pixel_values, _reference_pixels(upright))
    unturned = open_rgb(dng, ImageOptions(exif=False))
    assert (unturned.width, unturned.height) == (600, 450)


@needs_rawpy
def test_a_raw_with_only_a_thumbnail_is_passed_over_with_the_reason(tmp_path):
    with pytest.raises(ThumbnailOnly) as info:
        open_rgb(corpus.write_dng(tmp_path / "IMG_0002.dng", preview=None))
    assert info.value.passed_over and info.value.kind == "thumbnail_only"
    assert "160x120 thumbnail" in str(info.value) and "not scored as the photo" in str(info.value)


@needs_rawpy
def test_raw_names_are_read_by_libraw_whatever_pillow_thinks(tmp_path):
    # A camera RAW name is routed to LibRaw even where Pillow would open its TIFF structure.
    raw = corpus.write_dng(tmp_path / "IMG_0003.NEF", preview=(800, 600))
    assert open_rgb(raw).decoder == "raw-preview"
    renamed = tmp_path / "IMG_0003.tif"  # a DNG under a TIFF name is still read as a RAW file
    renamed.write_bytes(raw.read_bytes())
    assert (open_rgb(renamed).decoder, open_rgb(renamed).width) == ("raw-preview", 800)
    junk = tmp_path / "junk.cr2"
    junk.write_bytes(b"not a raw file at all" * 10)
    with pytest.raises(ImageError) as info:
        open_rgb(junk)
    assert info.value.kind in ("not_an_image", "corrupt")


def test_missing_decoders_pass_files_over_with_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(decoders, "available", lambda family: False)
    cases = {
        "IMG_0001.dng": ("RAW", "pip install rawpy"),
        "IMG_1001.heic": ("HEIC", "pillow-heif"),
        "render.jxl": ("JPEG XL", "pillow-jxl-plugin"),
    }
    corpus.write_dng(tmp_path / "IMG_0001.dng")
    (tmp_path / "IMG_1001.heic").write_bytes(corpus._HEIC_STUB)
    (tmp_path / "render.jxl").write_bytes(corpus._JXL_STUB)
    for name, (label, hint) in cases.items():
        with pytest.raises(NoDecoder) as info:
            open_rgb(tmp_path / name)
        assert info.value.passed_over and label in str(info.value) and hint in str(info.value)
        assert "not an image" not in str(info.value)
    corpus.write_dng(tmp_path / "IMG_0004.tif")  # a DNG under a TIFF name: not its 160x120 first page
    with pytest.raises(NoDecoder, match="RAW"):
        open_rgb(tmp_path / "IMG_0004.tif")
    # HEIC content under a .jpg name is recognised by its signature, not called "not an image".
    (tmp_path / "really_heic.jpg").write_bytes(corpus._HEIC_STUB)
    with pytest.raises(NoDecoder, match="HEIC"):
        open_rgb(tmp_path / "really_heic.jpg")


# -------------------------------------------------------------------------------- HEIC, AVIF, JPEG XL
@needs_heif
def test_heic_decodes_with_pillow_heif_even_under_a_jpg_name(tmp_path):
    heic = corpus.write_heic(tmp_path / "IMG_1001.HEIC", size=(320, 240))
    decoded = open_rgb(heic)
    assert (decoded.decoder, decoded.format, decoded.width, decoded.height) == ("pillow-heif", "HEIF", 320, 240)
    renamed = tmp_path / "IMG_1001.jpg"
    renamed.write_bytes(heic.read_bytes())
    assert np.array_equal(open_rgb(renamed).pixel_values, decoded.pixel_values)
    # Within HEVC's loss of the photo it was made from.
    original = _reference_pixels(Image.fromarray(corpus.photo_pixels((320, 240), 0)))
    assert np.abs(decoded.pixel_values - original).mean() < 0.1


def test_avif_decodes_with_pillows_own_decoder(tmp_path):
    decoded = open_rgb(corpus.write_avif(tmp_path / "IMG_1002.avif", size=(320, 240)))
    assert (decoded.decoder, decoded.format, decoded.width, decoded.height) == ("pillow", "AVIF", 320, 240)


@needs_jxl
def test_jpeg_xl_decodes_and_its_size_is_read_from_the_header_first(tmp_path):
    decoded = open_rgb(corpus.write_jxl(tmp_path / "render.jxl", size=(320, 240)))
    assert (decoded.decoder, decoded.width, decoded.height) == ("pillow-jxl", 320, 240)
    # Every SizeHeader form: small (multiples of 8), 9/13/18-bit heights and widths (30 bits: the bomb
    # test), each aspect ratio code.
    for size in [
        (1, 1),
        (8, 8),
        (64, 256),
        (2000, 1),
        (333, 444),
        (9000, 2),
        (1, 600),
        (2, 9000),
        (160, 90),
        (120, 80),
        (40, 30),
        (96, 80),
        (24, 20),
        (12, 10),
        (200, 100),
    ]:
        buffer = io.BytesIO()
        Image.new("L", size).save(buffer, "JXL")
        assert decoders.jxl_size(buffer.getvalue()) == size
    exif = Image.Exif()
    exif[0x0112] = 1
    buffer = io.BytesIO()
    Image.new("RGB", (130, 77)).save(buffer, "JXL", exif=exif.tobytes())  # the box container
    assert buffer.getvalue().startswith(b"\x00\x00\x00\x0cJXL ") and decoders.jxl_size(buffer.getvalue()) == (130, 77)


@needs_jxl
def test_a_jpeg_xl_bomb_is_refused_before_it_is_decoded(tmp_path):
    # SizeHeader: not small, height 100000 (U32 selector 3: 30 bits), ratio 1 (square): 10 gigapixels.
    bits = 0 | (3 << 1) | ((100000 - 1) << 3) | (1 << 33)
    bomb = tmp_path / "bomb.jxl"
    bomb.write_bytes(b"\xff\x0a" + bits.to_bytes(8, "little") + bytes(64))
    assert decoders.jxl_size(bomb.read_bytes()) == (100000, 100000)
    with pytest.raises(ImageTooLarge, match="100000x100000"):
        corpus.bounded(lambda: open_rgb(bomb))


# ------------------------------------------------------------------------------------ 16-bit images
def test_sixteen_bit_keeps_the_reference_conversion_with_a_warning_or_scales_on_request(tmp_path):
    path = corpus.write_sixteen_bit_png(tmp_path / "scan16.png", size=(200, 150))
    with Image.open(path) as image:
        assert image.mode == "I;16"
        values = np.asarray(image)
        reference = _reference_pixels(image)
    clipped = open_rgb(path)
    assert np.array_equal(clipped.pixel_values, reference)  # conformance a09 pins this conversion
    assert len(clipped.warnings) == 1 and "16-bit" in clipped.warnings[0] and "sixteen_bit" in clipped.warnings[0]
    assert f"{(values > 255).mean():.0%} of pixels clip to white" in clipped.warnings[0]
    scaled = open_rgb(path, ImageOptions(sixteen_bit="scale"))
    assert scaled.warnings == ()
    eight = ((values.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    assert np.array_equal(scaled.pixel_values, _reference_pixels(Image.fromarray(eight, "L")))
    with pytest.raises(ValueError, match="sixteen_bit"):
        ImageOptions(sixteen_bit="clip")


def test_eight_bit_images_carry_no_warning(mixed_images):
    assert all(open_rgb(p).warnings == () for p in mixed_images)


# ------------------------------------------------------------------------------- sizes and the limit
def test_exif_rotated_files_record_their_displayed_size(tmp_path):
    decoded = open_rgb(corpus.write_exif_rotated_jpeg(tmp_path / "rotated.jpg"))
    with Image.open(tmp_path / "rotated.jpg") as stored:
        assert stored.size == (600, 400)
    assert (decoded.width, decoded.height) == (400, 600)


def test_a_decompression_bomb_names_the_limit_and_the_setting(tmp_path):
    bomb = corpus.write_decompression_bomb(tmp_path / "bomb.png", 20000, 20000)
    with pytest.raises(ImageTooLarge) as info:
        open_rgb(bomb)
    message = str(info.value)
    assert "20000x20000 is 400 MP, over the 200 MP limit" in message and "max_pixels" in message
    assert "--max-pixels" not in message and "DOS attack" not in message
    # The setting moves the limit both ways.
    with pytest.raises(ImageTooLarge, match="over the 0 MP limit"):
        open_rgb(corpus.write_photo(tmp_path / "small.png", (64, 64)), ImageOptions(max_pixels=100))


def test_pillows_own_bomb_error_becomes_the_typed_error(tmp_path):
    # A TIFF whose header claims 15000x13000 (195 MP): under a raised max_pixels, Pillow's own check
    # (2 x PIL.Image.MAX_IMAGE_PIXELS, 179 MP) still stops it while loading; that is typed too.
    data = bytearray(b"II*\x00\x08\x00\x00\x00")
    entries = [
        (256, 4, 15000),
        (257, 4, 13000),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 200),
        (277, 3, 1),
        (278, 4, 13000),
        (279, 4, 16),
    ]
    data += struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        data += struct.pack("<HHI", tag, kind, 1) + (
            struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
        )
    data += b"\0\0\0\0"
    data = data.ljust(216, b"\0")
    (tmp_path / "huge.tif").write_bytes(bytes(data))
    with pytest.raises(ImageTooLarge, match="Pillow's own decompression-bomb limit"):
        open_rgb(tmp_path / "huge.tif", ImageOptions(max_pixels=300_000_000))
    with pytest.raises(ImageTooLarge, match="over the 100 MP limit .the max_pixels setting"):
        open_rgb(tmp_path / "huge.tif", ImageOptions(max_pixels=100_000_000))


# --------------------------------------------------------------------------- files that are not images
def test_zero_byte_files_are_their_own_kind(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(EmptyFile) as info:
        open_rgb(tmp_path / "empty.jpg")
    assert info.value.kind == "empty" and str(info.value).endswith("empty file (0 bytes)")


def test_fifos_sockets_and_devices_are_never_opened(tmp_path):
    special = [
        corpus.make_fifo(tmp_path / "pipe.jpg"),
        corpus.make_socket(tmp_path / "sock.png"),
        corpus.make_device(tmp_path / "null.jpg"),
    ]
    for path in filter(None, special):
        with pytest.raises(NotARegularFile) as info:
            corpus.bounded(lambda path=path: open_rgb(path), 10)  # opening a FIFO for reading blocks forever
        assert info.value.passed_over and "not a regular file; not opened" in str(info.value)


def test_links_and_vanished_files(tmp_path):
    with pytest.raises(SymlinkLoop):
        open_rgb(corpus.make_symlink_loop(tmp_path / "loop.jpg"))
    with pytest.raises(FileGone) as info:
        open_rgb(tmp_path / "deleted.jpg")
    assert info.value.kind == "gone"


def test_non_utf8_names_decode_and_print(tmp_path):
    good = corpus.write_photo(corpus.os_name(tmp_path, b"caf\xe9.png"), (50, 40))
    assert open_rgb(good).source == os.fspath(good)  # the path as given, to match results to inputs
    broken = corpus.write_truncated_jpeg(corpus.os_name(tmp_path, b"r\xe9sum\xe9.jpg"))
    with pytest.raises(CorruptImage) as info:
        open_rgb(broken)
    message = str(info.value)
    message.encode("utf-8")  # printable: no lone surrogates
    assert "r\\xe9sum\\xe9.jpg" in message and info.value.path == os.fspath(broken)


def test_display_path():
    assert display_path(os.fsdecode(b"/photos/caf\xe9.png")) == "/photos/caf\\xe9.png"
    assert display_path(b"/photos/caf\xe9.png") == "/photos/caf\\xe9.png"
    assert display_path("/photos/café.png") == "/photos/café.png"
    assert display_path("a\nb\tc.jpg") == "a\\nb\\tc.jpg"
    assert display_path(os.fsdecode(b"\xff\xfe.jpg")).isascii()


# --------------------------------------------------------------------------------- anything typed
@pytest.mark.parametrize(
    "exception",
    [
        KeyError("ImageWidth"),
        struct.error("unpack requires 4 bytes"),
        TypeError("bad operand"),
        RuntimeError("decoder"),
        AttributeError("x"),
    ],
)
def test_any_exception_while_decoding_becomes_the_files_corrupt_error(tmp_path, monkeypatch, exception):
    from PIL import PngImagePlugin

    path = corpus.write_photo(tmp_path / "a.png", (32, 32))

    def explode(self, *args, **kwargs):
        raise exception

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", explode)
    with pytest.raises(CorruptImage, match=type(exception).__name__):
        open_rgb(path)
    good = corpus.write_photo(tmp_path / "b.jpg", (32, 32))
    results = list(decode_many([path, good], workers=2))
    assert isinstance(results[0], CorruptImage) and not isinstance(results[1], ImageError)


def test_the_hostile_files_of_issue_12_now_score(tmp_path):
    # Before: struct.error escaped open_rgb (EXIF rewrite) and TypeError counting TIFF frames.
    exif = open_rgb(corpus.write_malformed_exif_png(tmp_path / "exif.png"))
    assert (exif.width, exif.height) == (4, 4)
    tiff = open_rgb(corpus.write_two_page_tiff(tmp_path / "two.tif"))
    with Image.open(tmp_path / "two.tif") as first_page:
        assert np.array_equal(tiff.pixel_values, _reference_pixels(first_page))


# ----------------------------------------------------------------------------------- decode_many
def test_decode_many_takes_its_worker_count_and_keeps_input_order(tmp_path, mixed_images):
    sources = list(mixed_images[:6]) + [tmp_path / "missing.png"]
    one = list(decode_many(sources, workers=1, lookahead=1))
    three = list(decode_many(sources, workers=3, lookahead=4))
    assert [getattr(r, "source", None) for r in one] == [getattr(r, "source", None) for r in three]
    assert all(np.array_equal(a.pixel_values, b.pixel_values) for a, b in zip(one[:6], three[:6]))
    assert isinstance(one[-1], FileGone) and default_decode_workers() >= 1


# ----------------------------------------------------------------------------------- host manners
HOST_MANNERS = """
import sys, warnings
from PIL import Image
limit = Image.MAX_IMAGE_PIXELS
import artimuse_core, artimuse_core.images as images, artimuse_core.files, artimuse_core.decoders
# (torch and scipy, imported by the package, add filters of their own: not ours to judge.)
assert not [f for f in warnings.filters if f[2] is Image.DecompressionBombWarning], "a bomb warning filter"
filters = list(warnings.filters)
for path in sys.argv[1:]:
    try:
        images.open_rgb(path)
    except artimuse_core.ImageError:
        pass
assert warnings.filters == filters, "decoding changed the warnings filters"
assert Image.MAX_IMAGE_PIXELS == limit, "decoding changed PIL.Image.MAX_IMAGE_PIXELS"
print("ok")
"""


@pytest.mark.slow  # a fresh interpreter importing torch: ~10-30 s on 2 busy cores
def test_importing_and_decoding_change_no_global_state(tmp_path):
    bomb = corpus.write_decompression_bomb(tmp_path / "bomb.png", 20000, 20000)
    photo = corpus.write_photo(tmp_path / "a.jpg", (64, 64))
    dng = corpus.write_dng(tmp_path / "a.dng")
    run = subprocess.run(
        [sys.executable, "-c", HOST_MANNERS, str(bomb), str(photo), str(dng)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_decoding_emits_no_decompression_bomb_warning_for_what_the_limit_allows(tmp_path):
    # Above Pillow's warning threshold (89 MP) but within ours: no warning reaches the host.
    bomb = corpus.write_decompression_bomb(tmp_path / "wide.png", 12000, 8000)  # 96 MP, header only
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CorruptImage):  # the header claims pixels its data does not hold
            open_rgb(bomb)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
