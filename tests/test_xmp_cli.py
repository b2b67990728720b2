"""The XMP front end: `artimuse xmp write`, `score --xmp`, the watcher's hook and `artimuse ratings import`,
on the fake engine, with exiftool as the independent reader and as the user's photo manager."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from PIL import Image

from artimuse_core.config import load_config
from artimuse_core.library import Library
from artimuse_core.prompts import ATTRIBUTES
from artimuse_core.testing import FakeEngine
from artimuse_core.xmp import PROPERTIES, critique_property, sidecar_path
from tests.corpus import write_dng
from tests.test_xmp import DARKTABLE_CONFIG, EXIFTOOL, ExifTool, make_jpeg, make_read_only, user_sidecar

pytestmark = pytest.mark.skipif(EXIFTOOL is None, reason="needs exiftool (apt install libimage-exiftool-perl)")


@pytest.fixture(scope="module")
def tool(tmp_path_factory):
    config = tmp_path_factory.mktemp("exiftool") / "darktable.config"
    config.write_text(DARKTABLE_CONFIG)
    exiftool = ExifTool(config)
    yield exiftool
    exiftool.close()


def tags_of(tool, path: Path) -> dict:
    data = json.loads(tool("-j", "-G1", "-struct", "-n", "-XMP:all", "-EXIF:all", path))[0]
    return {k: v for k, v in data.items() if k != "SourceFile"}


def ours(tags: dict) -> dict:
    return {k.split(":", 1)[1]: v for k, v in tags.items() if k.startswith("XMP-artimuse:")}


@pytest.fixture()
def fake():
    return FakeEngine()


@pytest.fixture()
def run(run_cli, fake, home):
    """`artimuse ...` with one FakeEngine for the whole test (``fake.enqueue`` sets the next scores)."""
    return lambda *args: run_cli(*args, engine=lambda spec: fake)


def scored(run, fake, folder: Path, scores: dict[str, float], *extra: str) -> list[Path]:
    paths = []
    for i, name in enumerate(scores):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            make_jpeg(path, (40 + 7 * i, 90, 200 - 5 * i))
        paths.append(path)
    fake.enqueue(*scores.values())
    result = run("critique", *paths, "--json", *extra)
    assert result.exit_code == 0, result.output
    return paths


# ------------------------------------------------------------------------------------------ settings
def test_xmp_settings_are_declared_once_file_environment_flag(home, run, monkeypatch):
    home.mkdir(parents=True)
    (home / "config.toml").write_text('xmp_naming = "lightroom"\nrating_cuts = [10, 30, 50, 70]\nxmp_keywords = true\n')
    monkeypatch.setenv("ARTIMUSE_RATING_MODE", "percentiles")
    monkeypatch.setenv("ARTIMUSE_RATING_CUTS", "5,25,75,95")
    config = load_config()
    assert config.xmp["xmp_naming"] == "lightroom" and config.xmp["rating_cuts"] == (5.0, 25.0, 75.0, 95.0)
    settings = config.xmp_settings()
    assert (settings.naming, settings.rating.mode, settings.keywords) == ("lightroom", "percentiles", True)
    shown = json.loads(run("config", "show", "--json").stdout)["settings"]
    assert shown["xmp_naming"] == {"value": "lightroom", "source": "file"}
    assert shown["rating_cuts"] == {"value": [5.0, 25.0, 75.0, 95.0], "source": "environment"}
    assert shown["overwrite_ratings"] == {"value": False, "source": "default"}

    bad = run("xmp", "write", str(home), "--rating-cuts", "50,40,60,80")
    assert bad.exit_code == 2 and "--rating-cuts must rise strictly" in bad.output and "Traceback" not in bad.output
    pick = run("xmp", "write", str(home), "--xmp-label", "pick")  # pick needs pick_at
    assert pick.exit_code == 2 and "--pick-at" in pick.output
    monkeypatch.setenv("ARTIMUSE_XMP_NAMING", "picasa")
    wrong = run("config", "show")
    assert wrong.exit_code != 0 and "ARTIMUSE_XMP_NAMING" in wrong.output


# ------------------------------------------------------------------------------------------ xmp write
@pytest.mark.parametrize("naming, name", [("darktable", "IMG_1.jpg.xmp"), ("lightroom", "IMG_1.xmp")])
def test_xmp_write_from_the_library_is_read_back_by_exiftool(tmp_path, run, fake, tool, naming, name):
    shoot = tmp_path / "shoot"
    scored(run, fake, shoot, {"IMG_1.jpg": 84.5, "IMG_2.jpg": 31.0})
    library = Library()
    current = library.show(shoot / "IMG_1.jpg").evaluations[0]
    engine_calls = len(fake.calls)

    result = run(
        "xmp", "write", shoot, "--xmp-naming", naming, "--xmp-label", "category", "--xmp-description", "--xmp-keywords",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["counts"] == {
        "created": 2, "updated": 0, "unchanged": 0, "kept_user_rating": 0, "failed": {}, "passed_over": {},
    }  # fmt: skip
    assert len(fake.calls) == engine_calls  # no model ran
    tags = tags_of(tool, shoot / name)
    assert tags["XMP-xmp:Rating"] == 5 and tags["XMP-xmp:Label"]
    mine = ours(tags)
    assert mine["Score"] == pytest.approx(current.score, abs=0.01) and mine["Model"] == current.model
    assert mine["ModelFingerprint"] == current.fingerprint and mine["Category"] == current.category
    for prop in set(PROPERTIES) - {"Adapter", "WrittenLabel", "WrittenDescription"}:
        assert prop in mine, prop
    for attribute in ATTRIBUTES:
        assert mine[critique_property(attribute)] == current.critiques[attribute]
    assert "artimuse/score/80-89" in tags["XMP-dc:Subject"]
    assert tags_of(tool, sidecar_path(shoot / "IMG_2.jpg", naming))["XMP-xmp:Rating"] == 2

    again = json.loads(run("xmp", "write", shoot, "--xmp-naming", naming, "--xmp-label", "category",
                           "--xmp-description", "--xmp-keywords", "--json").stdout)  # fmt: skip
    assert again["counts"]["unchanged"] == 2


def test_xmp_write_counts_every_file_and_keeps_what_the_user_wrote(tmp_path, run, fake, tool):
    shoot = tmp_path / "shoot"
    scored(run, fake, shoot, {"a.jpg": 90.0, "b.jpg": 50.0, "c.jpg": 70.0})
    user_sidecar(tool, shoot / "a.jpg.xmp", rating=2)  # the user's own 2 stars, keywords, darktable history
    (shoot / "b.jpg.xmp").write_bytes(b"<x:xmpmeta><rdf:RDF>broken")  # not XML: reported, untouched
    make_jpeg(shoot / "unscored.jpg")
    (shoot / "notes.txt").write_text("not an image")
    before = (shoot / "b.jpg.xmp").read_bytes()

    result = run("xmp", "write", shoot, "--json")
    assert result.exit_code == 1  # one failed
    out = json.loads(result.stdout)
    assert out["counts"] == {
        "created": 1, "updated": 1, "unchanged": 0, "kept_user_rating": 1,
        "failed": {"invalid_sidecar": 1}, "passed_over": {"not in the library": 1, ".txt": 1, "XMP sidecar": 2},
    }  # fmt: skip
    assert (shoot / "b.jpg.xmp").read_bytes() == before
    tags = tags_of(tool, shoot / "a.jpg.xmp")
    assert tags["XMP-xmp:Rating"] == 2 and ours(tags)["SuggestedRating"] == 5  # the user's rating kept
    assert tags["XMP-dc:Subject"] == ["paris", "anna"] and tags["XMP-photoshop:City"] == "Paris"
    failed = next(f for f in out["files"] if f["status"] == "failed")
    assert failed["image"].endswith("b.jpg") and failed["error_kind"] == "invalid_sidecar"
    assert "1 failed (invalid_sidecar: 1)" in result.stderr and "4 passed over" in result.stderr

    forced = json.loads(run("xmp", "write", shoot / "a.jpg", "--overwrite-ratings", "--json").stdout)
    assert forced["counts"]["updated"] == 1 and tags_of(tool, shoot / "a.jpg.xmp")["XMP-xmp:Rating"] == 5


def test_percentiles_per_folder_or_per_collection(tmp_path, run, fake, tool):
    low = {f"low/{i}.jpg": 20.0 + i for i in range(10)}  # a folder of weak images ...
    high = {f"high/{i}.jpg": 70.0 + i for i in range(10)}  # ... and a folder of strong ones
    scored(run, fake, tmp_path, {**low, **high})

    def stars(*args):
        result = run("xmp", "write", tmp_path / "low", tmp_path / "high", "--rating-mode", "percentiles", *args)
        assert result.exit_code == 0, result.output
        return {name: tags_of(tool, sidecar_path(tmp_path / name))["XMP-xmp:Rating"] for name in (*low, *high)}

    per_folder = stars("--overwrite-ratings")
    assert per_folder["low/9.jpg"] == per_folder["high/9.jpg"] == 5  # each folder's best tenth: 5 stars
    assert per_folder["low/0.jpg"] == per_folder["high/0.jpg"] == 1
    whole = stars("--overwrite-ratings", "--rating-scope", "collection")
    assert whole["low/9.jpg"] == 3 and whole["high/9.jpg"] == 5 and whole["low/0.jpg"] == 1


def test_read_only_folder_is_a_clear_error_and_loses_nothing(tmp_path, run, fake, tool, request):
    assert make_read_only  # test_xmp's fixture (imported: pytest finds it here), used through request
    shoot = tmp_path / "shoot"
    scored(run, fake, shoot, {"a.jpg": 60.0})
    user_sidecar(tool, shoot / "a.jpg.xmp")
    snapshot = {p.name: p.read_bytes() for p in shoot.iterdir()}
    request.getfixturevalue("make_read_only")(shoot)
    result = run("xmp", "write", shoot / "a.jpg")
    assert result.exit_code == 1 and "read-only" in result.output and "nothing was changed" in result.output
    assert {p.name: p.read_bytes() for p in shoot.iterdir()} == snapshot


def test_score_xmp_writes_after_the_door_and_a_bad_sidecar_is_that_files_error(tmp_path, run, fake, tool):
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for name in ("a.jpg", "b.jpg"):
        make_jpeg(shoot / name)
    (shoot / "b.jpg.xmp").write_text("<not xml")
    fake.enqueue(88.0, 45.0)
    result = run("score", shoot / "a.jpg", shoot / "b.jpg", "--xmp", "--xmp-naming", "darktable", "-f", "json")
    assert result.exit_code == 1  # b's XMP failed; both scores are recorded
    assert [r["status"] for r in json.loads(result.stdout)] == ["scored", "scored"]
    assert tags_of(tool, shoot / "a.jpg.xmp")["XMP-xmp:Rating"] == 5
    assert (shoot / "b.jpg.xmp").read_text() == "<not xml"
    assert "1 created" in result.stderr and "invalid_sidecar" in result.stderr
    errors = Library().errors()
    assert [(e.kind, Path(e.path).name) for e in errors] == [("invalid_sidecar", "b.jpg")]


# ------------------------------------------------------------------------------------------ watcher
def test_the_watcher_writes_sidecars_and_keeps_an_edit_the_user_makes_meanwhile(tmp_path, home, tool):
    from artimuse_core.xmp import write_after_scoring, writing
    from artimuse_watcher import Watcher, WatcherSettings

    folder = tmp_path / "exports"
    folder.mkdir()
    library = Library()
    config = load_config()
    settings = WatcherSettings(
        folders=[(folder, None)],
        debounce_s=0.05,
        flush_after_s=0,
        status_file=tmp_path / "watcher.json",
        after_scoring=lambda results: write_after_scoring(library, results, config),
    )
    watcher = Watcher(settings, library, lambda: FakeEngine())
    image = make_jpeg(folder / "IMG_9.jpg")
    sidecar = user_sidecar(tool, folder / "IMG_9.jpg.xmp", rating=None)
    real_merge, calls = writing.merge_score, []

    def merge_while_the_user_edits(packet, *args):  # the user's tool saves between our read and our rename
        calls.append(1)
        if len(calls) == 1:
            tool("-q", "-overwrite_original", "-XMP-xmp:Rating=1", "-XMP-dc:Subject+=edited-meanwhile", sidecar)
        return real_merge(packet, *args)

    writing.merge_score = merge_while_the_user_edits
    thread = threading.Thread(target=watcher.run, kwargs={"install_signals": False}, daemon=True)
    try:
        thread.start()
        for _ in range(400):
            if len(calls) >= 2 or not thread.is_alive():
                break
            threading.Event().wait(0.05)
    finally:
        watcher.request_stop()
        thread.join(30)
        writing.merge_score = real_merge
    assert len(calls) == 2, "the watcher wrote the sidecar, merging again after the user's edit"
    tags = tags_of(tool, sidecar)
    assert tags["XMP-dc:Subject"] == ["paris", "anna", "edited-meanwhile"] and tags["XMP-xmp:Rating"] == 1
    assert ours(tags)["Score"] == pytest.approx(library.show(image).evaluations[0].score, abs=0.01)


# ------------------------------------------------------------------------------------------ ratings import
def test_ratings_import_stores_every_source_and_counts_the_rest(tmp_path, run, fake, tool):
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    raw = write_dng(shoot / "IMG_1.dng")  # RAW (LibRaw reads it) + darktable sidecar
    tool("-q", "-o", shoot / "IMG_1.dng.xmp", "-XMP-xmp:Rating=4")
    tool("-q", "-o", shoot / "IMG_2.xmp", "-XMP-xmp:Rating=2")  # Lightroom naming
    make_jpeg(shoot / "IMG_2.jpg")
    embedded = make_jpeg(shoot / "IMG_3.jpg")
    tool("-q", "-overwrite_original", "-XMP-xmp:Rating=5", embedded)
    exif = make_jpeg(shoot / "IMG_4.jpg")
    tool("-q", "-overwrite_original", "-EXIF:Rating=3", exif)
    make_jpeg(shoot / "IMG_5.jpg")
    tool("-q", "-o", shoot / "IMG_5.jpg.xmp", "-XMP-xmp:Rating=-1")
    make_jpeg(shoot / "IMG_6.jpg")  # unrated
    make_jpeg(shoot / "IMG_7.jpg")
    (shoot / "IMG_7.jpg.xmp").write_text("<x:xmpmeta")
    scored(run, fake, shoot, {"IMG_8.jpg": 77.0})
    assert run("xmp", "write", shoot / "IMG_8.jpg").exit_code == 0  # our own rating: never imported
    snapshot = (shoot / "IMG_7.jpg.xmp").read_bytes()

    result = run("ratings", "import", shoot, "--json")
    assert result.exit_code == 1, result.output  # the invalid sidecar
    out = json.loads(result.stdout)
    assert out["counts"] == {
        "imported": 4, "rejected": 1, "unchanged": 0, "ours": 1, "unrated": 1,
        "failed": {"invalid_sidecar": 1}, "passed_over": 5,
    }  # fmt: skip
    assert (shoot / "IMG_7.jpg.xmp").read_bytes() == snapshot
    library = Library()
    got = {Path(r.path).name: (r.stars, r.score, r.source) for r in library.ratings()}
    assert got == {
        "IMG_1.dng": (4.0, 70.0, "xmp:darktable"),
        "IMG_2.jpg": (2.0, 30.0, "xmp:lightroom"),
        "IMG_3.jpg": (5.0, 90.0, "xmp:embedded"),
        "IMG_4.jpg": (3.0, 50.0, "exif"),
    }  # the reject is kept but never trained on:
    assert [(Path(r.path).name, r.rejected) for r in library.ratings(include_rejected=True) if r.rejected] == [
        ("IMG_5.jpg", True)
    ]
    assert [Path(r.path).name for r in library.ratings(sources=["exif"])] == ["IMG_4.jpg"]
    assert library.show(raw).ratings[0].source == "xmp:darktable"
    assert "70 (4★) from xmp:darktable" in run("show", raw).output
    assert "4 imported, 1 rejects stored" in result.stderr and "IMG_7.jpg" in result.output

    again = json.loads(run("ratings", "import", shoot, "--json").stdout)["counts"]
    assert (again["imported"], again["rejected"], again["unchanged"]) == (0, 0, 5)
    assert len(library.show(exif).ratings) == 1  # nothing stored twice
    tool("-q", "-overwrite_original", "-EXIF:Rating=1", exif)  # the user changes their mind
    third = json.loads(run("ratings", "import", exif, "--json").stdout)["counts"]
    assert third["imported"] == 1 and library.show(exif).ratings[0].stars == 1.0


def test_finetune_rating_source_filters_before_any_model_loads(tmp_path, run, fake, tool):
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for i in range(6):
        image = make_jpeg(shoot / f"x{i}.jpg")
        tool("-q", "-o", sidecar_path(image), f"-XMP-xmp:Rating={1 + i % 5}")
    for i in range(3):
        Library().rate(make_jpeg(shoot / f"u{i}.jpg"), stars=3)
    assert run("ratings", "import", shoot).exit_code == 0
    from artimuse_core.finetune import FinetuneSettings, plan

    split = plan(Library(), FinetuneSettings(name="t", min_ratings=4, rating_sources=("xmp:darktable",))).split
    assert sorted(Path(r["path"]).name for r in split.train + split.val) == [f"x{i}.jpg" for i in range(6)]
    calls = len(fake.calls)
    refused = run("finetune", "--from-db", "--rating-source", "exif", "--min-ratings", "4")
    assert refused.exit_code == 2 and "too few ratings" in refused.output and len(fake.calls) == calls
    unknown = run("finetune", "--from-db", "--rating-source", "picasa")
    assert unknown.exit_code == 2 and "--rating-source must be among" in unknown.output


def test_the_ratings_migration_keeps_every_row(tmp_path):
    from alembic import command

    from artimuse_core.library.database import alembic_config, create_db_engine

    path = tmp_path / "previous.db"
    engine = create_db_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0007")
    image = make_jpeg(tmp_path / "a.jpg")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO images (id, path, content_hash, size, mtime, first_seen, last_seen, missing) VALUES "
            f"(1, '{image}', 'h', 1, 0, '2026-01-01', '2026-01-01', 0)"
        )
        conn.execute("INSERT INTO ratings VALUES (1, 1, 70.0, 4.0, '2026-01-01')")
    engine.dispose()
    with Library.at(path) as library:
        assert [(r.score, r.stars, r.source, r.rejected) for r in library.ratings()] == [(70.0, 4.0, "user", False)]
        assert library.stats().counts["ratings"] == 1


def test_without_the_xmp_extra_the_commands_say_what_to_install(tmp_path, run, monkeypatch):
    import sys

    from artimuse_core.xmp import packets

    monkeypatch.setattr(packets, "_exiv2", None)
    monkeypatch.setitem(sys.modules, "exiv2", None)
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    for args in (("xmp", "write", tmp_path), ("ratings", "import", tmp_path), ("score", tmp_path, "--xmp")):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "pip install 'artimuse-studio[xmp]'" in result.output and "Traceback" not in result.output
    assert not list(tmp_path.glob("*.xmp"))


def test_watch_xmp_settings_travel_into_the_login_service(run, monkeypatch, tmp_path):
    monkeypatch.setenv("ARTIMUSE_REJECT_BELOW", "12.5")
    result = run("watch", tmp_path, "--xmp", "--xmp-naming", "lightroom", "--xmp-keywords", "--print-service")
    assert result.exit_code == 0, result.output
    assert "--xmp --xmp-naming lightroom" in result.output and "--xmp-keywords" in result.output
    assert "--reject-below 12.5" in result.output  # from the environment: the service has no such variable
    monkeypatch.setenv("ARTIMUSE_REJECT_BELOW", "low")
    bad = run("config", "show")
    assert bad.exit_code != 0 and "ARTIMUSE_REJECT_BELOW" in bad.output and "a number from 0 to 100" in bad.output


# --- the user's own decisions ---------------------------------------------------------------------------------
def test_your_stars_rejects_and_picks_reach_the_photo_manager_and_come_back(tmp_path, run, fake, tool):
    """`xmp write` writes the user's rating (a 5 of theirs stays a 5 whatever the model says), -1 for a
    reject, the pick label for a pick; the model's stars only where the user gave none; `ratings import`
    takes the user's back unchanged and passes the model's over."""
    a, b, c, d = scored(run, fake, tmp_path, {"a.jpg": 45.0, "b.jpg": 85.0, "c.jpg": 30.0, "d.jpg": 55.0})
    assert run("rate", a, "--stars", "5").exit_code == 0  # the model says 3 stars (45): the user says 5
    assert run("rate", b, "--reject").exit_code == 0
    assert run("rate", c, "--pick").exit_code == 0
    assert run("xmp", "write", tmp_path, "--pick-label", "Red").exit_code == 0
    found = {p.name: tags_of(tool, sidecar_path(p, "darktable")) for p in (a, b, c, d)}
    assert found["a.jpg"]["XMP-xmp:Rating"] == 5 and found["a.jpg"]["XMP-artimuse:SuggestedRating"] == 3
    assert found["b.jpg"]["XMP-xmp:Rating"] == -1  # Lightroom's reject, though the model gave 85
    assert found["c.jpg"]["XMP-xmp:Label"] == "Red" and found["c.jpg"]["XMP-xmp:Rating"] == 2  # model's stars
    assert found["d.jpg"]["XMP-xmp:Rating"] == 3 and "XMP-xmp:Label" not in found["d.jpg"]
    assert (
        found["a.jpg"]["XMP-artimuse:RatingSource"] == "user" and found["d.jpg"]["XMP-artimuse:RatingSource"] == "model"
    )

    back = run("ratings", "import", tmp_path, "--json")
    counts = json.loads(back.stdout)["counts"]
    assert back.exit_code == 0 and counts["imported"] == 0 and counts["unchanged"] == 3 and counts["ours"] == 1
    library = Library(config=load_config())
    assert [len(library.show(p).ratings) for p in (a, b, c)] == [1, 1, 1]  # nothing doubled
    library.close()

    # Only your own ratings: the model's stars leave xmp:Rating (they stay in artimuse:SuggestedRating).
    assert run("xmp", "write", d, "--xmp-rating", "yours").exit_code == 0
    assert "XMP-xmp:Rating" not in tags_of(tool, sidecar_path(d, "darktable"))
    assert tags_of(tool, sidecar_path(d, "darktable"))["XMP-artimuse:SuggestedRating"] == 3


def test_a_rating_set_in_the_photo_manager_since_is_never_overwritten(tmp_path, run, fake, tool):
    import os
    import time

    (a,) = scored(run, fake, tmp_path, {"a.jpg": 60.0})
    assert run("rate", a, "--stars", "4").exit_code == 0
    assert run("xmp", "write", a).exit_code == 0
    sidecar = sidecar_path(a, "darktable")
    time.sleep(0.05)
    tool("-overwrite_original", "-XMP-xmp:Rating=2", sidecar)  # the user changes it in the photo manager
    later = time.time() + 5
    os.utime(sidecar, (later, later))  # ... after their rating in ArtiMuse
    kept = run("xmp", "write", a, "--json")
    assert json.loads(kept.stdout)["files"][0]["kept_user_rating"] is True
    assert tags_of(tool, sidecar)["XMP-xmp:Rating"] == 2
    os.utime(sidecar, (time.time() - 60, time.time() - 60))  # now the gallery's decision is the newer one
    assert run("rate", a, "--stars", "5").exit_code == 0
    assert run("xmp", "write", a).exit_code == 0
    assert tags_of(tool, sidecar)["XMP-xmp:Rating"] == 5
    imported = run("ratings", "import", a, "--json")  # the photo manager's 2 would have come in as a rating
    assert json.loads(imported.stdout)["counts"]["unchanged"] == 1
