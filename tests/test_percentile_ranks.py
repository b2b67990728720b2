"""``percentile_ranks`` (``top --percentile``, ``show``): where each score stands among the library's other
current scores of its dimension by the same model, ties counting half, in one query whatever the number of
scores asked, equal to the straightforward count over every score, on SQLite and on PostgreSQL."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, insert

from artimuse_core.library import Library, ranks
from artimuse_core.library.tables import evaluations, images

FINGERPRINTS = ("a" * 16, "b" * 16, "c" * 16)
DIMENSIONS = ("iaa", "iqa", "ista")
ADAPTERS = (None, "mine", "theirs")
CATEGORIES = (None, "photography", "aigc")
#: Few distinct values, so that ties are common, and any score of the 0-100 scale besides.
SCORES = st.sampled_from([0.0, 12.5, 50.0, 50.000001, 99.9, 100.0]) | st.floats(0, 100)

EVALUATION = st.tuples(
    st.sampled_from(FINGERPRINTS),
    st.sampled_from(DIMENSIONS),
    st.sampled_from(ADAPTERS),
    st.sampled_from(CATEGORIES),
    SCORES,
    st.booleans(),  # current
)


@pytest.fixture()
def library(library_backend):
    lib = Library(library_backend)
    yield lib
    lib.close()


def store(library, rows) -> None:
    """Replace the library's evaluations with ``rows`` (one image each), written straight to the tables."""
    with library.engine.begin() as conn:
        conn.execute(delete(evaluations))
        conn.execute(delete(images))
        if not rows:
            return
        conn.execute(
            insert(images),
            [
                dict(id=i, path=f"/lib/{i}.jpg", content_hash=f"{i:064x}", size=1, mtime=0.0)
                for i in range(1, len(rows) + 1)
            ],
        )
        conn.execute(
            insert(evaluations),
            [
                dict(
                    image_id=i, model_name=f"model-{fingerprint[0]}", model_fingerprint=fingerprint, adapter=adapter,
                    score=score, std=1.0, distribution=[], prompt_hash="p", engine_version="0", device="cpu",
                    dtype="float32", current=current, category=category, dimension=dimension,
                )
                for i, (fingerprint, dimension, adapter, category, score, current) in enumerate(rows, 1)
            ],
        )  # fmt: skip


def reference(rows, fingerprint: str, dimension: str, value: float) -> float | None:
    """The definition, counted over every score: the current scores of this dimension by this model (any
    adapter, any category) below ``value``, plus half of those equal to it other than itself."""
    same = [score for f, d, _, _, score, current in rows if current and f == fingerprint and d == dimension]
    others = len(same) - 1
    below = sum(score < value for score in same)
    tied = max(0, sum(score == value for score in same) - 1)
    return 100.0 * (below + 0.5 * tied) / others if others > 0 else None


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(EVALUATION, max_size=40),
    extra=st.lists(st.tuples(st.sampled_from((*FINGERPRINTS, "d" * 16)), st.sampled_from(DIMENSIONS), SCORES)),
    per_query=st.sampled_from([1, 3, ranks.PROBES_PER_QUERY]),
    data=st.data(),
)
def test_ranks_equal_the_count_over_every_score(library, rows, extra, per_query, data):
    """Asked: current scores of the library (repeated, in any order) and scores it does not hold (of models
    it may not know), with ties; the queries cut into as few as one asked score each."""
    store(library, rows)
    current = [(f, d, score) for f, d, _, _, score, is_current in rows if is_current]
    asked = data.draw(st.lists(st.sampled_from(current), max_size=30)) if current else []
    asked = data.draw(st.permutations(asked + extra))
    with mock.patch.object(ranks, "PROBES_PER_QUERY", per_query):
        got = library.percentile_ranks(asked)
    assert got == [reference(rows, *triple) for triple in asked]  # exactly: the same integer arithmetic


def test_many_scores_are_ranked_in_one_query(library):
    """Sixty scores of two models and two dimensions, with ties: one statement reaches the database."""
    rows = [
        (FINGERPRINTS[i % 2], DIMENSIONS[i % 3 % 2], ADAPTERS[i % 3], CATEGORIES[i % 3], float(i % 25), i % 5 != 0)
        for i in range(120)
    ]
    store(library, rows)
    asked = [(f, d, score) for f, d, _, _, score, current in rows if current][:60]
    statements = []
    event.listen(library.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    got = library.percentile_ranks(asked)
    assert got == [reference(rows, *triple) for triple in asked]
    assert len([s for s in statements if "evaluations" in s]) == 1, statements
