"""A photo shoot made of real photographs: the ones scikit-image ships in its wheel (``skimage/data``: the
astronaut, the motorcycle stereo pair, coffee, the cat Chelsea, a rocket launch, the Hubble deep field, the
cameraman), arranged as a camera card holds them: two bursts, a HEIC, a CMYK JPEG, an EXIF-rotated
portrait, a 16-bit PNG scan, each with an EXIF capture time (DateTimeOriginal + SubSecTimeOriginal) and
camera facts written with Pillow. Nothing is downloaded."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

DAY = "2026:05:01"
CAMERA = {"make": "Canon", "model": "Canon EOS R6", "lens": "RF24-70mm F2.8 L IS USM"}


def skimage_data() -> Path:
    """The folder of scikit-image's bundled sample photographs."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-image is not installed (it is a dev dependency: pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@dataclass
class Shoot:
    """The shoot's folder and its files by role; ``taken``: file name -> the EXIF time written."""

    folder: Path
    bursts: list[list[Path]] = field(default_factory=list)
    heic: Path | None = None
    cmyk: Path | None = None
    rotated: Path | None = None
    sixteen_bit: Path | None = None
    singles: list[Path] = field(default_factory=list)
    taken: dict[str, str] = field(default_factory=dict)

    @property
    def files(self) -> list[Path]:
        """Every picture, in shooting order."""
        return sorted(self.folder.glob("IMG_*"), key=lambda p: self.taken[p.name])


def exif_for(when: str, subsec: str, **extra: object) -> Image.Exif:
    """EXIF with a capture time and this shoot's camera facts (exposure 1/250 s, f/2.8, ISO 400, 50 mm)."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = CAMERA["make"], CAMERA["model"]
    for tag, value in extra.items():
        exif[int(tag.removeprefix("tag_"), 16)] = value
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003], ifd[0x9291] = f"{DAY} {when}", subsec
    ifd[0x829A], ifd[0x829D], ifd[0x8827] = IFDRational(1, 250), IFDRational(28, 10), 400
    ifd[0x920A], ifd[0xA434] = IFDRational(50, 1), CAMERA["lens"]
    return exif


def _photo(name: str, longest: int = 720) -> Image.Image:
    image = Image.open(skimage_data() / name)
    image.load()
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    return image


def make_shoot(folder: Path) -> Shoot:
    """Write the shoot into ``folder`` (created) and describe it."""
    folder.mkdir(parents=True, exist_ok=True)
    shoot = Shoot(folder)

    def save(image: Image.Image, name: str, when: str, subsec: str, **options: object) -> Path:
        path = folder / name
        exif = exif_for(when, subsec, **{k: v for k, v in options.items() if k.startswith("tag_")})
        image.save(path, exif=exif, **{k: v for k, v in options.items() if not k.startswith("tag_")})
        shoot.taken[name] = f"{when}.{subsec}"
        return path

    astronaut = _photo("astronaut.png", 800)
    burst = []
    for i, subsec in enumerate(("10", "35", "60")):  # three frames a quarter second apart, the camera drifting
        frame = astronaut.crop((8 * i, 4 * i, astronaut.width - 24 + 8 * i, astronaut.height - 12 + 4 * i))
        burst.append(save(frame, f"IMG_010{i + 1}.jpg", "10:00:00", subsec, quality=90))
    shoot.bursts.append(burst)
    shoot.bursts.append(
        [
            save(_photo("motorcycle_left.png"), "IMG_0110.jpg", "10:05:01", "00", quality=90),
            save(_photo("motorcycle_right.png"), "IMG_0111.jpg", "10:05:01", "50", quality=90),
        ]
    )
    shoot.cmyk = save(_photo("coffee.png").convert("CMYK"), "IMG_0120.jpg", "10:10:00", "00", quality=90)
    import pillow_heif

    pillow_heif.register_heif_opener()
    shoot.heic = save(_photo("chelsea.png"), "IMG_0130.heic", "10:12:30", "00", quality=80, format="HEIF")
    # A portrait shot with the camera turned: pixels stored sideways, EXIF orientation 6 turns them upright.
    rocket = _photo("rocket.jpg")
    shoot.rotated = save(rocket.transpose(Image.Transpose.ROTATE_90), "IMG_0140.jpg", "10:15:00", "00", tag_0112=6)
    scan = np.asarray(_photo("camera.png").convert("L"), dtype=np.uint16) * 257
    shoot.sixteen_bit = save(Image.fromarray(scan), "IMG_0150.png", "10:20:00", "00")
    shoot.singles.append(save(_photo("hubble_deep_field.jpg"), "IMG_0160.jpg", "10:25:00", "00", quality=90))
    return shoot


__all__ = ["CAMERA", "Shoot", "exif_for", "make_shoot", "skimage_data"]
