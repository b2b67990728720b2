"""A small real library of real picture files for the gallery's tests and the bench: gradients of varied
colours (so screenshots show distinct pictures), scored through ``record_scores`` with a bell-shaped
101-way distribution, categories and critiques."""

from __future__ import annotations

import math
import shutil
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from artimuse_core.library import Library, ScoredFile, file_facts
from artimuse_core.results import ScoreResult
from artimuse_core.testing import PROVENANCE

CATEGORIES = ("photography", "aigc", "painting")
CRITIQUES = (
    ("Composition & Design", "The {adj} diagonal leads the eye from the lower left into the warm light."),
    ("Light & Colour", "A {adj} palette of {hue} tones; the highlights hold their detail."),
)
ADJECTIVES = ("calm", "bold", "muted", "vivid", "soft", "stark")
HUES = ("amber", "teal", "crimson", "violet", "olive", "cobalt")


def distribution(score: float, std: float) -> list[float]:
    """A discretised normal over 0..100 with this mean and spread (sums to 1)."""
    weights = [math.exp(-0.5 * ((i - score) / max(std, 0.5)) ** 2) for i in range(101)]
    total = sum(weights)
    return [w / total for w in weights]


def picture(path: Path, index: int, size: tuple[int, int] = (640, 480)) -> Path:
    """A JPEG gradient with a disc, its colours set by ``index``."""
    colour = np.array([(index * 97) % 200 + 40, (index * 57) % 180 + 50, (index * 131) % 200 + 40], dtype=np.float32)
    ramp = np.linspace(0.35, 1.0, size[1], dtype=np.float32)[:, None, None]
    rgb = np.broadcast_to(ramp * colour, (size[1], size[0], 3)).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    draw = ImageDraw.Draw(image)
    x = 120 + (index * 83) % 400
    draw.ellipse([x, 140, x + 160, 300], fill=((index * 90) % 256, 200, (255 - index * 30) % 256))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=88)
    return path


def result(path: str | Path, index: int, score: float, std: float, critiques: bool = True) -> ScoreResult:
    texts = {}
    if critiques:
        texts = {
            name: text.format(adj=ADJECTIVES[index % len(ADJECTIVES)], hue=HUES[index % len(HUES)])
            for name, text in CRITIQUES
        }
    return ScoreResult(
        str(path),
        score=score,
        std=std,
        distribution=distribution(score, std),
        provenance=PROVENANCE,
        critiques=texts,
        width=640,
        height=480,
    )


def scored_library(folder: Path, count: int = 12, url: str | None = None) -> tuple[Library, list[Path]]:
    """A library (``folder/library.db``, or the database at ``url`` when it is not SQLite) holding ``count``
    real JPEGs under ``folder/photos`` with scores ``90 - 5.5 * i`` (distinct, best first in index order), std
    ``3 + i % 4``, categories in turn."""
    folder.mkdir(parents=True, exist_ok=True)
    if url and not url.startswith("sqlite"):
        library = Library(url)
    else:
        shutil.copy(empty_library(), folder / "library.db")  # migrated once per process: tests stay fast
        library = Library.at(folder / "library.db")
    paths = [picture(folder / "photos" / f"img_{i:03d}.jpg", i) for i in range(count)]
    library.record_scores(
        ScoredFile(file_facts(p), result(p, i, 90 - 5.5 * i, 3 + i % 4), CATEGORIES[i % 3], "option")
        for i, p in enumerate(paths)
    )
    return library, paths


@cache
def empty_library() -> Path:
    """An empty library file at the newest revision (made once per process)."""
    path = Path(tempfile.mkdtemp(prefix="artimuse-empty-")) / "library.db"
    Library.at(path).close()
    return path
