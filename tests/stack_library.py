"""A library with stacks, made of real photographs (scikit-image's bundled ones) for the gallery's stack tests:
a burst of the astronaut (as shot, resized, a few percent cropped and re-compressed, a few percent brighter),
a pair of the coffee cup (as shot and resized), and three single shots. Scores are recorded through ``record_scores``
(bell-shaped distributions, ``tests.web_library.result``), the perceptual hashes through the stacks core
(``file_hash``, ``Library.record_hashes``): the library groups them itself."""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from artimuse_core import file_hash
from artimuse_core.library import Library, ScoredFile, file_facts
from tests.stack_shoot import _photo as photo
from tests.stack_shoot import frames
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
    """Each file's JPEG bytes (made once per process: tests stay fast). The bursts are the stacks core's own
    test frames of one photograph (``tests.stack_shoot.frames``: as shot, resized, cropped and re-compressed,
    brighter)."""
    made = {f"astro_{i + 1}.jpg": frame for i, frame in enumerate(frames(photo("astronaut.png")))}
    made.update({f"coffee_{i + 1}.jpg": frame for i, frame in enumerate(frames(photo("coffee.png"))[:2])})
    made.update(
        {f"{name.split('.')[0]}.jpg": (photo(name), 90) for name in ("chelsea.png", "rocket.jpg", "camera.png")}
    )
    found = {}
    for name, (image, quality) in made.items():
        data = io.BytesIO()
        image.save(data, "JPEG", quality=quality)
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
