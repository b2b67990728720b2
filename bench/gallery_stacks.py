"""What folding stacks costs the gallery's grid: server time of a page of tiles with each tile's stack read
(the default grid: one ``Library.stack_of`` per stack met) against the same page with every frame
(``?stacks=all``: no stack read), in the same run, on a library where most pictures are in stacks of four.

    python bench/gallery_stacks.py [--images 20000] [--repeat 30]

Pages are requested in-process through Starlette's TestClient (routing, library reads, templates; no
network); figures are medians and p95 over --repeat requests of the first page and of a page 20 pages deep.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.testclient import TestClient  # noqa: E402

from artimuse_web.app import create_app  # noqa: E402
from bench.serve_latency import build, deep_cursor, timed  # noqa: E402

STACK = 4  # pictures per stack
STACKED = 0.8  # the share of pictures in a stack


def add_stacks(db: Path, count: int, seed: int = 0) -> int:
    """Perceptual hashes for every image: runs of ``STACK`` consecutive ids share a stack (the first
    ``STACKED`` of them), the others are alone. Returns the number of stacks."""
    rng = random.Random(seed)
    rows, stacks = [], 0
    for first in range(1, count + 1, STACK):
        stacked = first <= count * STACKED
        stacks += stacked
        for image_id in range(first, min(count, first + STACK - 1) + 1):
            value = rng.getrandbits(63)
            parts = [(value >> (16 * i)) & 0xFFFF for i in range(4)]
            rows.append((image_id, value, *parts, first if stacked else None))
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM perceptual_hashes")
    conn.executemany("INSERT INTO perceptual_hashes VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    return stacks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="artimuse-bench-") as folder:
        library = build(Path(folder), args.images)
        stacks = add_stacks(Path(folder) / "library.db", args.images)
        app = create_app(library, thumbnails=Path(folder) / "thumbnails", page_size=48)
        client = TestClient(app, base_url="http://127.0.0.1")
        client.get("/?missing=1")  # the bench's files do not exist: marked missing once, shown with missing=1
        deep = deep_cursor(library, 20, 48)
        print(f"{args.images:,} images, {stacks:,} stacks of {STACK}; 48 tiles a page; {args.repeat} requests each")
        for label, url in (("first page", "/?missing=1"), ("page 20 (/tiles)", f"/tiles?missing=1&after={deep}")):
            folded = timed(client, [url] * args.repeat)
            every = timed(client, [url + "&stacks=all"] * args.repeat)
            print(
                f"  {label:17s} folded {folded[0]:6.1f} ms (p95 {folded[1]:6.1f})   every frame {every[0]:6.1f} ms "
                f"(p95 {every[1]:6.1f})   folded / every frame {folded[0] / every[0]:.2f}x"
            )
        library.close()


if __name__ == "__main__":
    main()
