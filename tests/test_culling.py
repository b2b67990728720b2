"""Culling outside the browser: the user's decisions in the library (stars, pick flag, reject, clear), `artimuse
rate` on many images, the decision columns and filters of top/show/export, tables that keep every row's path
and score at 80 and 120 columns, a fully cached folder that never builds the engine, and previews of every
format `score` reads (a placeholder naming the extra when a decoder is missing, in the gallery and the
report)."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from artimuse_cli.output import table
from tests.shoot import make_shoot


@pytest.fixture(scope="module")
def shoot(tmp_path_factory):
    return make_shoot(tmp_path_factory.mktemp("card") / "shoot")


@pytest.fixture()
def scored(shoot, tmp_path, home, run_cli, monkeypatch):
    """A copy of the shoot, scored through the CLI, with the current folder above it (paths named relative)."""
    folder = tmp_path / "shoot"
    shutil.copytree(shoot.folder, folder)
    monkeypatch.chdir(tmp_path)
    result = run_cli("score", "shoot")
    assert result.exit_code == 0, result.output
    return folder


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# --- decisions in the library ---------------------------------------------------------------------------------
def test_a_decision_carries_the_rest_of_the_state_over(scored):
    from artimuse_core.config import load_config
    from artimuse_core.library import Library

    library = Library(config=load_config())
    image = scored / "IMG_0101.jpg"
    state = lambda r: (r.score, r.stars, r.picked, r.rejected)  # noqa: E731
    assert state(library.rate(image, picked=True)) == (None, None, True, False)  # a pick of an unrated image
    assert state(library.rate(image, stars=4)) == (70, 4, True, False)  # stars keep the pick
    assert state(library.rate(image, picked=False)) == (70, 4, False, False)  # unpick keeps the stars
    assert state(library.rate(image, rejected=True)) == (0, None, False, True)  # a reject drops both
    assert state(library.rate(image, picked=True)) == (None, None, True, False)  # a pick lifts the reject
    assert state(library.rate(image, clear=True)) == (None, None, False, False)
    assert [r for r in library.ratings() if r.path.endswith("IMG_0101.jpg")] == []  # nothing to train on
    with pytest.raises(ValueError, match="give stars, a score, a pick"):
        library.rate(image)
    with pytest.raises(ValueError, match="no stars, score or pick"):
        library.rate(image, rejected=True, stars=3)
    library.close()


def test_the_cull_migration_keeps_every_rating_and_its_counter(tmp_path):
    """0012 rebuilds the ratings table on SQLite (score nullable): rows, the row-count triggers and downgrade."""
    import sqlite3

    from alembic import command

    from artimuse_core.library import Library
    from artimuse_core.library.database import alembic_config

    db = tmp_path / "library.db"
    library = Library.at(db)
    with library.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0011")
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO images (id, path, content_hash, size, mtime, first_seen, last_seen, missing) "
            "VALUES (1, '/a.jpg', 'h', 1, 0, '2026-01-01', '2026-01-01', 0)"
        )
        conn.execute(
            "INSERT INTO ratings (image_id, score, stars, created_at, source, rejected) "
            "VALUES (1, 70, 4, '2026-01-01', 'user', 0)"
        )
    with library.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT score, stars, picked FROM ratings").fetchall() == [(70.0, 4.0, 0)]
        conn.execute("INSERT INTO ratings (image_id, score, created_at, picked) VALUES (1, NULL, '2026-01-02', 1)")
        assert conn.execute("SELECT count FROM row_counts WHERE name = 'ratings'").fetchone() == (2,)
    with library.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0011")
    with sqlite3.connect(db) as conn:  # the pick without stars cannot exist below 0012: it goes
        assert conn.execute("SELECT score FROM ratings").fetchall() == [(70.0,)]
    library.close()


# --- rate, top, show, export ----------------------------------------------------------------------------------
def test_rate_many_globs_and_stdin_with_picks_rejects_and_clears(scored, run_cli):
    picked = run_cli("rate", "shoot/IMG_010*.jpg", "--pick")
    assert picked.exit_code == 0 and "rated 3 image(s)" in picked.output
    assert "shoot/IMG_0101.jpg" in picked.output  # relative, as named
    assert run_cli("rate", "shoot/IMG_0102.jpg", "--stars", "5").exit_code == 0
    assert run_cli("rate", "shoot/IMG_0103.jpg", "shoot/IMG_0110.jpg", "--reject").exit_code == 0
    listed = run_cli("top", "--picked", "--paths")
    assert sorted(p.rsplit("/", 1)[-1] for p in listed.stdout.split()) == ["IMG_0101.jpg", "IMG_0102.jpg"]
    unrated = run_cli("top", "--unrated", "--paths", "-n", "3").stdout
    fed = run_cli_stdin(run_cli, unrated, "rate", "--from-stdin", "--stars", "2", "--json")
    assert fed.exit_code == 0 and [r["stars"] for r in json.loads(fed.stdout)] == [2, 2, 2]
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(run_cli("top", "--json", "-n", "50").stdout)}
    assert (rows["IMG_0102.jpg"]["stars"], rows["IMG_0102.jpg"]["picked"]) == (5, True)
    assert rows["IMG_0110.jpg"]["rejected"] and not rows["IMG_0110.jpg"]["picked"]
    table_text = plain(run_cli("top", "-n", "50").stdout)
    assert "★★★★★ picked" in table_text and "rejected" in table_text
    assert "your decision: ★★★★★ picked" in run_cli("show", "shoot/IMG_0102.jpg").stdout
    cleared = run_cli("rate", "shoot/IMG_0102.jpg", "--clear")
    assert cleared.exit_code == 0 and "IMG_0102.jpg" not in run_cli("top", "--picked", "--paths").stdout
    exported = [json.loads(line) for line in run_cli("export", "--rejected").stdout.splitlines()]
    assert sorted(e["path"].rsplit("/", 1)[-1] for e in exported) == ["IMG_0103.jpg", "IMG_0110.jpg"]
    assert all(e["rejected"] and e["rating"] == 0 for e in exported)


def run_cli_stdin(run_cli, text, *args):
    """`run_cli` with standard input (CliRunner's ``input``)."""
    from click.testing import CliRunner

    from artimuse_cli.main import AppContext, cli
    from artimuse_core.testing import FakeEngine

    return CliRunner().invoke(cli, list(args), input=text, obj=AppContext(engine_factory=FakeEngine))


def test_rate_lists_every_file_and_fails_only_for_what_cannot_be_rated(scored, run_cli):
    (scored / "notes.txt").write_text("not a picture")
    done = run_cli("rate", "shoot/IMG_0160.jpg", "shoot/notes.txt", "shoot/nothing-*.jpg", "--stars", "3")
    assert done.exit_code == 1 and "rated 1 image(s), 2 failed" in done.output
    assert "can be rated" in done.output and "matches no file" in done.output and "Traceback" not in done.output
    usage = run_cli("rate", "shoot/IMG_0160.jpg", "--reject", "--stars", "3")
    assert usage.exit_code == 2 and "no stars, score or pick" in usage.output


# --- tables ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", [80, 120])
def test_every_row_keeps_its_path_and_score_on_one_line_whatever_the_errors(width):
    rows = [
        {
            "path": f"/home/someone/Pictures/2026/05-01 wedding in the hills/ceremony/card 2/IMG_{i:04d}.jpg",
            "score": 50.0 + i,
            "std": 4.25,
            "category": "photography",
            "status": "failed" if i % 2 else "scored",
            "error": f"damaged JPEG file (broken data stream when reading image file {i}): the copy is incomplete "
            "or the card is failing; copy it again"
            if i % 2
            else None,
        }
        for i in range(6)
    ]
    lines = plain(table(rows, ["path", "score", "std", "category", "status", "error"], terminal=True, width=width))
    body = lines.splitlines()[2:8]
    assert all(len(line) <= width for line in lines.splitlines())
    for i, line in enumerate(body):
        assert line.startswith("/home/") and f"IMG_{i:04d}.jpg  " in line and f"{50 + i:.2f}" in line and "4.25" in line
        assert ("failed" if i % 2 else "scored") in line
    notes = lines.splitlines()[8:]
    assert sum(line.startswith("  /home/") for line in notes) == 3  # the errors, under the table, wrapped
    joined = " ".join(line.strip() for line in notes)
    assert all(f"reading image file {i}): the copy" in joined for i in (1, 3, 5))


def test_score_prints_paths_as_named_and_the_errors_under_the_table(scored, run_cli, monkeypatch):
    (scored / "IMG_0199.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 400)
    from artimuse_cli import output

    monkeypatch.setattr(output, "on_terminal", lambda: True)  # as on an 80-column terminal
    monkeypatch.setattr(output, "_terminal_width", lambda: 80)
    done = run_cli("score", "shoot", "--no-save")
    text = plain(done.stdout)
    rows = [line for line in text.splitlines() if line.startswith("shoot/")]
    assert len(rows) == 11 and all(len(line) <= 80 for line in text.splitlines())
    assert any(line.startswith("shoot/IMG_0199.jpg") and "failed" in line for line in rows)


# --- the lazy engine -------------------------------------------------------------------------------------------
def test_a_fully_cached_folder_never_builds_the_engine(scored, run_cli, fake_engines):
    built = len(fake_engines)
    again = run_cli("score", "shoot")
    assert again.exit_code == 0 and "0 scored, 10 cached" in again.output
    assert "nothing needed scoring" in again.output and "no model loaded" in again.output
    assert len(fake_engines) == built  # the factory was never called
    shutil.copy(scored / "IMG_0160.jpg", scored / "IMG_0161.jpg")  # same content, new name: still cached
    (scored / "IMG_0162.png").write_bytes((scored / "IMG_0150.png").read_bytes()[:-8] + b"12345678")
    mixed = run_cli("score", "shoot")
    assert mixed.exit_code in (0, 1) and len(fake_engines) == built + 1  # one new file: built once, for it


# --- previews ----------------------------------------------------------------------------------------------------
def test_every_format_score_reads_has_a_preview_upright_and_as_seen(shoot):
    import io

    import numpy as np
    from PIL import Image

    from artimuse_core.previews import render_preview

    for path in shoot.files:
        picture = Image.open(io.BytesIO(render_preview(path, 480)))
        assert picture.mode == "RGB" and max(picture.size) <= 480, path.name
    rotated = Image.open(io.BytesIO(render_preview(shoot.rotated, None)))
    assert rotated.size == Image.open(shoot.rotated).size[::-1]  # EXIF orientation 6 applied: upright
    scan = np.asarray(Image.open(io.BytesIO(render_preview(shoot.sixteen_bit, None))).convert("L"), dtype=float)
    assert 30 < scan.mean() < 220 and (scan >= 250).mean() < 0.2  # 16-bit scaled as seen, not clipped white
    cmyk = np.asarray(Image.open(io.BytesIO(render_preview(shoot.cmyk, None))), dtype=float)
    assert cmyk[..., 0].mean() > cmyk[..., 2].mean() + 20  # the coffee is warm (CMYK converted, not inverted)


def test_raw_and_jpeg_xl_previews_are_what_score_reads(tmp_path):
    """A RAW file previews from its embedded preview (not the tiny thumbnail Pillow sees), turned upright by
    the RAW's own orientation; a JPEG XL through its plugin; each the size ``score`` records."""
    import io

    from PIL import Image

    from artimuse_core import decoders
    from artimuse_core.images import open_rgb
    from artimuse_core.previews import render_preview
    from tests import corpus

    if not (decoders.available("raw") and decoders.available("jxl")):
        pytest.skip("needs the formats extra (rawpy, pillow-jxl-plugin)")
    files = [
        corpus.write_dng(tmp_path / "IMG_0001.dng", preview=(1024, 768)),
        corpus.write_dng(tmp_path / "IMG_0002.dng", preview=(600, 450), orientation=6),
        corpus.write_jxl(tmp_path / "IMG_0003.jxl"),
    ]
    for path in files:
        shown = Image.open(io.BytesIO(render_preview(path, None)))
        scored = open_rgb(path)
        assert shown.size == (scored.width, scored.height), path.name
    assert Image.open(io.BytesIO(render_preview(files[0], None))).size == (1024, 768)  # not the 160x120 thumbnail
    assert Image.open(io.BytesIO(render_preview(files[1], 480))).size == (360, 480)  # upright, then fitted


def test_a_missing_decoder_is_a_placeholder_naming_the_extra_in_the_gallery_and_the_report(scored, home, monkeypatch):
    from starlette.testclient import TestClient

    from artimuse_core import decoders
    from artimuse_core.config import load_config
    from artimuse_core.library import Library
    from artimuse_web.app import create_app
    from artimuse_web.pictures import Renditions
    from artimuse_web.report import write_report

    monkeypatch.setattr(decoders, "available", lambda family: family != "heif")
    library = Library(config=load_config())
    heic = library.image_id(str((scored / "IMG_0130.heic").resolve()))
    client = TestClient(create_app(library, thumbnails=home / "thumbnails"), base_url="http://127.0.0.1")
    answer = client.get(f"/picture/{heic}/s")
    reason = answer.headers["x-artimuse-unavailable"]
    assert answer.status_code == 200 and "pillow-heif" in reason and "artimuse-studio[formats]" in reason
    assert "Traceback" not in answer.text and "Error" not in reason and str(scored) not in answer.text
    assert (
        client.get(f"/picture/{library.image_id(str((scored / 'IMG_0120.jpg').resolve()))}/s").headers.get(
            "x-artimuse-unavailable"
        )
        is None
    )  # the CMYK JPEG shows
    report = write_report(library, home / "r.html", renditions=Renditions(home / "thumbs2"), paths=[scored])
    html = (home / "r.html").read_text(encoding="utf-8")
    assert report.images == 10 and "pillow-heif" in html and "Traceback" not in html
    assert [p for p in report.problems if "IMG_0130.heic" in p and "artimuse-studio[formats]" in p]
    library.close()


def test_deleted_files_leave_the_gallery_unless_the_missing_filter_is_on(scored, home):
    from starlette.testclient import TestClient

    from artimuse_core.config import load_config
    from artimuse_core.library import Library
    from artimuse_web.app import create_app

    library = Library(config=load_config())
    client = TestClient(create_app(library, thumbnails=home / "thumbnails"), base_url="http://127.0.0.1")
    (scored / "IMG_0160.jpg").unlink()
    page = client.get("/").text
    assert "IMG_0101.jpg" in page and "IMG_0160.jpg" not in page
    assert "IMG_0160.jpg" not in [p.rsplit("/", 1)[-1] for p in (r.path for r in library.top(limit=50))]  # as top
    shown = client.get("/?missing=1").text
    gone = library.image_id(str((scored / "IMG_0160.jpg").resolve()))
    assert "IMG_0160.jpg" in shown and "missing" in shown
    placeholder = client.get(f"/picture/{gone}/s")
    assert "IMG_0160.jpg" in placeholder.headers["x-artimuse-unavailable"]
    assert str(scored) not in placeholder.text  # the file's name, never its full path
    library.close()


def test_the_identity_read_from_a_checkpoint_is_the_loaded_engines(engine, tiny_chat):
    """What the cache lookup reads from the files (no torch, no weights) is what loading gives: a real
    checkpoint's cached folder is found without loading it."""
    from artimuse_core.lazy_engine import weights_identity
    from artimuse_core.spec import EngineSpec

    identity = weights_identity(EngineSpec.coerce(str(tiny_chat)))
    assert identity is not None
    assert (identity.fingerprint, identity.adapter) == (engine.provenance.fingerprint, engine.provenance.adapter)
    assert identity.family.name == engine.family.name
    assert weights_identity(EngineSpec.coerce(str(tiny_chat.parent / "not-there"))) is None  # loading says why
