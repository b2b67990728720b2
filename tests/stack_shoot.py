"""Bursts and near-duplicates made of real photographs (scikit-image's bundled pictures, ``tests/shoot.py``):
each burst is one photograph as a camera or an export would vary it (the frame itself, a smaller JPEG, a
harsher re-compression with a crop of a few percent, a brighter frame), taken 0.3 s apart with EXIF capture
times; single pictures minutes apart; an AIGC-style batch of near-identical renders without any EXIF."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageEnhance

from tests.shoot import exif_for, skimage_data

#: Photographs that become bursts, and ones that stay single (all distinct scenes).
BURST_PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "camera.png", "coins.png")
SINGLE_PHOTOS = ("hubble_deep_field.jpg", "horse.png", "moon.png", "motorcycle_left.png", "retina.jpg")
BATCH_PHOTO = "ihc.png"


@dataclass
class BurstShoot:
    """The folder, its bursts (lists of frame paths in shooting order), single pictures and the batch."""

    folder: Path
    bursts: list[list[Path]] = field(default_factory=list)
    singles: list[Path] = field(default_factory=list)
    batch: list[Path] = field(default_factory=list)

    @property
    def stacks(self) -> list[list[Path]]:
        """What grouping must find: every burst and the batch, whole."""
        return [*self.bursts, self.batch]

    @property
    def files(self) -> list[Path]:
        """Every picture, bursts frame by frame first."""
        return [p for burst in self.bursts for p in burst] + self.singles + self.batch


def _photo(name: str, longest: int = 640) -> Image.Image:
    image = Image.open(skimage_data() / name)
    image.load()
    image = image.convert("RGB")
    image.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    return image


def frames(image: Image.Image) -> list[tuple[Image.Image, int]]:
    """One photograph as four frames (image, JPEG quality): as shot; resized to 60%; re-compressed at quality
    55 with 3% cropped off the top and left; 5% brighter."""
    w, h = image.size
    small = image.resize((w * 3 // 5, h * 3 // 5), Image.Resampling.BILINEAR)
    cropped = image.crop((w * 3 // 100, h * 3 // 100, w, h))
    brighter = ImageEnhance.Brightness(image).enhance(1.05)
    return [(image, 92), (small, 85), (cropped, 55), (brighter, 90)]


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def make_burst_shoot(folder: Path) -> BurstShoot:
    """Write the shoot into ``folder`` (created): bursts a minute apart, singles after them, the batch last."""
    folder.mkdir(parents=True, exist_ok=True)
    shoot = BurstShoot(folder)
    for b, name in enumerate(BURST_PHOTOS):
        burst = []
        for f, (frame, quality) in enumerate(frames(_photo(name))):
            path = folder / f"IMG_{b + 1:02d}{f + 1:02d}.jpg"
            subsec = f"{f * 3:d}0"  # 0.3 s apart
            frame.save(path, quality=quality, exif=exif_for(f"11:{b:02d}:0{f // 4}", subsec))
            burst.append(path)
        shoot.bursts.append(burst)
    for s, name in enumerate(SINGLE_PHOTOS):
        path = folder / f"IMG_9{s:03d}.jpg"
        _photo(name).save(path, quality=90, exif=exif_for(f"12:{s * 5:02d}:00", "00"))
        shoot.singles.append(path)
    render = _photo(BATCH_PHOTO, 512)
    for i, variant in enumerate((render, _jpeg(render, 60), ImageEnhance.Brightness(render).enhance(0.96))):
        path = folder / f"render_{i:05d}.png"
        variant.save(path)
        shoot.batch.append(path)
    return shoot


__all__ = ["BURST_PHOTOS", "SINGLE_PHOTOS", "BurstShoot", "frames", "make_burst_shoot"]
