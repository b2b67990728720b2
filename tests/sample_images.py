"""The sample images shipped in ``samples/``: drawn here from seeded numpy noise and Pillow shapes, so the
repo can show its main job (``artimuse score samples/``) on pictures that are its own (CC0, no photographs
of anyone, nothing downloaded).

One small picture per kind of image a user brings, including a deliberately poor one, so the scores
have something to tell apart. Regenerate with ``python -m tests.sample_images samples`` (the test
``test_samples_are_the_ones_this_script_draws`` checks the committed files are these drawings).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = (512, 384)  # width, height in pixels


def _sky(height: int, width: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    t = np.linspace(0.0, 1.0, height)[:, None, None]
    return (np.array(top) * (1 - t) + np.array(bottom) * t) * np.ones((1, width, 1))


def sunset() -> Image.Image:
    """Photography: a sunset over hills and water, sun on the upper third, a little sensor grain."""
    rng = np.random.default_rng(1)
    w, h = SIZE
    img = _sky(h, w, (40, 40, 110), (250, 150, 70))
    yy, xx = np.mgrid[0:h, 0:w]
    sun = np.exp(-(((xx - 340) ** 2 + (yy - 170) ** 2) / (2 * 18.0**2)))
    glow = np.exp(-(((xx - 340) ** 2 + (yy - 170) ** 2) / (2 * 90.0**2)))
    img += sun[..., None] * np.array([255, 230, 170]) * 0.9 + glow[..., None] * np.array([90, 50, 10])
    horizon = 250
    ridge = horizon - 30 * np.sin(xx[0] / 60.0) - 15 * np.sin(xx[0] / 23.0 + 1)
    img[yy > ridge[None, :]] = np.array([35, 25, 45])
    water = yy > horizon + 20
    mirrored = img[np.clip(2 * (horizon + 20) - yy, 0, h - 1), xx] * 0.6
    img[water] = mirrored[water]
    img += rng.normal(0, 4, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def bauhaus() -> Image.Image:
    """Graphic design: flat shapes on a cream ground, a strict grid and three colours."""
    img = Image.new("RGB", SIZE, (240, 232, 214))
    draw = ImageDraw.Draw(img)
    draw.rectangle((48, 48, 208, 336), fill=(200, 40, 40))
    draw.ellipse((230, 60, 450, 280), fill=(30, 60, 140))
    draw.rectangle((230, 300, 470, 336), fill=(20, 20, 20))
    draw.polygon([(120, 336), (208, 190), (296, 336)], fill=(240, 190, 30))
    return img


def brushstrokes() -> Image.Image:
    """Painting: overlapping soft strokes of a blue and ochre palette, blurred like wet paint."""
    rng = np.random.default_rng(3)
    img = Image.new("RGB", SIZE, (70, 90, 120))
    draw = ImageDraw.Draw(img)
    palette = [(30, 60, 110), (200, 160, 80), (230, 220, 190), (120, 70, 40), (60, 120, 130)]
    for _ in range(140):
        x, y = rng.integers(0, SIZE[0]), rng.integers(0, SIZE[1])
        dx, dy = rng.integers(20, 90), rng.integers(4, 14)
        colour = palette[rng.integers(len(palette))]
        draw.ellipse((x, y, x + dx, y + dy), fill=tuple(int(c + rng.integers(-15, 15)) for c in colour))
    return img.filter(ImageFilter.GaussianBlur(1.5))


def render() -> Image.Image:
    """3D design: a Lambert-shaded sphere on a floor, with its soft shadow."""
    w, h = SIZE
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    img = _sky(h, w, (200, 205, 215), (150, 150, 160))
    shadow = np.exp(-(((xx - 280) / 110) ** 2 + ((yy - 320) / 22) ** 2))
    img *= (1 - 0.5 * shadow)[..., None]
    cx, cy, r = 256.0, 200.0, 110.0
    dx, dy = (xx - cx) / r, (yy - cy) / r
    inside = dx**2 + dy**2 < 1
    dz = np.sqrt(np.clip(1 - dx**2 - dy**2, 0, 1))
    light = np.array([-0.5, -0.6, 0.62])
    shade = np.clip(dx * light[0] + dy * light[1] + dz * light[2], 0, 1)
    specular = np.clip(shade, 0, 1) ** 40
    sphere = shade[..., None] * np.array([210, 90, 60]) + 25 + specular[..., None] * 200
    img[inside] = sphere[inside]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def murky() -> Image.Image:
    """A deliberately poor picture: tilted horizon, washed-out contrast, heavy noise and blur."""
    rng = np.random.default_rng(5)
    w, h = SIZE
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.where((yy > 200 + 0.35 * (xx - 256))[..., None], np.array([120, 118, 110]), np.array([150, 150, 148]))
    img = img + rng.normal(0, 22, (h, w, 3))
    picture = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    return picture.filter(ImageFilter.GaussianBlur(2.5))


SAMPLES: dict[str, Callable[[], Image.Image]] = {
    "sunset.jpg": sunset,
    "bauhaus.png": bauhaus,
    "brushstrokes.jpg": brushstrokes,
    "render.jpg": render,
    "murky.jpg": murky,
}


def write_samples(folder: Path) -> list[Path]:
    """Draw every sample into ``folder`` (JPEG quality 85, or PNG); returns the paths in ``SAMPLES`` order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in SAMPLES.items():
        path = folder / name
        picture = draw()
        if name.endswith(".jpg"):
            picture.save(path, quality=85, optimize=True)
        else:
            picture.save(path, optimize=True)
        paths.append(path)
    return paths


if __name__ == "__main__":  # pragma: no cover - regenerates samples/
    for written in write_samples(Path(sys.argv[1] if len(sys.argv) > 1 else "samples")):
        print(written, written.stat().st_size, "bytes")
