"""Library query latency on a large library: 1,000,000 evaluations over 200,000 images.

Fills a fresh library (through the real migrations) with seeded rows in bulk (SQLite: the indexes built
once after the rows; PostgreSQL: COPY), then times the queries behind `artimuse top --category photography
--limit 50` (by mean and by lower bound), `artimuse show`, `artimuse stats` (counts and per-category
percentiles, computed in SQL) and `top --percentile` (where 50 scores stand among the model's other scores:
the library's one query against the previous one query per distinct score, with the ratio and whether both
give the same ranks), as the CLI runs them (the Library API), warm, median and p95 of repeated runs.

    python bench/library_queries.py [--images 200000] [--evaluations 1000000] [--keep DB | --url URL]

``--url`` names a PostgreSQL database, filled when it holds no evaluations (``python -m tests.postgres``
starts a throwaway server and prints one).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

CATEGORIES = ["photography", "painting", "aigc", "3d", "graphic"]
MODELS = [("ArtiMuse", "a" * 16), ("ArtiMuse_AVA", "b" * 16)]
IMAGE_COLUMNS = (
    "id, path, content_hash, size, mtime, width, height, category, category_source, category_confidence, "
    "first_seen, last_seen, missing"
)
EVALUATION_COLUMNS = (
    "id, image_id, model_name, model_fingerprint, adapter, score, std, distribution, prompt_hash, "
    "engine_version, device, dtype, created_at, current, category"
)
#: The folder whose images `top --percentile --folder` ranks (scores spread over the whole scale).
FOLDER = "/photos/123"


def rows(images: int, evaluations: int, seed: int = 0) -> Iterator[tuple[tuple, list[tuple]]]:
    """Each image's row and its evaluations' rows (the last two of each image current, one per model)."""
    rng = random.Random(seed)
    per_image = evaluations // images
    now = "2026-11-25T12:00:00"
    eval_id = 0
    distributions: dict[int, str] = {}  # one JSON text per whole score: building 1 M of them took most of the fill
    for image_id in range(1, images + 1):
        category = CATEGORIES[image_id % 5]
        path = f"/photos/{image_id % 500:03d}/img_{image_id:06d}.jpg"
        image = (
            image_id,
            path,
            f"{image_id:064x}",
            2_000_000,
            1.7e9,
            6000,
            4000,
            category,
            "predicted",
            0.9,
            now,
            now,
            0,
        )
        scored = []
        for j in range(per_image):
            eval_id += 1
            model, fingerprint = MODELS[j % 2]
            score = max(0.0, min(100.0, rng.gauss(55, 12)))
            std = rng.uniform(3, 20)
            whole = round(score)
            if whole not in distributions:
                distributions[whole] = json.dumps(
                    [round(max(0.0, 1 - abs(i - whole) / 30) / 15.5, 5) for i in range(101)]
                )
            current = 1 if j >= per_image - 2 else 0
            created = f"2026-11-{1 + j:02d}T10:00:00"
            scored.append(
                (eval_id, image_id, model, fingerprint, None, score, std, distributions[whole], "p" * 16, "0.1.0",
                 "cuda", "bfloat16", created, current, category)
            )  # fmt: skip
        yield image, scored


def fill(db: Path, images: int, evaluations: int, seed: int = 0) -> None:
    """A SQLite library at ``db`` with these rows; its indexes are dropped while the rows go in and built
    again afterwards (one sort each instead of six B-trees kept up to date row by row)."""
    from artimuse_core.library import Library

    Library.at(db).close()  # schema through the migrations
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")  # 256 MiB for the index builds
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('images', 'evaluations')"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    image_rows, eval_rows = [], []
    for image, scored in rows(images, evaluations, seed):
        image_rows.append(image)
        eval_rows += scored
        if len(eval_rows) >= 100_000:
            _flush(conn, image_rows, eval_rows)
    _flush(conn, image_rows, eval_rows)
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def _flush(conn, image_rows, eval_rows) -> None:
    conn.executemany(f"INSERT INTO images ({IMAGE_COLUMNS}) VALUES ({','.join('?' * 13)})", image_rows)
    conn.executemany(f"INSERT INTO evaluations ({EVALUATION_COLUMNS}) VALUES ({','.join('?' * 15)})", eval_rows)
    conn.commit()
    image_rows.clear()
    eval_rows.clear()


def fill_postgres(url: str, images: int, evaluations: int, seed: int = 0) -> None:
    """The same rows in the PostgreSQL database at ``url`` (migrated first), by COPY, then VACUUM ANALYZE
    (the visibility map lets the counts read the index alone)."""
    import psycopg

    from artimuse_core.library import Library

    Library(url).close()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        with conn.cursor() as cur:
            with cur.copy(f"COPY images ({IMAGE_COLUMNS}) FROM STDIN") as image_copy:
                for image, _ in rows(images, evaluations, seed):
                    image_copy.write_row(image)
            with cur.copy(f"COPY evaluations ({EVALUATION_COLUMNS}) FROM STDIN") as eval_copy:
                for _, scored in rows(images, evaluations, seed):
                    for row in scored:
                        eval_copy.write_row(row)
            for table in ("images", "evaluations"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.execute("VACUUM ANALYZE")


def ranks_one_query_per_score(library, scored: list[tuple[str, str, float]]) -> list[float | None]:
    """``percentile_ranks`` as it was: one counting query (count, below, equal) per distinct triple."""
    from sqlalchemy import and_, case, func, select

    from artimuse_core.library.tables import evaluations

    E = evaluations.c
    ranks: dict[tuple[str, str, float], float | None] = {}
    with library.engine.connect() as conn:
        for fingerprint, dimension, value in dict.fromkeys(scored):
            same = and_(E.current.is_(True), E.dimension == dimension, E.model_fingerprint == fingerprint)
            row = conn.execute(
                select(
                    func.count(),
                    func.sum(case((E.score < value, 1), else_=0)),
                    func.sum(case((E.score == value, 1), else_=0)),
                ).where(same)
            ).one()
            others, below, tied = (row[0] or 0) - 1, row[1] or 0, max(0, (row[2] or 0) - 1)
            ranks[(fingerprint, dimension, value)] = 100.0 * (below + 0.5 * tied) / others if others > 0 else None
    return [ranks[triple] for triple in scored]


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
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--keep", help="write the SQLite database here and keep it (reused when it exists)")
    where.add_argument("--url", help="a PostgreSQL database (postgresql+psycopg://...), filled when empty")
    parser.add_argument("--old-repeats", type=int, default=3, help="runs of the previous percentile ranks")
    args = parser.parse_args()
    from artimuse_core.library import Library

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.keep) if args.keep else Path(tmp) / "bench.db"
        start = time.perf_counter()
        if args.url and not Library(args.url).stats().counts["evaluations"]:
            fill_postgres(args.url, args.images, args.evaluations)
        elif not args.url and not db.exists():
            fill(db, args.images, args.evaluations)
        if time.perf_counter() - start > 1:  # filled here
            print(f"filled {args.evaluations:,} evaluations over {args.images:,} images in "
                  f"{time.perf_counter() - start:.0f} s")  # fmt: skip
        library = Library(args.url) if args.url else Library.at(db)
        print(f"backend: {library.engine.dialect.name}")
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
        asked = [(r.fingerprint, r.dimension, r.score) for r in library.top(folder=FOLDER, limit=50)]
        distinct = len(set(asked))
        new = library.percentile_ranks(asked)
        old = ranks_one_query_per_score(library, asked)
        cold, median, p95 = timed(lambda: library.percentile_ranks(asked))
        name = f"percentile ranks of top --folder {FOLDER} --limit 50"
        print(f"{name:<52} {cold:8.1f} {median:10.1f} {p95:8.1f}")
        old_cold, old_median, old_p95 = timed(lambda: ranks_one_query_per_score(library, asked), args.old_repeats)
        before = f"  before: one query per distinct score ({distinct})"
        print(f"{before:<52} {old_cold:8.1f} {old_median:10.1f} {old_p95:8.1f}")
        print(f"percentile ranks: {old_median / median:.1f}x the one-query-per-score way; same ranks: {new == old}")
        assert len(asked) == 50 and new == old
        assert len(library.top(category="photography", limit=50)) == 50
        assert library.show(target).evaluations
        assert library.stats().counts["evaluations"] == args.evaluations


if __name__ == "__main__":
    main()
