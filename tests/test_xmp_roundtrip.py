"""Round trip with a photo manager: 30 images rated 1-5 stars with exiftool (stars follow colour warmth, as
in test_finetune), in darktable sidecars, Lightroom sidecars and embedded XMP; `artimuse ratings import`;
`artimuse finetune --from-db --rating-source xmp` on the tiny model: the held-out SRCC rises.

Run with ``-s`` to see the before/after figures."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from artimuse_cli.main import cli
from artimuse_core.library import Library
from tests.test_xmp import DARKTABLE_CONFIG, EXIFTOOL, ExifTool

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(EXIFTOOL is None, reason="needs exiftool (apt install libimage-exiftool-perl)"),
]
TRAIN_ARGS = ["--epochs", "16", "--rank", "8", "--lr", "1e-2", "--micro-batch", "4", "--grad-accum", "2"]
TRAIN_ARGS += ["--min-ratings", "10", "--val-split", "0.3", "--seed", "0"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def rated_with_exiftool(tmp_path_factory):
    root = tmp_path_factory.mktemp("roundtrip")
    photos = root / "photos"
    photos.mkdir()
    config = root / "darktable.config"
    config.write_text(DARKTABLE_CONFIG)
    tool = ExifTool(config)
    old = os.environ.get("ARTIMUSE_HOME")
    os.environ["ARTIMUSE_HOME"] = str(root / "home")
    rng = np.random.default_rng(0)
    warmth = rng.uniform(-0.2, 0.2, 30)
    stars = 1 + np.argsort(np.argsort(warmth)) * 5 // 30  # quintiles of warmth: six images per star
    expected = {}
    for i in range(30):
        grey = rng.uniform(0.25, 0.75)
        pixels = np.clip(rng.normal(grey, 0.08, (64, 64, 3)), 0, 1)
        pixels[..., 0] += warmth[i]
        pixels[..., 2] -= warmth[i]
        path = photos / f"DSC_{i:04d}.jpg"
        Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(path, quality=95)
        rating = f"-XMP-xmp:Rating={stars[i]}"
        if i % 3 == 0:
            tool("-q", "-o", photos / f"DSC_{i:04d}.jpg.xmp", rating)  # darktable / digiKam
        elif i % 3 == 1:
            tool("-q", "-o", photos / f"DSC_{i:04d}.xmp", rating)  # Lightroom / Capture One
        else:
            tool("-q", "-overwrite_original", rating, path)  # embedded
        expected[str(path)] = int(stars[i])
    noise = root / "noise"  # hand ratings elsewhere that contradict warmth: --rating-source xmp leaves them out
    noise.mkdir()
    library = Library()
    for i in range(6):
        path = noise / f"n{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
        library.rate(path, stars=float(1 + i % 5))
    tool.close()
    yield photos, expected
    if old is not None:
        os.environ["ARTIMUSE_HOME"] = old


def test_stars_from_a_photo_manager_teach_the_model(rated_with_exiftool, tiny_chat):
    photos, expected = rated_with_exiftool
    imported = run("ratings", "import", photos, "--json")
    assert imported.exit_code == 0, imported.output
    out = json.loads(imported.stdout)
    assert out["counts"]["imported"] == 30 and out["counts"]["failed"] == {}
    sources = {r["source"] for r in out["files"] if r["status"] == "rated"}
    assert sources == {"xmp:darktable", "xmp:lightroom", "xmp:embedded"}
    stored = {r.path: r.stars for r in Library().ratings(sources=["xmp:darktable", "xmp:lightroom", "xmp:embedded"])}
    assert stored == {path: float(stars) for path, stars in expected.items()}

    trained = run(
        "finetune", "--from-db", "--rating-source", "xmp", "--name", "stars", "--model", tiny_chat, *TRAIN_ARGS,
        "--json",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    record = json.loads(trained.stdout)
    before, after = record["metrics"]["before"], record["metrics"]["after"]
    print(f"\nround trip: held-out SRCC {before['srcc']:.3f} -> {after['srcc']:.3f} (n={after['n']}), "
          f"PLCC {before['plcc']:.3f} -> {after['plcc']:.3f}, train {record['train_size']}")  # fmt: skip
    assert record["train_size"] + after["n"] == 30  # only the imported stars, not the 6 hand ratings
    assert after["srcc"] > before["srcc"] + 0.3 and after["srcc"] > 0.6, (before, after)
