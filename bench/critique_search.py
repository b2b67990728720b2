"""Critique full-text index: insert cost as the table grows, and search latency, on a real SQLite library.

Writes --critiques critiques (default 200,000) the way the watcher does (one image's eight attributes per
transaction, through ``Library.record_critiques``, so the FTS5 triggers run) and prints the insert rate in
each tenth of the run: a rate that falls as the index grows would show as a falling column. The same
inserts into a library whose index triggers are dropped run in the same process as the baseline, printed
as a ratio. Then times the searches `artimuse search` runs: a prefix (dumm), a stem (line), a phrase.

    python bench/critique_search.py [--critiques 200000] [--words 120]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from artimuse_core.prompts import ATTRIBUTES

VOCABULARY_SIZE = 4000


def texts(count: int, words: int, seed: int = 0) -> list[str]:
    """Critique-like texts: a Zipf-distributed vocabulary (like English), with the words searched for."""
    rng = random.Random(seed)
    vocabulary = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 10)))
        for _ in range(VOCABULARY_SIZE)
    ] + ["dummy", "lines", "leading", "light", "composition"]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    return [" ".join(rng.choices(vocabulary, weights, k=words)) for _ in range(count)]


def library_with_evaluations(db: Path, images: int):
    from artimuse_core.library import Library

    Library.at(db).close()  # the schema, through the migrations
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO images (id, path, content_hash, size, mtime, first_seen, last_seen, missing) "
            "VALUES (?, ?, ?, 1, 0, '2026-01-01', '2026-01-01', 0)",
            [(i, f"/p/{i}.jpg", f"{i:064x}") for i in range(1, images + 1)],
        )
        conn.executemany(
            "INSERT INTO evaluations (id, image_id, model_name, model_fingerprint, score, std, "
            "distribution, prompt_hash, engine_version, device, dtype, created_at, current) "
            "VALUES (?, ?, 'm', 'f', 50, 5, '[]', 'p', '0', 'cpu', 'float32', '2026-01-01', 1)",
            [(i, i) for i in range(1, images + 1)],
        )
    return Library.at(db)


def insert(library, images: int, pool: list[str]) -> list[float]:
    """Rows per second in each tenth of the run."""
    rates, tenth = [], max(1, images // 10)
    start = time.perf_counter()
    for i in range(1, images + 1):
        library.record_critiques(i, {a: pool[(i * 8 + j) % len(pool)] for j, a in enumerate(ATTRIBUTES)})
        if i % tenth == 0:
            now = time.perf_counter()
            rates.append(tenth * len(ATTRIBUTES) / (now - start))
            start = now
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--critiques", type=int, default=200_000)
    parser.add_argument("--words", type=int, default=120, help="words per critique")
    args = parser.parse_args()
    images = args.critiques // len(ATTRIBUTES)
    pool = texts(4000, args.words)
    with tempfile.TemporaryDirectory() as tmp:
        plain = library_with_evaluations(Path(tmp) / "plain.db", images)
        with plain.engine.begin() as conn:
            for trigger in ("critiques_ai", "critiques_ad", "critiques_au"):
                conn.exec_driver_sql(f"DROP TRIGGER {trigger}")
        indexed = library_with_evaluations(Path(tmp) / "indexed.db", images)
        baseline = insert(plain, images, pool)
        rates = insert(indexed, images, pool)
        print(f"{args.critiques:,} critiques of {args.words} words, 8 per transaction (one image, as the watcher)")
        print(f"{'tenth':>5} {'indexed rows/s':>15} {'no index rows/s':>16} {'ratio':>6}")
        for i, (rate, base) in enumerate(zip(rates, baseline), 1):
            print(f"{i:>5} {rate:15.0f} {base:16.0f} {rate / base:6.2f}")
        print(f"last tenth / first tenth (indexed): {rates[-1] / rates[0]:.2f} (1.00 = no slowdown as it grows)")
        for query in ("dumm", "line", '"leading lines"', "light OR dummy -composition"):
            samples = []
            for _ in range(20):
                t = time.perf_counter()
                hits = indexed.search(query, limit=20)
                samples.append(time.perf_counter() - t)
            print(f"search {query!r:<32} {statistics.median(samples) * 1000:7.1f} ms median ({len(hits)} hits)")


if __name__ == "__main__":
    main()
