"""The one door from image files to library rows (``artimuse_core.library.ingest``), on the fake engine and
a real SQLite library: cached or new, the category rule, critiques following scores, errors, jobs."""

from __future__ import annotations

import os
import shutil

import pytest

from artimuse_core.config import Config, WatchedFolder
from artimuse_core.library import Library, critique_jobs, ingest
from artimuse_core.results import ScoreResult
from artimuse_core.testing import FakeEngine


@pytest.fixture()
def files(tmp_path, mixed_images):
    folder = tmp_path / "files"
    folder.mkdir()
    return [shutil.copy(p, folder / p.name) for p in mixed_images[:4]]


@pytest.fixture()
def library(library_backend, files):
    config = Config(folders=(WatchedFolder(files[0].parent / "sub", "3d"),))
    with Library(library_backend, config=config) as lib:
        yield lib


def test_the_result_is_the_row_contract(library, files):
    scored = list(ingest(FakeEngine(), library, files[:1]))[0]
    row = scored.to_dict(distribution=True)
    assert row["status"] == "scored" and row["evaluation_id"] and len(row["distribution"]) == 101
    assert ScoreResult.from_row(row) == scored  # to_dict -> from_row gives the same result back
    stored = library.evaluation(scored.evaluation_id)
    back = stored.to_result()
    assert (back.status, back.score, back.std, back.distribution, back.category) == (
        "cached",
        scored.score,
        scored.std,
        scored.distribution,
        scored.category,
    )
    assert back.provenance.fingerprint == scored.provenance.fingerprint
    with pytest.raises(ValueError, match="status must be one of"):
        ScoreResult("x", status="done")


def test_category_rule_option_then_config_folder_then_library_then_predicted(library, files, tmp_path):
    sub = files[0].parent / "sub"
    sub.mkdir()
    configured = shutil.copy(files[1], sub / "c.png")
    engine = FakeEngine()
    results = {r.path: r for r in ingest(engine, library, [files[0], configured])}
    assert (results[str(files[0])].category_source, results[str(configured)].category) == ("predicted", "3d")
    assert results[str(configured)].category_source == "config"
    known = list(ingest(engine, library, [files[2]], category="aigc"))[0]
    assert (known.category, known.category_source) == ("aigc", "option")
    again = list(ingest(engine, library, [files[2]], force=True))[0]
    assert (again.category, again.category_source) == ("aigc", "library")  # kept, not predicted again
    assert library.show(files[2]).category_source == "option"


def test_critiques_follow_the_score_into_its_evaluation(library, files):
    engine = FakeEngine()
    first = list(ingest(engine, library, files[:2], critique=["composition"]))
    assert all(list(r.critiques) == ["Composition & Design"] for r in first)
    shown = library.show(files[0])
    assert shown.evaluations[0].critiques == first[0].critiques
    # Cached images get only the critiques they lack; nothing is scored again.
    engine.calls.clear()
    again = list(ingest(engine, library, files[:2], critique=["composition", "technical"]))
    assert [r.status for r in again] == ["cached", "cached"]
    assert [c[0] for c in engine.calls] == ["critique", "critique"]
    assert set(library.show(files[0]).evaluations[0].critiques) == {"Composition & Design", "Technical Execution"}
    assert len(library.show(files[0]).evaluations) == 1


def test_queued_critiques_are_durable_jobs_run_after_the_scores(library, files):
    engine = FakeEngine()
    library.enqueue(str(files[0]), files[0].stat().st_size, files[0].stat().st_mtime)
    job = library.pending_jobs()[0]
    scored = list(
        ingest(engine, library, [files[0]], critique=["overall"], queue_critiques=True, jobs={job.path: job.id})
    )
    assert scored[0].critiques == {} and library.queue_length() == {"critique": 1}
    queued = library.pending_jobs("critique")
    assert queued[0].evaluation_id == scored[0].evaluation_id  # queued in the score's own transaction
    assert library.last_processed().id == job.id
    done = list(critique_jobs(engine, library, queued))
    assert done[0].critiques == {"Overall Gestalt": done[0].critiques["Overall Gestalt"]} and done[0].ok
    assert done[0].score == scored[0].score and library.queue_length() == {}
    assert library.show(files[0]).evaluations[0].critiques == done[0].critiques


def test_errors_are_recorded_and_the_run_goes_on(library, files, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(files[1].read_bytes()[:100])
    missing = tmp_path / "missing.png"
    results = list(
        ingest(
            FakeEngine(),
            library,
            [files[0], broken, missing],
            problems=[("nowhere/*.png", "missing", "nowhere/*.png: the pattern matches no image file")],
        )
    )
    statuses = {r.path: (r.status, r.error_kind) for r in results}
    assert statuses[str(files[0])] == ("scored", None)
    # a file that is not there when it is read has gone (decoding says the same: FileGone): not an error
    assert statuses[str(broken)][0] == "failed" and statuses[str(missing)] == ("gone", "gone")
    assert statuses["nowhere/*.png"] == ("failed", "missing")
    # error rows hold absolute paths like every other row
    assert {e.path for e in library.errors()} == {str(broken), os.path.abspath("nowhere/*.png")}


def test_passed_over_files_are_not_errors_and_their_jobs_say_why(library, files, tmp_path, monkeypatch):
    """A file passed over while decoding (here: a RAW without its decoder) is counted as such, never as an
    error; a watcher job for it ends passed_over with the reason."""
    from artimuse_core import decoders
    from tests import corpus

    raw = tmp_path / "a.CR2"
    corpus.write_dng(raw)
    monkeypatch.setattr(decoders, "available", lambda family: False)
    library.enqueue(str(raw), raw.stat().st_size, raw.stat().st_mtime)
    job = library.pending_jobs()[0]
    result = list(ingest(FakeEngine(), library, [raw], jobs={job.path: job.id}))[0]
    assert (result.status, result.error_kind) == ("passed_over", "no_decoder") and "install" in result.error
    assert library.errors() == [] and library.queue_length() == {}
    finished = library.last_processed()
    assert (finished.id, finished.status) == (job.id, "passed_over") and finished.error == result.error


def test_a_job_whose_file_vanished_ends_gone(library, files):
    library.enqueue(str(files[3]), 1, 1.0)
    job = library.pending_jobs()[0]
    files[3].unlink()
    result = list(ingest(FakeEngine(), library, [files[3]], jobs={job.path: job.id}))[0]
    assert (result.status, result.ok) == ("gone", False)
    assert library.queue_length() == {} and library.errors() == []


def test_without_a_library_nothing_is_recorded(tmp_path, files):
    results = list(ingest(FakeEngine(), None, files[:2], category="photo"))
    assert [(r.status, r.category, r.category_source, r.evaluation_id) for r in results] == [
        ("scored", "photography", "option", None)
    ] * 2
    assert not (tmp_path / "lib.db").exists()
