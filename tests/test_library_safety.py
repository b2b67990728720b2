"""Hostile and unlucky cases of the library side: adapter names and deletes, a damaged database,
spreadsheet injection, a disk too full for the migration backup, a database that cannot be written,
malformed checkpoints and adapters, and a database newer than this artimuse."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import textwrap
import types

import pytest

from tests import corpus


def _one_clear_line(result) -> str:
    """The command failed with one line of its own, no traceback."""
    assert result.exit_code != 0
    assert "Traceback" not in result.output and not isinstance(result.exception, AssertionError)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


# --------------------------------------------------------------------------------------- adapter names
@pytest.mark.parametrize("name", ["..", "", "a/b", ".hidden", "../home", "x" * 65, "=HYPERLINK(1)", "a..b", "a."])
def test_bad_adapter_names_are_refused_and_nothing_is_deleted(name, home, run):
    from artimuse_core.config import home_paths

    (home / "adapters" / "keep").mkdir(parents=True)
    (home / "adapters" / "keep" / "artimuse_adapter.json").write_text("{}")
    (home / "library.db").write_bytes(b"")
    line = _one_clear_line(run("finetune", "--from-db", "--name", name))
    assert "is not allowed" in line and "letters, digits" in line
    assert (home / "adapters" / "keep" / "artimuse_adapter.json").exists() and (home / "library.db").exists()
    assert home_paths().adapters_dir == home / "adapters"


def test_good_adapter_names_pass():
    from artimuse_core.adapters import check_name

    for name in ("my-taste", "portraits_2026", "v1.2", "A"):
        assert check_name(name) == name


def test_only_folders_artimuse_made_inside_the_adapters_folder_are_deleted(home, tmp_path):
    from artimuse_core.adapters import remove_adapter_folder, work_dir
    from artimuse_core.errors import FinetuneError

    adapters = home / "adapters"
    (adapters / "mine").mkdir(parents=True)
    (adapters / "mine" / "adapter_config.json").write_text("{}")
    (adapters / "stranger").mkdir()
    (adapters / "stranger" / "photo.jpg").write_bytes(b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "artimuse_adapter.json").write_text("{}")
    os.symlink(outside, adapters / "link")
    for refused in (adapters / "stranger", adapters / "link", outside, home, adapters, adapters / ".."):
        with pytest.raises(FinetuneError, match="refusing to delete"):
            remove_adapter_folder(refused)
    assert (adapters / "stranger" / "photo.jpg").exists() and (outside / "artimuse_adapter.json").exists()
    assert remove_adapter_folder(adapters / "mine") and not (adapters / "mine").exists()
    work = work_dir("mine")
    work.mkdir()
    assert remove_adapter_folder(work) and not work.exists()
    assert remove_adapter_folder(adapters / "gone") is False


def test_adapters_remove_never_deletes_a_path_from_a_tampered_record(home, tmp_path, run):
    from artimuse_core.library import Library

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "adapter_config.json").write_text("{}")
    with Library.at(home / "library.db") as library:
        library.register_adapter(
            name="evil", path=str(victim), base_model="m", base_fingerprint="f", train_size=1, val_size=1,
            metrics={}, hyperparameters={},
        )  # fmt: skip
    line = _one_clear_line(run("adapters", "remove", "evil", "--yes"))
    assert "refusing to delete" in line and (victim / "adapter_config.json").exists()


def test_adapter_config_that_is_not_json_is_a_clear_error(tmp_path):
    from artimuse_core.adapters import check_config
    from artimuse_core.errors import CheckpointError

    (tmp_path / "adapter_config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="adapter_config.json: not a valid adapter config"):
        check_config(tmp_path)
    (tmp_path / "adapter_config.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="not a JSON object"):
        check_config(tmp_path)


# ------------------------------------------------------------------------------------ damaged database
def _filled_library(home, tmp_path, count=120):
    from artimuse_core.library import Library, ScoredFile, file_facts
    from artimuse_core.testing import FakeEngine

    folder = tmp_path / "many"
    folder.mkdir()
    files = [corpus.write_photo(folder / f"{i:03}.png", (8, 8), seed=i) for i in range(count)]
    engine = FakeEngine()
    with Library.at(home / "library.db") as library:
        results = list(engine.evaluate(files, predict_category=False, critique=(), max_new_tokens=8))
        library.record_scores([ScoredFile(file_facts(r.path), r) for r in results])
    return files


def test_a_damaged_header_is_one_clear_line_everywhere(home, tmp_path, run):
    files = _filled_library(home, tmp_path, 5)
    db = home / "library.db"
    with open(db, "r+b") as handle:
        handle.write(b"this is not sqlite at all")
    for args in (("top",), ("stats",), ("rate", files[0], "--stars", "3"), ("export",), ("errors",)):
        line = _one_clear_line(run(*args))
        assert "damaged" in line and ".recover" in line and ".bak" in line, args
    checked = run("db", "check")
    assert checked.exit_code == 1 and "not a database" in checked.output and "DAMAGED" in checked.output
    assert "Traceback" not in checked.output
    scored = run("score", files[0])
    assert "Traceback" not in scored.output and "damaged" in scored.output


def test_random_bytes_mid_file_are_noticed_before_writing(home, tmp_path, run):
    files = _filled_library(home, tmp_path)
    db = home / "library.db"
    assert run("db", "check").exit_code == 0  # sound: records the check
    size = db.stat().st_size
    assert size > 40_000
    with open(db, "r+b") as handle:
        handle.seek(size // 2)
        handle.write(random.Random(6).randbytes(3000))
    old = 2 * 24 * 3600
    marker = db.with_name("library.db.checked")
    os.utime(marker, (marker.stat().st_atime - old, marker.stat().st_mtime - old))  # the daily check is due
    rated = run("rate", files[0], "--stars", "3")
    line = _one_clear_line(rated)
    assert "damaged" in line and "malformed" in line
    assert marker.read_text().strip() == "damaged"
    checked = run("db", "check")
    assert checked.exit_code == 1 and "DAMAGED" in checked.output and "Traceback" not in checked.output
    again = run("rate", files[1], "--stars", "3")  # refused every time until recovered
    assert "damaged" in _one_clear_line(again)
    exported = run("export", "--all")
    assert "Traceback" not in exported.output
    assert exported.exit_code == 0 or "INCOMPLETE" in exported.output or "damaged" in exported.output


def test_the_check_is_skipped_while_recent(home, tmp_path, monkeypatch):
    from artimuse_core.library import Library, database

    _filled_library(home, tmp_path, 2)
    ran = []
    monkeypatch.setattr(database, "check_file", lambda engine: ran.append(1) or [])
    with Library.at(home / "library.db") as library:
        library.rate(tmp_path / "many" / "000.png", stars=2)
    assert ran == []  # checked when the library was filled, less than a day ago


# --------------------------------------------------------------------------------------- CSV injection
def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(home, tmp_path, run):
    from artimuse_core.testing import FakeEngine

    folder = tmp_path / "d"
    folder.mkdir()
    corpus.write_photo(folder / "=cmd|calc.png", (16, 16), seed=1)
    corpus.write_photo(folder / "+sum.png", (16, 16), seed=2)
    scored = run("score", folder, "--format", "csv")
    assert scored.exit_code == 0, scored.output
    rows = list(csv.DictReader(io.StringIO(scored.stdout)))
    names = sorted(r["path"].rsplit("/", 1)[-1] for r in rows)
    assert names == ["+sum.png", "=cmd|calc.png"]  # inside a longer absolute path: no formula
    assert all(float(r["score"]) == pytest.approx(float(r["score"])) for r in rows)  # numbers stay numbers
    tuned = lambda spec: FakeEngine(spec.replace(adapter='=HYPERLINK("http://x","y")'))  # noqa: E731
    run("score", folder, engine=tuned)
    exported = list(csv.DictReader(io.StringIO(run("export", "--format", "csv").stdout)))
    adapters = sorted(r["adapter"] for r in exported)
    assert adapters == ["", "", '\'=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")']
    assert all(not r["score"].startswith("'") for r in exported)


def test_csv_cell_rule():
    from artimuse_cli.output import csv_cell

    assert [csv_cell(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "ok", "a=b")] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "ok",
        "a=b",
    ]
    assert csv_cell(-3.5) == -3.5 and csv_cell(12) == 12 and csv_cell(None) is None


# ------------------------------------------------------------------------------------------- disk full
def test_a_migration_backup_that_does_not_fit_says_so_and_leaves_nothing(tmp_path):
    """A library at revision 0007 bigger than the file size limit (RLIMIT_FSIZE in a child, as a full
    disk): one LibraryError line, no 0-byte .bak left, the database untouched."""
    from alembic import command

    from artimuse_core.library.database import alembic_config, create_db_engine

    db = tmp_path / "old.db"
    engine = create_db_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0007")
        conn.exec_driver_sql("CREATE TABLE padding (x BLOB)")
        conn.exec_driver_sql("INSERT INTO padding VALUES (zeroblob(400000))")
    engine.dispose()
    before = db.read_bytes()
    child = textwrap.dedent(
        f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        from artimuse_core.errors import LibraryError
        from artimuse_core.library import Library
        try:
            Library.at({str(db)!r})
        except LibraryError as exc:
            print("ERROR", exc)
            sys.exit(3)
        """
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "cannot set aside a backup" in done.stdout and "Nothing was changed" in done.stdout
    assert "Traceback" not in done.stderr
    assert not [p.name for p in tmp_path.iterdir() if ".bak" in p.name]
    assert db.read_bytes()[:100] == before[:100]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0007",)


# ------------------------------------------------------------------------- a database that cannot be written
def test_scores_are_printed_when_the_database_cannot_be_written(home, tmp_path):
    """A write lock held elsewhere past the busy timeout: every score is still computed and returned, each
    with the 'not saved' warning; nothing raises."""
    from artimuse_core.library import Library, ingest
    from artimuse_core.library.door import NOT_SAVED
    from artimuse_core.testing import FakeEngine

    files = [corpus.write_photo(tmp_path / f"{i}.png", (8, 8), seed=i) for i in range(3)]
    library = Library.at(home / "library.db", busy_timeout_s=0.2)
    library.stats()
    library.rate(files[0], stars=1)  # the daily check ran: only the lock is in the way
    holder = sqlite3.connect(home / "library.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        results = list(ingest(FakeEngine(), library, files))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [r.status for r in results] == ["scored"] * 3 and all(r.score is not None for r in results)
    assert all(any(w.startswith(NOT_SAVED) and "locked" in w for w in r.warnings) for r in results)
    assert library.stats().counts["evaluations"] == 0
    library.close()


def test_score_cli_prints_unsaved_scores_and_exits_3(home, tmp_path, run, monkeypatch):
    from artimuse_core.errors import LibraryError
    from artimuse_core.library.writes import Writes

    def full(self, items):
        raise LibraryError("library.db: database or disk is full")

    monkeypatch.setattr(Writes, "record_scores", full)
    image = corpus.write_photo(tmp_path / "a.png", (8, 8))
    result = run("score", image, "--format", "jsonl")
    assert result.exit_code == 3
    assert json.loads(result.stdout.splitlines()[0])["score"] is not None
    assert "NOT saved" in result.stderr and "disk is full" in result.stderr


def test_db_current_on_a_newer_database_says_to_upgrade_artimuse(home, run):
    assert run("stats").exit_code == 0
    with sqlite3.connect(home / "library.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    line = run("db", "current").output
    assert "upgrade artimuse" in line and "artimuse db upgrade" not in line


@pytest.mark.parametrize(
    "header",
    [b"", b"\x01\x02", (2**63).to_bytes(8, "little"), (10**12).to_bytes(8, "little"), (0).to_bytes(8, "little")],
)
def test_fingerprint_of_a_malformed_safetensors_is_a_typed_error(header, tmp_path):
    from artimuse_core.checkpoints import fingerprint
    from artimuse_core.errors import CheckpointError

    (tmp_path / "config.json").write_text("{}")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(header + b"{}" * 4)
    info = types.SimpleNamespace(path=tmp_path, weight_files=[weights])
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        fingerprint(info)


def test_the_remote_code_refusal_never_advises_trust_remote_code():
    from artimuse_core.checkpoints import REMOTE_CODE_REFUSAL, refusal_text

    bait = ValueError(
        "The repository x contains custom code which must be executed to correctly load the model. "
        "Please pass the argument `trust_remote_code=True` to allow custom code to be run.\nmore"
    )
    assert refusal_text(bait) == REMOTE_CODE_REFUSAL and "trust_remote_code" not in REMOTE_CODE_REFUSAL
    assert refusal_text(OSError("no file named model.safetensors\nsecond line")) == "no file named model.safetensors"


def test_a_library_another_process_migrated_meanwhile_is_opened_not_refused(tmp_path, monkeypatch):
    """Two watchers opening one new library at once: the second read "no revision" just
    before the first committed its migration, then saw the first's tables. It must re-read the revision and
    open the library, not call it a foreign database."""
    from artimuse_core.library import Library, database

    path = tmp_path / "library.db"
    Library.at(path).close()  # the first process's migration, committed
    real = database.current_revision
    reads = []

    def stale_first(engine):
        reads.append(1)
        return None if len(reads) == 1 else real(engine)

    monkeypatch.setattr(database, "current_revision", stale_first)
    engine = database.create_db_engine(f"sqlite:///{path}")
    assert database.migrate(engine) is None and len(reads) == 2
    assert real(engine) == database.HEAD
    engine.dispose()
