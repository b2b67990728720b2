"""Property test of the decode path: random byte flips and truncations of valid PNG, JPEG,
TIFF, WebP and GIF files never raise anything but the product's typed errors (``ImageError``).

A few hundred cases in the fast tier, thousands in ``slow``; both seeded by conftest's hypothesis profile.
Pillow's own warnings about the damaged headers it reads (bad metadata, absurd sizes) are expected here,
and filtered.
"""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from artimuse_core.errors import ImageError
from artimuse_core.images import DecodedImage, open_rgb
from tests.corpus import photo_pixels

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:PIL"),
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
]

FORMATS = {
    "png": ("PNG", {}),
    "jpg": ("JPEG", {"quality": 85}),
    "tif": ("TIFF", {}),
    "webp": ("WEBP", {"quality": 80}),
    "gif": ("GIF", {}),
    "tiff2": ("TIFF", {"save_all": True}),
}


def _valid(name: str) -> bytes:
    fmt, save = FORMATS[name]
    image = Image.fromarray(photo_pixels((48, 32), seed=len(name)))
    if fmt == "GIF":
        image = image.convert("P")
    if name == "tiff2":
        save = dict(save, append_images=[image.rotate(90, expand=True)])
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


VALID = {name: _valid(name) for name in FORMATS}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("fuzz"))


@st.composite
def damaged(draw):
    name = draw(st.sampled_from(sorted(VALID)))
    data = bytearray(VALID[name])
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return name, bytes(data)


def _check(folder: str, case) -> None:
    name, data = case
    path = _write(folder, name, data)
    try:
        result = open_rgb(path)
    except ImageError as exc:
        assert exc.kind and "\n" not in str(exc)
    else:
        assert isinstance(result, DecodedImage) and result.pixel_values.shape == (3, 448, 448)


# Seeded by conftest's profile (the same inputs every run of a commit; HYPOTHESIS_PROFILE=explore for new ones).
@settings(max_examples=300)
@given(damaged())
def test_damaged_files_raise_only_typed_errors(scratch, case):
    _check(scratch, case)


@pytest.mark.slow
@settings(max_examples=5000)
@given(damaged())
def test_damaged_files_raise_only_typed_errors_long_run(scratch, case):
    _check(scratch, case)


def test_the_valid_files_decode(scratch):
    for name, data in VALID.items():
        assert isinstance(open_rgb(_write(scratch, name, data)), DecodedImage)


def _write(folder: str, name: str, data: bytes) -> str:
    path = os.path.join(folder, f"case.{name}")
    with open(path, "wb") as handle:
        handle.write(data)
    return path
