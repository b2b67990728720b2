"""The library on a real PostgreSQL server (tests/postgres.py starts one per session) beside SQLite: critique
search giving the same hits on one fixture, migrations up and down on both, `artimuse db check` by each
backend's means (and a server that is down: one line, exit 1), and what only a server enforces (column sizes,
lengths, text that must be UTF-8)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from artimuse_core.library import FileFacts, Library, LibraryError, ScoredFile
from artimuse_core.library.database import alembic_config, current_revision, head_revision
from tests.test_library import PROVENANCE, fake_result

pytestmark = pytest.mark.slow  # a real server (the SQLite halves are run by the other modules' fast tests)

#: Critiques with what the search language must handle: stems, prefixes, accents, hyphens, apostrophes,
#: punctuation inside words, numbers, capitals, words that are stop words elsewhere.
CRITIQUES = [
    "Leading lines draw the eye; the composition is harmonious and well-lit.",
    "The lines are lined up; a dummy subject's pose feels naïve.",
    "A café at dusk, shot at f/2.8 with a 50mm lens: high-key light, soft shadows.",
    "Muted colours, don't expect vivid colour; the sharpness is lacking and the scene is blurry.",
    "Running water, composed carefully; the composer's eye shows in the harmony of shapes.",
    "Overexposed highlights; HARMONY of tones is broken by the résumé-like text overlay.",
    "Shadows and light play across the generous foreground.",
    "Nothing here but noise!!! 100% grain, ISO 6400.",
]
#: Each query and the critiques (by index) it finds: the expectation both backends must meet.
QUERIES = {
    "line": [0, 1],
    "lines": [0, 1],
    "dumm": [1],
    "composition": [0],
    "compos": [0, 4],
    '"leading lines"': [0],
    '"lines leading"': [],
    "light OR shadow": [2, 6],
    "light -shadow": [],
    "shadow OR lines -dummy": [0, 2, 6],
    "cafe": [2],
    "café": [2],
    "naive": [1],
    "well-lit": [0],
    '"well lit"': [0],
    "key": [2],
    "f/2.8": [2],
    "50mm": [2],
    "don't": [3],
    "harmonious": [0, 4, 5],
    "HARMON": [0, 4, 5],
    "colour OR color -muted": [],
    '"!!!"': [],
    "the": [0, 1, 3, 4, 5, 6],
    "a": [0, 1, 2, 3, 6],
    "running": [4],
    "ran": [],
    "sharp": [3],
    "blur": [3],
    "vivid colours": [3],
    "colourful": [3],
    "gener": [6],
    "resume": [5],
    "iso 6400": [7],
    "noise -grain": [],
    "overexpos": [5],
    "shape": [4],
    "eyes": [0, 4],
    "drawn": [],
    "tone": [5],
}


def _critiqued(library: Library) -> None:
    items = []
    for i, critique in enumerate(CRITIQUES):
        facts = FileFacts(Path(f"/library/{i}.png"), 1, 0.0, f"{i:064x}")
        result = fake_result(facts.path, 50 + i)
        result.critiques = {"Overall Gestalt": critique}
        items.append(ScoredFile(facts, result, None, None))
    library.record_scores(items)


def _found(hits) -> list[int]:
    return sorted(int(Path(hit.path).stem) for hit in hits)


def test_critique_search_finds_the_same_critiques_on_sqlite_and_postgresql(tmp_path, postgres_url):
    """One fixture, every kind of query, both indexes: the same critiques (and the expected ones)."""
    with Library.at(tmp_path / "library.db") as sqlite, Library(postgres_url) as server:
        _critiqued(sqlite)
        _critiqued(server)
        differ = {}
        for query, expected in QUERIES.items():
            found = {"sqlite": _found(sqlite.search(query)), "postgresql": _found(server.search(query))}
            grid = {
                name: sorted(int(Path(i.path).stem) for i in library.browse(search=query, limit=50).items)
                for name, library in (("sqlite", sqlite), ("postgresql", server))
            }
            if set(map(tuple, found.values())) != {tuple(expected)} or grid != found:
                differ[query] = (expected, found, grid)
        print(f"search parity: {len(QUERIES) - len(differ)} of {len(QUERIES)} queries alike on both backends")
        assert differ == {}
        assert server.search("lines", limit=1)[0].path.endswith(("0.png", "1.png"))  # best first, limit kept


def test_postgresql_search_reads_its_gin_index(postgres_url):
    """The query's expression is the index's (``fulltext.search_vector``): the planner uses it."""
    from sqlalchemy.dialects import postgresql

    from artimuse_core.library.fulltext import matching_critiques

    query = matching_critiques("postgresql", "harmon OR lines -dummy", 10)
    assert query is not None
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(row[0] for row in conn.execute(text("EXPLAIN " + sql)))
    engine.dispose()
    assert "ix_critiques_search" in plan, plan


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_go_down_to_the_start_and_up_again_on_both_backends(backend, tmp_path, postgres):
    """Every migration's downgrade and upgrade run (an empty database), then a library with rows goes down
    to 0010 (past the PostgreSQL and culling revisions) and back up keeping them."""
    url = f"sqlite:///{tmp_path / 'library.db'}" if backend == "sqlite" else postgres.create_database("migrations")
    with Library(url) as library:
        _critiqued(library)
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0010")
    assert current_revision(engine) == "0010"
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with Library(url) as library:
        assert library.stats().counts["critiques"] == len(CRITIQUES)
        assert _found(library.search("harmon")) == QUERIES["harmonious"]
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    with engine.connect() as conn:
        left = set(conn.dialect.get_table_names(conn)) - {"alembic_version"}
    assert left == set()
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert current_revision(engine) == head_revision()
    engine.dispose()
    with Library(url) as library:  # a working library again
        _critiqued(library)
        assert _found(library.search("café")) == [2]
    if backend == "postgresql":
        postgres.drop_database("migrations")


def test_what_only_a_server_enforces_fits(postgres_url):
    """A 3 GB file (beyond a 32-bit INTEGER) and a model named by a 300-character path are stored."""
    long_model = "/models/" + "m" * 300
    with Library(postgres_url) as library:
        facts = FileFacts(Path("/library/huge.tif"), 3 * 1024**3, 0.0, "a" * 64)
        result = fake_result(facts.path, 70)
        result.provenance = dataclasses.replace(PROVENANCE, model=long_model)
        library.record_scores([ScoredFile(facts, result, None, None)])
        shown = library.show(facts.path)
        assert shown.size == 3 * 1024**3 and shown.evaluations[0].model == long_model


def test_db_check_on_postgresql_says_what_it_checked_and_finds_an_invalid_index(home, postgres_url, run, monkeypatch):
    monkeypatch.setenv("ARTIMUSE_DATABASE_URL", postgres_url)
    checked = run("db", "check", "--json")
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    assert report["ok"] and report["backend"] == "postgresql"
    assert set(report["checks"]) == {"connection", "revision", "indexes", "search", "amcheck"}
    assert "B-tree indexes checked" in report["checks"]["amcheck"] and "accents folded" in report["checks"]["search"]
    plain = run("db", "check")
    assert plain.exit_code == 0 and plain.stdout.count("\n") == 1 and ": ok (connection: PostgreSQL" in plain.stdout
    # An index build that failed half-way (CREATE INDEX CONCURRENTLY on duplicates) leaves an invalid index.
    with Library(postgres_url) as library:
        _critiqued(library)
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("UPDATE images SET content_hash = 'same'"))
        with pytest.raises(Exception, match="could not create unique index"):
            conn.execute(text("CREATE UNIQUE INDEX CONCURRENTLY ix_images_unique_hash ON images (content_hash)"))
    engine.dispose()
    damaged = run("db", "check")
    assert damaged.exit_code == 1
    assert "invalid indexes (rebuild them with REINDEX INDEX): ix_images_unique_hash" in damaged.output


def test_a_server_that_is_down_is_one_line_and_exit_1(home, run, monkeypatch, postgres):
    from tests.postgres import free_port

    url = f"postgresql+psycopg://artimuse:secret@127.0.0.1:{free_port()}/library"
    monkeypatch.setenv("ARTIMUSE_DATABASE_URL", url)
    checked = run("db", "check")
    assert checked.exit_code == 1
    assert (
        checked.output.count("\n") == 1
        and "cannot connect" in checked.output
        and "Connection refused" in checked.output
    )
    assert "secret" not in checked.output and "artimuse:***@127.0.0.1" in checked.output
    as_json = run("db", "check", "--json")
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["ok"] is False
    for command_line in (["top"], ["stats"], ["rate", __file__, "--stars", "3"]):
        result = run(*command_line)
        assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
        assert "Connection refused" in result.output and "secret" not in result.output
        assert "Traceback" not in result.output
    with pytest.raises(LibraryError, match="Connection refused"):
        Library(url)
    assert os.environ["ARTIMUSE_DATABASE_URL"] == url
