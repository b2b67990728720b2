"""Server time of the gallery's pages on a 200,000-image library, and the thumbnail generation rate.

    python bench/serve_latency.py [--images 200000] [--repeat 40] [--library DIR]

Pages are requested in-process through Starlette's TestClient (the application's own time: routing, library
queries, templates; no network). Figures are medians and p95 over --repeat requests; the baseline for the
deep page is the same page read with OFFSET (what keyset paging avoids), in the same run. Thumbnails:
renditions of 24-megapixel JPEGs (what cameras export) per second, with libjpeg's draft decoding, against a
full decode + resize of the same files as the baseline.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402
from sqlalchemy import text  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from artimuse_core.library import ImageFile, Library, file_facts  # noqa: E402
from artimuse_web.app import create_app  # noqa: E402
from artimuse_web.pictures import Renditions  # noqa: E402
from bench.library_queries import fill  # noqa: E402
from tests.web_library import ADJECTIVES, CRITIQUES, HUES, picture  # noqa: E402

NOW = "2026-11-25T12:00:00"


def build(folder: Path, count: int) -> Library:
    """The bench library: ``count`` images with one current evaluation each, filled in bulk like
    ``bench/library_queries.py`` (the door's per-file writes would take an hour here), every tenth with two
    critiques (kept in the FTS index by the migrations' triggers)."""
    db = folder / "library.db"
    if not db.exists():
        started = time.perf_counter()
        fill(db, count, count)
        conn = sqlite3.connect(db)
        rows = [
            (evaluation_id, name, text.format(adj=ADJECTIVES[evaluation_id % 6], hue=HUES[evaluation_id % 6]), NOW)
            for evaluation_id in range(1, count + 1, 10)
            for name, text in CRITIQUES
        ]
        conn.executemany("INSERT INTO critiques (evaluation_id, attribute, text, created_at) VALUES (?,?,?,?)", rows)
        conn.execute("ANALYZE")
        conn.commit()
        conn.close()
        print(f"  built {count:,} images in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return Library.at(db)


def timed(client: TestClient, urls: list[str]) -> tuple[float, float]:
    """(median, p95) in milliseconds of GET each url (each must answer 200), after two warm-up requests (the
    first reads of a 300 MB database come from disk)."""
    for url in urls[:2]:
        client.get(url)
    times = []
    for url in urls:
        started = time.perf_counter()
        answer = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:200])
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def deep_cursor(library: Library, pages: int, size: int) -> str:
    after = None
    for _ in range(pages - 1):
        after = library.browse(limit=size, after=after).next_cursor
    assert after is not None
    return after


def offset_page_ms(library: Library, offset: int, size: int, repeat: int) -> tuple[float, float]:
    sql = text(
        "SELECT e.id FROM evaluations e JOIN images i ON i.id = e.image_id WHERE e.current "
        "ORDER BY e.score DESC, e.id DESC LIMIT :n OFFSET :o"
    )
    times = []
    with library.engine.connect() as conn:
        for _ in range(repeat):
            started = time.perf_counter()
            conn.execute(sql, {"n": size, "o": offset}).all()
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def thumbnails(folder: Path, count: int) -> None:
    files = []
    for i in range(count):
        path = folder / "camera" / f"big_{i}.jpg"
        picture(path, i, size=(6000, 4000))
        facts = file_facts(path)
        files.append(ImageFile(i, str(path), facts.size, facts.mtime, facts.content_hash, False))
    renditions = Renditions(tempfile.mkdtemp(prefix="artimuse-thumbs-"))  # empty: every rendition is made
    started = time.perf_counter()
    for file in files:
        renditions.get(file, "s")
    ours = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for file in files:
        with Image.open(file.path) as image:
            image.convert("RGB").resize((480, 320), Image.Resampling.LANCZOS).save(folder / "full.jpg", quality=85)
    baseline = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for file in files:
        renditions.get(file, "s")
    cached = count / (time.perf_counter() - started)
    print(
        f"thumbnails of 24 MP JPEGs: {ours:.1f}/s made (full decode + resize baseline {baseline:.1f}/s, "
        f"{ours / baseline:.1f}x); cached: {cached:,.0f}/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--thumbnails", type=int, default=12)
    parser.add_argument("--library", type=Path, help="keep the built library here (reused when big enough)")
    args = parser.parse_args()
    folder = args.library or Path(tempfile.mkdtemp(prefix="artimuse-serve-"))
    folder.mkdir(parents=True, exist_ok=True)
    library = build(folder, args.images)
    client = TestClient(create_app(library, thumbnails=folder / "thumbs", token="t"), base_url="http://127.0.0.1")
    size = 48
    deep = min(500, args.images // size)
    cursor = deep_cursor(library, deep, size)
    ids = random.Random(0).sample(range(1, args.images + 1), args.repeat)
    rows = {
        "grid, page 1": ["/"] * args.repeat,
        f"grid, page {deep} (keyset)": [f"/tiles?after={cursor}"] * args.repeat,
        "grid, category + min score": ["/?category=aigc&min_score=60"] * args.repeat,
        "grid, rank by lower bound": ["/?rank=lower"] * args.repeat,
        "grid, critique search": ["/?q=crimson"] * args.repeat,
        "image page": [f"/image/{i}" for i in ids],
    }
    print(f"library: {args.images:,} images; {args.repeat} requests each; page size {size}")
    for name, urls in rows.items():
        median, p95 = timed(client, urls)
        print(f"{name:30s} median {median:7.1f} ms   p95 {p95:7.1f} ms")
    keyset, _ = timed(client, [f"/tiles?after={cursor}"] * args.repeat)
    query_keyset = statistics.median(
        [timed_call(lambda: library.browse(limit=size, after=cursor)) for _ in range(args.repeat)]
    )
    offset, _ = offset_page_ms(library, 499 * size, size, args.repeat)
    print(
        f"page 500 query alone: keyset {query_keyset:.2f} ms vs OFFSET {offset:.2f} ms "
        f"({offset / query_keyset:.1f}x slower with OFFSET); page 500 served in {keyset:.1f} ms"
    )
    thumbnails(folder, args.thumbnails)


def timed_call(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
