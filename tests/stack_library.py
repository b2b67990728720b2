"""A library with stacks, made of real photographs (scikit-image's bundled ones) for the gallery's stack tests:
a burst of the astronaut (resized, re-compressed, a few percent cropped, a few percent brighter), a pair of the
coffee cup (a copy and a re-export), and three single shots. Scores are recorded through ``record_scores``
(bell-shaped distributions, ``tests.web_library.result``), the perceptual hashes through the stacks core
(``file_hash``, ``Library.record_hashes``): the library groups them itself."""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from artimuse_core import file_hash
from artimuse_core.library import Library, ScoredFile, file_facts
from tests.shoot import skimage_data
from tests.web_library import empty_library, result


@dataclass
class Stacked:
    """The library, every file by name, and the stacks as made (names, in the order written)."""

    library: Library
    paths: dict[str, Path]
    bursts: list[list[str]]
    singles: list[str]

    def id(self, name: str) -> int:
        found = self.library.image_id(str(self.paths[name]))
        assert found is not None, name
        return found


def _photo(name: str, longest: int = 640) -> Image.Image:
    image = Image.open(skimage_data() / name).convert("RGB")
    image.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    return image


def _brighter(image: Image.Image, factor: float) -> Image.Image:
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) * factor, 0, 255).astype(np.uint8))


def _recompressed(image: Image.Image, quality: int) -> Image.Image:
    data = io.BytesIO()
    image.save(data, "JPEG", quality=quality)
    return Image.open(io.BytesIO(data.getvalue())).convert("RGB")


#: Scores of each file (the burst's best by lower bound is the second frame: 80 - 2 beats 82 - 6).
SCORES = {
    "astro_1.jpg": (72.0, 3.0),
    "astro_2.jpg": (80.0, 2.0),
    "astro_3.jpg": (82.0, 6.0),
    "astro_4.jpg": (65.0, 4.0),
    "coffee_1.jpg": (60.0, 3.0),
    "coffee_2.jpg": (58.0, 3.0),
    "chelsea.jpg": (75.0, 3.0),
    "rocket.jpg": (55.0, 5.0),
    "camera.jpg": (50.0, 4.0),
}


@cache
def _encoded() -> dict[str, bytes]:
    """Each file's JPEG bytes (made once per process: tests stay fast)."""
    astronaut, coffee = _photo("astronaut.png"), _photo("coffee.png")
    w, h = astronaut.size
    made = {
        "astro_1.jpg": astronaut,
        "astro_2.jpg": astronaut.resize((w * 3 // 4, h * 3 // 4), Image.Resampling.LANCZOS),
        "astro_3.jpg": _recompressed(astronaut.crop((w // 33, h // 33, w - w // 33, h - h // 33)), 60),
        "astro_4.jpg": _brighter(astronaut, 1.05),
        "coffee_1.jpg": coffee,
        "coffee_2.jpg": _recompressed(coffee, 70),
        "chelsea.jpg": _photo("chelsea.png"),
        "rocket.jpg": _photo("rocket.jpg"),
        "camera.jpg": _photo("camera.png"),
    }
    found = {}
    for name, image in made.items():
        data = io.BytesIO()
        image.save(data, "JPEG", quality=92)
        found[name] = data.getvalue()
    return found


_HASHES: dict[str, int] = {}


def stacked_library(folder: Path) -> Stacked:
    """Write the photos under ``folder/photos``, score and hash them into ``folder/library.db``."""
    photos = folder / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in _encoded().items():
        paths[name] = photos / name
        paths[name].write_bytes(data)
        if name not in _HASHES:  # the same bytes every time: hashed once per process
            _HASHES[name] = file_hash(paths[name])
    shutil.copy(empty_library(), folder / "library.db")
    library = Library.at(folder / "library.db")
    library.record_scores(
        ScoredFile(file_facts(p), result(p, i, *SCORES[name]), "photography", "option")
        for i, (name, p) in enumerate(paths.items())
    )
    library.record_hashes({str(p): _HASHES[name] for name, p in paths.items()})
    bursts = [[n for n in paths if n.startswith("astro")], [n for n in paths if n.startswith("coffee")]]
    return Stacked(library, paths, bursts, ["chelsea.jpg", "rocket.jpg", "camera.jpg"])
