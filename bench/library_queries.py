"""Library query latency on a large library: 1,000,000 evaluations over 200,000 images.

Fills a fresh SQLite library (through the real migrations) with seeded rows, then times the queries
behind `artimuse top --category photography --limit 50` (by mean and by lower bound), `artimuse show` and
`artimuse stats` (counts and per-category percentiles, computed in SQL),
as the CLI runs them (the Library API), warm, median and p95 of repeated runs.

    python bench/library_queries.py [--images 200000] [--evaluations 1000000] [--keep DB]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

CATEGORIES = ["photography", "painting", "aigc", "3d", "graphic"]
MODELS = [("ArtiMuse", "a" * 16), ("ArtiMuse_AVA", "b" * 16)]


def fill(db: Path, images: int, evaluations: int, seed: int = 0) -> None:
    from artimuse_core.library import Library

    Library.at(db).close()  # schema through the migrations
    rng = random.Random(seed)
    per_image = evaluations // images
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    now = "2026-11-25T12:00:00"
    image_rows, eval_rows = [], []
    eval_id = 0
    for image_id in range(1, images + 1):
        image_rows.append(
            (
                image_id,
                f"/photos/{image_id % 500:03d}/img_{image_id:06d}.jpg",
                f"{image_id:064x}",
                2_000_000,
                1.7e9,
                6000,
                4000,
                CATEGORIES[image_id % 5],
                "predicted",
                0.9,
                now,
                now,
                0,
            )
        )
        for j in range(per_image):
            eval_id += 1
            model, fingerprint = MODELS[j % 2]
            score = max(0.0, min(100.0, rng.gauss(55, 12)))
            std = rng.uniform(3, 20)
            distribution = [round(max(0.0, 1 - abs(i - score) / 30) / 15.5, 5) for i in range(101)]
            current = 1 if j >= per_image - 2 else 0
            eval_rows.append(
                (
                    eval_id,
                    image_id,
                    model,
                    fingerprint,
                    None,
                    score,
                    std,
                    json.dumps(distribution),
                    "p" * 16,
                    "0.1.0",
                    "cuda",
                    "bfloat16",
                    f"2026-11-{1 + j:02d}T10:00:00",
                    current,
                    CATEGORIES[image_id % 5],
                )
            )
        if len(eval_rows) >= 100_000:
            _flush(conn, image_rows, eval_rows)
    _flush(conn, image_rows, eval_rows)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def _flush(conn, image_rows, eval_rows) -> None:
    conn.executemany(
        "INSERT INTO images (id, path, content_hash, size, mtime, width, height, category, "
        "category_source, category_confidence, first_seen, last_seen, missing) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        image_rows,
    )
    conn.executemany(
        "INSERT INTO evaluations (id, image_id, model_name, model_fingerprint, adapter, score, std, "
        "distribution, prompt_hash, engine_version, device, dtype, created_at, current, category) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        eval_rows,
    )
    conn.commit()
    image_rows.clear()
    eval_rows.clear()


def timed(func, repeats: int = 30) -> tuple[float, float, float]:
    first = time.perf_counter()
    func()
    cold = time.perf_counter() - first
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return cold * 1000, statistics.median(samples) * 1000, samples[int(0.95 * (len(samples) - 1))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200_000)
    parser.add_argument("--evaluations", type=int, default=1_000_000)
    parser.add_argument("--keep", help="write the database here and keep it")
    args = parser.parse_args()
    from artimuse_core.library import Library

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.keep) if args.keep else Path(tmp) / "bench.db"
        if not db.exists():
            start = time.perf_counter()
            fill(db, args.images, args.evaluations)
            print(
                f"filled {args.evaluations:,} evaluations over {args.images:,} images in "
                f"{time.perf_counter() - start:.0f} s ({db.stat().st_size / 2**20:.0f} MB)"
            )
        library = Library.at(db)
        target = "/photos/123/img_100123.jpg"
        queries = {
            "top --category photography --limit 50": lambda: library.top(category="photography", limit=50),
            "top --category photography --limit 50 --rank lower": lambda: library.top(
                category="photography", limit=50, rank="lower"
            ),
            "top --limit 50 --since 7d --min-score 60": lambda: library.top(limit=50, since=None, min_score=60),
            "show IMAGE": lambda: library.show(target),
            "stats": library.stats,
        }
        print(f"{'query':<52} {'cold ms':>8} {'median ms':>10} {'p95 ms':>8}")
        for name, func in queries.items():
            cold, median, p95 = timed(func)
            print(f"{name:<52} {cold:8.1f} {median:10.1f} {p95:8.1f}")
        assert len(library.top(category="photography", limit=50)) == 50
        assert library.show(target).evaluations
        assert library.stats().counts["evaluations"] == args.evaluations


if __name__ == "__main__":
    main()
