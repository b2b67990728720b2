"""Preprocessing extras and bad input: each bad file gets a typed one-line error and the rest still score."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from artimuse_core import CorruptImage, ImageOptions, ImageTooLarge, NotAnImage
from artimuse_core.errors import UnreadableFile
from artimuse_core.images import open_rgb


def _png_header_only(path, width, height):
    """A PNG whose header claims width x height (a decompression bomb as far as anyone can tell)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, mixed_images):
    folder = tmp_path_factory.mktemp("bad")
    good = mixed_images[1].read_bytes()  # a JPEG
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (folder / "notes.jpg").write_text("this is not an image\n")
    _png_header_only(folder / "huge_20000.png", 20000, 20000)
    return folder


def test_each_bad_file_has_its_typed_error(bad_files):
    cases = {
        "truncated.jpg": CorruptImage,
        "garbage.png": CorruptImage,
        "notes.jpg": NotAnImage,
        "huge_20000.png": ImageTooLarge,
    }
    for name, error in cases.items():
        with pytest.raises(error) as info:
            open_rgb(bad_files / name)
        assert "\n" not in str(info.value) and name in str(info.value)
    with pytest.raises(UnreadableFile):
        open_rgb(bad_files / "does-not-exist.png")


def test_pixel_limit_is_configurable(mixed_images):
    with pytest.raises(ImageTooLarge, match="limit"):
        open_rgb(mixed_images[0], ImageOptions(max_pixels=100))


def test_bad_files_fail_alone_in_a_batch(engine, bad_files, mixed_images):
    sources = [
        mixed_images[0],
        bad_files / "truncated.jpg",
        mixed_images[2],
        bad_files / "notes.jpg",
        bad_files / "huge_20000.png",
        mixed_images[3],
    ]
    results = engine.score(sources)
    assert [r.path for r in results] == [str(s) for s in sources]
    assert [r.ok for r in results] == [True, False, True, False, False, True]
    assert [r.error_kind for r in results if not r.ok] == ["corrupt", "not_an_image", "too_large"]
    alone = engine.score([mixed_images[2]])[0]
    assert abs(alone.score - results[2].score) < 1e-4


def test_exif_orientation_is_applied(engine, tmp_path):
    rng = np.random.default_rng(3)
    upright = Image.fromarray(rng.integers(0, 255, (120, 200, 3), dtype=np.uint8))
    upright.save(tmp_path / "upright.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated; "rotate 90 CW to display"
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "tagged.jpg", exif=exif, quality=100, subsampling=0)
    upright.save(tmp_path / "upright.jpg", quality=100, subsampling=0)
    tagged = open_rgb(tmp_path / "tagged.jpg")
    # The size as displayed, not the stored 120x200; without EXIF, the stored size.
    assert (tagged.width, tagged.height) == (200, 120)
    assert open_rgb(tmp_path / "tagged.jpg", ImageOptions(exif=False)).width == 120
    decoded = np.abs(tagged.pixel_values - open_rgb(tmp_path / "upright.jpg").pixel_values).mean()
    raw = np.abs(
        open_rgb(tmp_path / "tagged.jpg", ImageOptions(exif=False)).pixel_values
        - open_rgb(tmp_path / "upright.jpg").pixel_values
    ).mean()
    assert decoded < 0.05 < raw


def test_animated_images_use_their_first_frame(tmp_path):
    frames = [Image.new("RGB", (64, 64), c) for c in ((250, 10, 10), (10, 250, 10))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    frames[0].save(tmp_path / "first.gif")
    assert np.array_equal(open_rgb(tmp_path / "anim.gif").pixel_values, open_rgb(tmp_path / "first.gif").pixel_values)


def test_alpha_is_dropped_by_default_and_composited_on_request(tmp_path):
    rgba = Image.new("RGBA", (32, 32), (200, 30, 30, 0))  # fully transparent, colour underneath
    rgba.save(tmp_path / "clear.png")
    dropped = open_rgb(tmp_path / "clear.png")
    white = open_rgb(tmp_path / "clear.png", ImageOptions(background=(255, 255, 255)))
    expected_red = (200 / 255 - 0.485) / 0.229
    assert abs(dropped.pixel_values[0].mean() - expected_red) < 1e-5
    assert abs(white.pixel_values[0].mean() - (1 - 0.485) / 0.229) < 1e-5


def test_jpeg_draft_decodes_at_a_smaller_scale_still_at_least_448(tmp_path):
    rng = np.random.default_rng(4)
    Image.fromarray(rng.integers(0, 255, (2000, 3000, 3), dtype=np.uint8)).save(tmp_path / "big.jpg")
    with Image.open(tmp_path / "big.jpg") as image:
        image.draft(None, (448, 448))
        assert min(image.size) >= 448 and image.size[0] < 3000
    exact = open_rgb(tmp_path / "big.jpg").pixel_values
    draft = open_rgb(tmp_path / "big.jpg", ImageOptions(jpeg_draft=True)).pixel_values
    assert draft.shape == exact.shape and not np.array_equal(draft, exact)


def test_in_memory_images_score_like_their_png(engine, tmp_path, mixed_images):
    image = Image.open(mixed_images[0]).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    (tmp_path / "same.png").write_bytes(buffer.getvalue())
    a, b = engine.score([image, tmp_path / "same.png"])
    assert abs(a.score - b.score) < 1e-6
