"""Library commands through the CLI with a real config file and database under ARTIMUSE_HOME (the fake
engine scores; the library, the config and the CLI are the real ones)."""

from __future__ import annotations

import json
import shutil

import pytest


@pytest.fixture()
def shoot(tmp_path, mixed_images):
    folder = tmp_path / "shoot"
    folder.mkdir()
    for p in mixed_images:
        shutil.copy(p, folder / p.name)
    (folder / "corrupt.jpg").write_bytes(mixed_images[1].read_bytes()[:300])
    return folder


def test_score_then_top_ranks_with_predicted_categories(home, library_home, shoot, run):
    scored = run("score", shoot, "--format", "json")
    assert scored.exit_code == 1  # the corrupt file
    rows = json.loads(scored.stdout)
    good = [r for r in rows if r["status"] == "scored"]
    assert len(good) == 10 and all(r["category_source"] == "predicted" for r in good)
    by_category: dict[str, list[float]] = {}
    for r in good:
        by_category.setdefault(r["category"], []).append(r["score"])
    category, scores = max(by_category.items(), key=lambda kv: len(kv[1]))
    top = run("top", "--category", category, "--json")
    ranked = json.loads(top.stdout)
    assert [r["score"] for r in ranked] == sorted(scores, reverse=True)
    assert all(r["category_source"] == "predicted" for r in ranked)
    table = run("top", "--category", category)
    assert f"{category}?" in table.stdout and "RANK" in table.stdout
    errors = json.loads(run("errors", "--json").stdout)
    assert len(errors) == 1 and errors[0]["path"].endswith("corrupt.jpg") and errors[0]["kind"] == "corrupt"
    again = run("score", shoot, "--format", "jsonl")
    statuses = [json.loads(line)["status"] for line in again.stdout.splitlines()]
    assert statuses.count("cached") == 10 and statuses.count("failed") == 1


def test_category_option_and_config_folders(home, library_home, shoot, run, tmp_path):
    home.mkdir(parents=True)
    (home / "config.toml").write_text(f'[[folders]]\npath = "{shoot}"\ncategory = "3D Design"\n')
    result = run("score", *sorted(shoot.glob("*.png"))[:2], "-f", "json")
    assert {(r["category"], r["category_source"]) for r in json.loads(result.stdout)} == {("3d", "config")}
    result = run("score", sorted(shoot.glob("img*.jpg"))[0], "-f", "json", "-c", "photo")
    assert json.loads(result.stdout)[0]["category"] == "photography"
    bad = run("score", shoot, "-c", "sculpture")
    assert bad.exit_code == 2 and "unknown category" in bad.output


@pytest.mark.parametrize(
    "content, message",
    [
        ('colour = "blue"\n', "unknown key 'colour'"),
        ('batch_size = "big"\n', "'batch_size' must be a whole number"),
        ('dtype = "float8"\n', "'dtype' must be one of"),
        ('[[folders]]\npath = "/x"\ncategory = "sculpture"\n', "folders[0].category"),
        ("model = \n", "config.toml"),
    ],
)
def test_config_errors_name_the_key_and_the_file(home, content, message, run):
    home.mkdir(parents=True)
    (home / "config.toml").write_text(content)
    result = run("stats")
    assert result.exit_code == 2
    assert message in result.output and str(home / "config.toml") in result.output


def test_rate_show_search_stats_export_history(home, library_home, shoot, run):
    image = sorted(shoot.glob("*.png"))[0]
    run("critique", image, "-a", "overall", "--max-new-tokens", "5")
    assert run("rate", image, "--stars", "4").exit_code == 0
    both = run("rate", image, "--stars", "4", "--score", "3")
    assert both.exit_code == 2 and "exactly one" in both.output
    shown = run("show", image)
    assert "score" in shown.stdout and "90-100" in shown.stdout and "70 (4★)" in shown.stdout
    assert "Overall Gestalt" in shown.stdout
    data = json.loads(run("show", image, "--json").stdout)
    assert len(data["evaluations"][0]["distribution"]) == 101 and data["ratings"][0]["stars"] == 4
    critique_text = data["evaluations"][0]["critiques"]["Overall Gestalt"]
    word = next((w for w in critique_text.split() if w.isalpha() and len(w) > 2), None)
    if word:
        assert json.loads(run("search", word, "--json").stdout)[0]["path"] == str(image)
    stats = json.loads(run("stats", "--json").stdout)
    assert stats["counts"]["ratings"] == 1 and stats["counts"]["evaluations"] == 1
    csv_out = run("export", "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("path,score") and len(csv_out) == 2
    history = json.loads(run("history", "--json").stdout)
    assert history[0]["path"] == str(image)
    assert run("categorize", image, "graphic").exit_code == 0
    assert json.loads(run("show", image, "--json").stdout)["category_source"] == "user"


def test_no_save_leaves_no_database(home, shoot, run):
    result = run("score", sorted(shoot.glob("*.png"))[0], "--no-save", "-f", "jsonl")
    assert result.exit_code == 0 and json.loads(result.stdout)["category"]
    assert not (home / "library.db").exists()


def test_config_and_db_commands(home, run):
    assert run("config", "path").stdout.strip() == str(home / "config.toml")
    shown = json.loads(run("config", "show", "--json").stdout)["settings"]
    assert shown["database_url"]["value"].endswith("library.db") and shown["model"]["value"] == "ArtiMuse"
    assert "0005" in run("db", "history").stdout
    from artimuse_core.library.migrations import HEAD

    assert HEAD in run("db", "history").stdout
    assert run("db", "upgrade").exit_code == 0
    assert run("db", "current").stdout.startswith(f"{HEAD} (head {HEAD})")


def test_config_show_reflects_the_environment_and_says_where_each_value_came_from(home, run, monkeypatch):
    home.mkdir(parents=True)
    (home / "config.toml").write_text('batch_size = 4\nmodel = "ArtiMuse_AVA"\n')
    monkeypatch.setenv("ARTIMUSE_MODEL", "ArtiMuse_PARA")
    monkeypatch.setenv("ARTIMUSE_MAX_PIXELS", "1000")
    shown = json.loads(run("config", "show", "--json").stdout)["settings"]
    assert shown["model"] == {"value": "ArtiMuse_PARA", "source": "environment"}  # environment beats the file
    assert shown["batch_size"] == {"value": 4, "source": "file"}
    assert shown["max_pixels"] == {"value": 1000, "source": "environment"}
    assert shown["dtype"] == {"value": "auto", "source": "default"}
    table = run("config", "show").stdout
    assert "environment (ARTIMUSE_MODEL)" in table and "ArtiMuse_PARA" in table
    monkeypatch.setenv("ARTIMUSE_BATCH_SIZE", "lots")
    bad = run("stats")
    assert bad.exit_code == 2 and "ARTIMUSE_BATCH_SIZE must be a whole number" in bad.output


def test_engine_options_go_on_top_of_environment_and_file(home, run, fake_engines, shoot, monkeypatch):
    home.mkdir(parents=True)
    (home / "config.toml").write_text("batch_size = 4\nmax_pixels = 123456789\n")
    monkeypatch.setenv("ARTIMUSE_BATCH_SIZE", "3")
    monkeypatch.setenv("ARTIMUSE_MODEL", "from-env")
    image = sorted(shoot.glob("*.png"))[0]
    assert run("score", image, "--no-save", "--jpeg-draft", "--device", "cpu").exit_code == 0
    spec = fake_engines[-1].spec
    assert (spec.model, spec.batch_size, spec.max_pixels) == ("from-env", 3, 123456789)
    assert (spec.jpeg_draft, spec.device, spec.exif) == (True, "cpu", True)
    assert run("score", image, "--no-save", "-b", "7", "--no-exif").exit_code == 0
    assert (fake_engines[-1].spec.batch_size, fake_engines[-1].spec.exif) == (7, False)
    assert fake_engines[-1].image_options.exif is False  # the image options come from the spec


def test_the_example_config_is_a_valid_config(tmp_path):
    """`config show` prints an example file; uncommented, it loads (so it cannot drift from the spec)."""
    from artimuse_cli.admin_commands import CONFIG_EXAMPLE
    from artimuse_core.config import load_config

    lines = [line.removeprefix("# ").split("    #")[0] for line in CONFIG_EXAMPLE.splitlines()[2:]]
    file = tmp_path / "config.toml"
    file.write_text("\n".join(lines) + "\n")
    config = load_config(file, environ={})
    assert config.spec.background == (255, 255, 255) and config.folders[0].category == "photography"
    assert {name for name, source in config.sources.items() if source == "file"} >= {"model", "batch_size"}


def test_a_name_that_is_not_utf8_is_scored_stored_and_shown(home, library_home, tmp_path, mixed_images, run):
    """Any file name, through the library: ``caf\\xe9.png`` (Latin-1 bytes) is recorded under its real
    bytes, found again by them, and printed escaped; the other files of the run are not affected."""
    import os

    folder = tmp_path / "latin1"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.png")  # a str with a lone surrogate, as the OS gives it
    shutil.copy(mixed_images[0], folder / name)
    shutil.copy(mixed_images[1], folder / "plain.png")
    scored = run("score", folder, "--json")
    assert scored.exit_code == 0, scored.output
    shown = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(scored.stdout)}
    assert set(shown) == {"caf\\xe9.png", "plain.png"} and shown["caf\\xe9.png"]["status"] == "scored"
    again = json.loads(run("score", folder, "--json").stdout)
    assert [r["status"] for r in again] == ["cached", "cached"]  # found again under the same bytes
    top = json.loads(run("top", "--json").stdout)
    assert sorted(r["path"].rsplit("/", 1)[-1] for r in top) == ["caf\\xe9.png", "plain.png"]
    record = run("show", folder / name, "--json")
    assert record.exit_code == 0 and json.loads(record.stdout)["path"].endswith("caf\\xe9.png")
    assert run("rate", folder / name, "--stars", "4").exit_code == 0
    assert "caf\\xe9.png" in run("export", "--format", "csv").stdout
    assert "caf\\xe9.png" in run("history").stdout


def test_stored_paths_round_trip_any_bytes(tmp_path):
    """The library's path column keeps valid UTF-8 as text and anything else as its exact bytes (SQLite) or
    as valid UTF-8 text with one private-use character per such byte (PostgreSQL, whose text is UTF-8 only);
    a folder's stored form is a prefix of its files' either way."""
    import os

    from sqlalchemy.dialects import postgresql, sqlite

    from artimuse_core.library.tables import StoredPath

    column = StoredPath()
    raws = (b"/photos/caf\xc3\xa9.png", b"/photos/caf\xe9.png", b"/photos/\xff\xfe.jpg", b"/x/\xf4\x8f\xbe\x80.png")
    for raw in raws:
        path = os.fsdecode(raw)
        utf8 = raw.decode("utf-8", "ignore").encode() == raw
        on_sqlite = column.process_bind_param(path, sqlite.dialect())
        assert isinstance(on_sqlite, str if utf8 else bytes)
        assert column.process_result_value(on_sqlite, sqlite.dialect()) == path
        on_postgresql = column.process_bind_param(path, postgresql.dialect())
        assert isinstance(on_postgresql, str) and on_postgresql.encode("utf-8")
        assert (on_postgresql == path) == (utf8 and b"\xf4\x8f" not in raw)
        assert column.process_result_value(on_postgresql, postgresql.dialect()) == path
        folder = os.path.dirname(path) + "/"
        assert on_postgresql.startswith(column.process_bind_param(folder, postgresql.dialect()))


def test_percentiles_read_scores_without_knowing_the_scale(home, library_home, shoot, run):
    """`top --percentile` and `show`: the share of the library's other scores by the same model each image
    beats (ties half), against numpy's oracle (scipy's percentileofscore, kind="mean", over the others)."""
    import numpy as np

    scored = [r for r in json.loads(run("score", shoot, "--json").stdout) if r["status"] == "scored"]
    scores = np.array([r["score"] for r in scored])

    def oracle(value: float) -> float:
        others = list(scores)
        others.remove(value)
        below = sum(s < value for s in others)
        tied = sum(s == value for s in others)
        return 100 * (below + 0.5 * tied) / len(others)

    ranked = json.loads(run("top", "--percentile", "--json", "--limit", "100").stdout)
    assert len(ranked) == len(scored)
    for row in ranked:
        assert row["percentile"] == pytest.approx(oracle(row["score"]))
    assert ranked[0]["percentile"] == 100 and ranked[-1]["percentile"] == 0
    table = run("top", "--percentile").stdout
    assert "PERCENTILE" in table and " 100 " in table
    best = ranked[0]["path"]
    shown = run("show", best)
    assert "better than 100 % of your library's scores by this model" in shown.stdout
    as_json = json.loads(run("show", best, "--json").stdout)
    assert as_json["evaluations"][0]["percentile"] == 100
    assert "percentile" not in json.loads(run("top", "--json").stdout)[0]  # only when asked for
