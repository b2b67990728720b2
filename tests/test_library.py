"""The library on a real SQLite file: recording, history across moves, rankings, migrations, locking."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import delete

from artimuse_core.library import Library, LibraryError, ScoredFile, file_facts, ingest, migrations, stars_to_score
from artimuse_core.library.database import alembic_config, create_db_engine, current_revision, head_revision
from artimuse_core.library.stats import library_stats
from artimuse_core.library.tables import images
from artimuse_core.results import Provenance, ScoreResult
from artimuse_core.testing import FakeEngine
from tests import processes

PROVENANCE = Provenance(
    model="m",
    repo_id=None,
    fingerprint="f" * 16,
    layout="chat",
    device="cpu",
    dtype="float32",
    engine_version="0",
    prompt_hash="p" * 16,
)


def fake_result(path, score, std=5.0):
    """A ScoreResult as the engine makes it, for library tests that don't need a model."""
    distribution = [0.0] * 101
    distribution[int(score)] = 1.0
    return ScoreResult(
        path=str(path), score=score, std=std, distribution=distribution, width=10, height=10, provenance=PROVENANCE
    )


def record(library, path, score, std=5.0, category=None, source=None, critiques=None) -> int:
    """One score written as the door writes it."""
    result = fake_result(path, score, std)
    result.critiques = dict(critiques or {})
    return library.record_scores([ScoredFile(file_facts(path), result, category, source)])[0]


@pytest.fixture()
def library(library_backend):
    lib = Library(library_backend)
    yield lib
    lib.close()


@pytest.fixture()
def files(tmp_path, mixed_images):
    folder = tmp_path / "files"
    folder.mkdir()
    return [shutil.copy(p, folder / p.name) for p in mixed_images]


@pytest.mark.real_migrations
def test_new_database_is_at_head_in_wal_mode(library):
    assert current_revision(library.engine) == head_revision()
    if library.engine.dialect.name == "sqlite":
        with sqlite3.connect(library.engine.url.database) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_moved_file_keeps_its_history(library, files, tmp_path):
    record(library, files[0], 40)
    moved = tmp_path / "elsewhere.png"
    shutil.move(files[0], moved)
    record(library, moved, 60)
    shown = library.show(moved)
    assert [e.score for e in shown.evaluations] == [60, 40]
    assert [e.current for e in shown.evaluations] == [True, False]
    with pytest.raises(LibraryError, match="not in the library"):
        library.show(files[0])


def test_changed_content_retires_old_scores(library, files):
    record(library, files[0], 90)
    files[0].write_bytes(files[1].read_bytes())
    record(library, files[0], 20, std=1)
    assert [r.score for r in library.top()] == [20]


def test_top_filters_and_lower_bound_ranking(library, files):
    facts = [file_facts(f) for f in files]
    items = []
    for i, f in enumerate(facts):
        category = "photography" if i % 2 == 0 else "aigc"
        items.append(ScoredFile(f, fake_result(f.path, 30 + 5 * i, std=float(i % 4) * 6), category, "option"))
    library.record_scores(items)
    photos = library.top(category="photography", limit=3)
    assert [r.score for r in photos] == [70, 60, 50]
    assert library.top(category="Photography", min_score=65)[0].score == 70
    expected = sorted(((it.result.score - 1.5 * it.result.std), it.result.score) for it in items)[::-1][:4]
    lower = library.top(rank="lower", k=1.5, limit=4)
    assert [(r.lower_bound, r.score) for r in lower] == expected
    assert library.top(folder=files[0].parent / "nowhere") == []
    assert len(library.top(folder=files[0].parent, limit=100)) == len(files)


def test_ratings_use_the_documented_star_mapping(library, files):
    assert [stars_to_score(s) for s in (1, 2, 3, 4, 5)] == [10, 30, 50, 70, 90]
    library.rate(files[0], stars=4)
    library.rate(files[1], score=85)
    with pytest.raises(ValueError):
        library.rate(files[1], stars=7)
    rows = {r.path: r for r in library.ratings()}
    assert rows[str(files[0])].score == 70 and rows[str(files[0])].stars == 4
    assert rows[str(files[1])].score == 85


def test_search_stats_export_errors(library, files):
    evaluation_id = record(library, files[0], 55, category="aigc", source="option")
    library.record_critiques(evaluation_id, {"Composition & Design": "Strong leading lines toward the horizon."})
    library.record_error(files[1], "corrupt", f"{files[1]}: cannot decode")
    assert [r.path for r in library.search("leading lines")] == [str(files[0])]
    assert library.search("nonexistentword") == []
    stats = library.stats()
    assert stats.counts["critiques"] == 1 and stats.categories["aigc"].p50 == 55
    assert [r.score for r in library.export()] == [55]
    assert library.errors()[0].kind == "corrupt"


def test_migration_from_the_first_revision_keeps_every_row(tmp_path):
    path = tmp_path / "old.db"
    engine = create_db_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO images (id, path, content_hash, size, mtime, category, first_seen, last_seen, "
            "missing) VALUES (1, '/x.png', 'h', 1, 0, 'aigc', '2026-01-01', '2026-01-01', 0)"
        )
        conn.execute(
            "INSERT INTO evaluations (id, image_id, model_name, model_fingerprint, score, std, distribution,"
            " prompt_hash, engine_version, device, dtype, created_at, current) VALUES "
            "(1, 1, 'm', 'f', 42.0, 3.0, '[1.0]', 'p', '0', 'cpu', 'float32', '2026-01-01', 1)"
        )
        conn.execute("INSERT INTO critiques VALUES (1, 1, 'Overall Gestalt', 'a quiet harmonious scene', '2026-01-01')")
        conn.execute("INSERT INTO ratings VALUES (1, 1, 70.0, 4.0, '2026-01-01')")
        conn.execute("INSERT INTO errors VALUES (1, '/bad.jpg', 'corrupt', 'bad', '2026-01-01')")
    engine.dispose()
    library = Library.at(path)
    assert current_revision(library.engine) == head_revision() != "0001"
    counts = library.stats().counts
    assert {k: counts[k] for k in ("images", "evaluations", "critiques", "ratings", "errors")} == {
        "images": 1,
        "evaluations": 1,
        "critiques": 1,
        "ratings": 1,
        "errors": 1,
    }
    assert library.search("harmonious")[0].score == 42.0  # backfilled into the new search index
    assert [r.score for r in library.top(category="aigc")] == [42.0]  # category copied onto evaluations
    backups = list(tmp_path.glob("old.db.0001-*.bak"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0001"


def test_newer_or_foreign_database_is_refused(tmp_path):
    newer = tmp_path / "newer.db"
    Library.at(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(LibraryError, match="newer than this artimuse"):
        Library.at(newer)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE stuff (x)")
    with pytest.raises(LibraryError, match="not an artimuse library"):
        Library.at(foreign)


def test_a_lock_held_too_long_is_one_clear_error(tmp_path, files):
    library = Library.at(tmp_path / "lib.db", busy_timeout_s=0.5)
    holder = sqlite3.connect(tmp_path / "lib.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LibraryError, match="locked by another process"):
            library.rate(files[0], stars=3)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    library.rate(files[0], stars=3)  # and nothing is wrong once the lock is gone
    assert len(library.ratings()) == 1


SCORER = """
import os, sys, time
from artimuse_core.library import Library, ingest
from artimuse_core.testing import FakeEngine
engine = FakeEngine(batch_size=2)
library = Library(sys.argv[1])
open(sys.argv[2] + '.' + str(os.getpid()), 'w').close()
while not os.path.exists(sys.argv[2]):  # all start together, for the writes to overlap
    time.sleep(0.005)
n = 0
for _ in range(ROUNDS):
    n += sum(o.status == 'scored' for o in ingest(engine, library, sys.argv[3:], force=True, flush_every=1))
print('scored', n)
""".replace("ROUNDS", "15")
RATER = """
import os, sys, time
from click.testing import CliRunner
from artimuse_cli.main import cli
paths = sys.argv[3:]
open(sys.argv[2] + '.' + str(os.getpid()), 'w').close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.005)
for i in range(60):
    result = CliRunner().invoke(cli, ['rate', paths[i % len(paths)], '--stars', str(1 + i % 5)])
    assert result.exit_code == 0, result.output
print('rated', i + 1)
"""


@pytest.mark.slow
def test_two_processes_writing_at_once_lose_nothing(library_backend, tmp_path, files):
    """Two scorers (the door, forced re-scores of the same new files) and `artimuse rate` in a loop, all at
    once on one library: every row is there once, no image twice, one current score per image and model."""
    Library(library_backend).close()
    env = dict(os.environ, ARTIMUSE_HOME=str(tmp_path / "home"), ARTIMUSE_DATABASE_URL=library_backend)
    go, shared = tmp_path / "go", [str(f) for f in files[:4]]
    commands = [[SCORER, library_backend, go, *shared], [SCORER, library_backend, go, *shared]]
    commands.append([RATER, library_backend, go, *map(str, files)])
    procs = [
        processes.spawn(
            [sys.executable, "-c", *map(str, command)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for command in commands
    ]
    deadline = time.time() + 120
    while len(list(tmp_path.glob("go.*"))) < len(procs) and time.time() < deadline:
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    go.touch()
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
        assert "locked" not in out + err
    assert [out.split() for out, _ in outputs] == [["scored", "60"], ["scored", "60"], ["rated", "60"]]
    counted = row_counts(library_backend)
    expected = {"evaluations": 120, "ratings": 60, "images": len(files), "paths": len(files), "current": 4}
    lost = {name: expected[name] - counted[name] for name in ("evaluations", "ratings")}
    duplicates = {"images": counted["images"] - counted["paths"], "current": counted["current"] - 4}
    print(f"concurrent writers on {library_backend.split(':')[0].split('+')[0]}: rows {counted}, "
          f"duplicates {duplicates}, lost {lost}")  # fmt: skip
    assert counted == expected


def row_counts(url: str) -> dict[str, int]:
    """Rows (evaluations, ratings, images), distinct image paths, current (image, model) scores."""
    from sqlalchemy import create_engine, func, select

    from artimuse_core.library.tables import evaluations, ratings

    engine = create_engine(url)
    with engine.connect() as conn:
        count = {name: conn.scalar(select(func.count()).select_from(t)) for name, t in
                 (("evaluations", evaluations), ("ratings", ratings), ("images", images))}  # fmt: skip
        count["paths"] = conn.scalar(select(func.count(func.distinct(images.c.path))))
        count["current"] = conn.scalar(select(func.count()).where(evaluations.c.current.is_(True)))
    engine.dispose()
    return count


def test_the_door_skips_unchanged_and_predicts_categories(files, tmp_path):
    engine = FakeEngine(batch_size=4)
    library = Library.at(tmp_path / "lib.db")
    first = list(ingest(engine, library, files))
    assert {o.status for o in first} == {"scored"}
    assert all(o.category_source == "predicted" and 0 < o.category_probability <= 1 for o in first)
    again = list(ingest(engine, library, files))
    assert {o.status for o in again} == {"cached"}
    assert [o.score for o in again] == [o.score for o in first]
    assert [o.evaluation_id for o in again] == [o.evaluation_id for o in first]
    forced = list(ingest(engine, library, files[:2], force=True, category="graphic"))
    assert [o.status for o in forced] == ["scored", "scored"]
    assert library.show(files[0]).category == "graphic"
    assert len(library.show(files[0]).evaluations) == 2


def test_a_library_at_the_previous_head_upgrades_keeps_every_row_and_searches_by_stem(tmp_path):
    """A database made by the release before this one (revision 0005) opens, is upgraded (its search index
    rebuilt with the porter tokenizer) and keeps every row."""
    path = tmp_path / "previous.db"
    engine = create_db_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0005")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO images (id, path, content_hash, size, mtime, category, first_seen, last_seen, "
            "missing) VALUES (1, '/x.png', 'h', 1, 0, 'aigc', '2026-01-01', '2026-01-01', 0)"
        )
        conn.execute(
            "INSERT INTO evaluations (id, image_id, model_name, model_fingerprint, score, std, distribution,"
            " prompt_hash, engine_version, device, dtype, created_at, current, category) VALUES "
            "(1, 1, 'm', 'f', 42.0, 3.0, '[1.0]', 'p', '0', 'cpu', 'float32', '2026-01-01', 1, 'aigc')"
        )
        conn.execute(
            "INSERT INTO critiques VALUES (1, 1, 'Overall Gestalt', 'Dummy lines, leading nowhere', '2026-01-01')"
        )
        conn.execute("INSERT INTO ratings VALUES (1, 1, 70.0, 4.0, '2026-01-01')")
        conn.execute("INSERT INTO errors VALUES (1, '/bad.jpg', 'corrupt', 'bad', '2026-01-01')")
        conn.execute(
            "INSERT INTO jobs (id, kind, path, status, attempts, enqueued_at, updated_at) VALUES "
            "(1, 'score', '/y.png', 'pending', 0, '2026-01-01', '2026-01-01')"
        )
        conn.execute("INSERT INTO adapters VALUES (1, 'mine', '/a', 'm', 'f', 10, 2, '{}', '{}', '2026-01-01')")
        assert conn.execute("SELECT count(*) FROM critiques_fts WHERE critiques_fts MATCH 'line'").fetchone()[0] == 0
    engine.dispose()
    with Library.at(path) as library:
        assert current_revision(library.engine) == head_revision() == migrations.HEAD
        counts = library.stats().counts
        assert {k: counts[k] for k in ("images", "evaluations", "critiques", "ratings", "errors")} == {
            "images": 1,
            "evaluations": 1,
            "critiques": 1,
            "ratings": 1,
            "errors": 1,
        }
        assert library.queue_length() == {"score": 1} and library.adapter("mine").train_size == 10
        assert [h.score for h in library.search("dumm")] == [42.0]  # prefix
        assert [h.score for h in library.search("line")] == [42.0]  # stem: "lines"
        assert [h.score for h in library.search('"leading nowhere"')] == [42.0]
        assert library.search('"nowhere leading"') == [] and library.search("dummy -lines") == []
    assert len(list(tmp_path.glob("previous.db.0005-*.bak"))) == 1


def test_stats_percentiles_equal_numpy_quantile(library, files):
    """Percentiles come from SQL (order statistics inside one-point bins); numpy.quantile is the oracle."""
    import random

    import numpy as np

    rng = random.Random(3)
    items, by_category = [], {}
    facts = file_facts(files[0])
    for i in range(400):
        category = ("aigc", "photography", None)[i % 3]
        score = round(rng.uniform(0, 100), 3) if i % 7 else float(i % 5 * 10)  # ties and exact bin edges too
        fake = FileFactsLike(facts, f"/lib/{i}.png", f"{i:064x}")
        items.append(ScoredFile(fake, fake_result(fake.path, score, std=2.0), category, "option"))
        by_category.setdefault(category or "uncategorised", []).append(score)
    library.record_scores(items)
    stats = library.stats()
    assert stats.counts["evaluations"] == 400 and set(stats.categories) == set(by_category)
    assert stats == fresh_count(library)  # counters == a fresh count
    for category, scores in by_category.items():
        got = stats.categories[category]
        assert got.count == len(scores) and got.mean == pytest.approx(np.mean(scores))
        for q in (10, 25, 50, 75, 90):
            assert getattr(got, f"p{q}") == pytest.approx(np.quantile(scores, q / 100), abs=1e-9), (category, q)


def FileFactsLike(facts, path, content_hash):  # noqa: N802 - a FileFacts for a path that needs no real file
    from artimuse_core.library import FileFacts

    return FileFacts(Path(path), facts.size, facts.mtime, content_hash)


def test_stats_counters_follow_every_kind_of_write(library, files, tmp_path):
    """The trigger-kept counters equal a fresh count after new scores, re-scores, changed content, category
    changes, moves, missing files, critiques, ratings, errors and deletions."""
    record(library, files[0], 40, category="aigc", source="option")
    record(library, files[1], 55.5, category="photography", source="option", critiques={"Overall Gestalt": "x"})
    record(library, files[2], 70)
    record(library, files[0], 45, category="aigc", source="option")  # re-score: the old one is not current
    files[1].write_bytes(files[3].read_bytes())
    record(library, files[1], 12)  # changed content: every old score retired
    library.set_category(files[2], "painting")
    moved = tmp_path / "moved.png"
    shutil.move(files[2], moved)
    library.move(files[2], moved)
    library.mark_missing(files[0])
    library.rate(moved, stars=3)
    library.record_error(files[4], "corrupt", "bad")
    scanned = fresh_count(library)
    assert library.stats() == scanned
    assert scanned.counts["missing_images"] == 1 and scanned.categories["painting"].count == 1
    with library.engine.begin() as conn:  # deletions (nothing in the library deletes yet; the counters must)
        conn.execute(delete(images).where(images.c.path == str(moved)))
    assert library.stats() == fresh_count(library)


def fresh_count(library):
    """Stats counted afresh (a scan, as on other databases), not from the trigger-kept counters."""
    with library.engine.connect() as conn:
        return library_stats(conn, scan=True)
