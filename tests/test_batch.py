"""`artimuse batch` pieces without Ray: inputs (folders, globs, manifests, fsspec URIs), the decode stage,
the scoring stage on the fake engine, the parts folder (atomic parts, resume keys) and the library import
through the door. The real Ray runs are in tests/test_batch_ray.py (slow)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow", reason="the ray extra (pyarrow) is not installed")
fsspec = pytest.importorskip("fsspec")

from artimuse_batch import importing, inputs, parts, stages  # noqa: E402
from artimuse_core.config import Config  # noqa: E402
from artimuse_core.errors import InvalidValue  # noqa: E402
from artimuse_core.images import ImageOptions, open_rgb  # noqa: E402
from artimuse_core.library import Library  # noqa: E402
from artimuse_core.testing import FakeEngine  # noqa: E402

MODEL_KEY = FakeEngine().provenance.fingerprint


@pytest.fixture()
def folder(tmp_path, mixed_images):
    folder = tmp_path / "shots"
    folder.mkdir()
    for p in mixed_images[:5]:
        shutil.copy(p, folder / p.name)
    (folder / "empty.png").write_bytes(b"")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    (folder / "notes.txt").write_text("not a picture")
    (folder / ".hidden.png").write_bytes((folder / mixed_images[0].name).read_bytes())
    (folder / os.fsdecode(b"caf\xe9.png")).write_bytes((folder / mixed_images[0].name).read_bytes())
    return folder


def score_rows(keys: list[bytes], engine=None, **options) -> list[dict]:
    engine = engine or FakeEngine()
    batch = stages.decode_batch({"key": np.array(keys, dtype=object)}, ImageOptions())
    scorer = stages.Scorer(engine.spec, MODEL_KEY, engine_factory=lambda spec: engine, **options)
    return scorer(batch).to_pylist()


def test_inputs_account_for_every_file_as_score_does(folder, tmp_path):
    found = inputs.collect_inputs([str(folder), str(tmp_path / "nowhere")])
    names = sorted(os.path.basename(k) for k in found.keys)
    assert names == sorted([b"caf\xe9.png", b"empty.png", b"broken.jpg"] + [p.encode() for p in _images(folder)])
    assert sorted(p.kind for p in found.passed_over) == ["hidden", "not_an_image_name"]
    assert [(os.path.basename(k), kind) for k, kind, _ in found.problems] == [(b"nowhere", "missing")]


def _images(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith("img")]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_manifests_name_inputs_relative_to_themselves(folder, fmt):
    names = sorted(_images(folder))[:3]
    manifest = folder / f"list.{fmt}"
    if fmt == "csv":
        manifest.write_text("uri,label\n" + "".join(f"{n},x\n" for n in names))
    elif fmt == "jsonl":
        manifest.write_text("".join(json.dumps({"path": n}) + "\n" for n in names))
    else:
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"path": names}), manifest)
    found = inputs.collect_inputs([str(manifest)])
    assert found.keys == [os.fsencode(folder / n) for n in names]


def test_a_manifest_without_a_path_column_is_refused_by_name(folder):
    manifest = folder / "list.csv"
    manifest.write_text("name\na.jpg\n")
    with pytest.raises(InvalidValue, match="no path or uri or url or file or image column .*has: name"):
        inputs.collect_inputs([str(manifest)])


def test_fsspec_uris_are_walked_and_decoded_from_their_bytes(folder):
    fs = fsspec.filesystem("memory")
    image = sorted(_images(folder))[0]
    fs.pipe("/bucket/shots/a.png", (folder / image).read_bytes())
    fs.pipe("/bucket/shots/bad.png", b"\x89PNG\r\n\x1a\nnope")
    fs.pipe("/bucket/shots/readme.md", b"hello")
    found = inputs.collect_inputs(["memory://bucket/shots"])
    good_key, bad_key = sorted(found.keys)
    assert good_key.startswith(b"memory://") and good_key.endswith(b"/bucket/shots/a.png")
    assert bad_key.endswith(b"/bucket/shots/bad.png")
    assert [p.kind for p in found.passed_over] == ["not_an_image_name"]
    rows = {r["key"]: r for r in score_rows(sorted(found.keys))}
    good, bad = rows[good_key], rows[bad_key]
    local = FakeEngine().score([folder / image])[0]
    assert good["status"] == "scored" and good["score"] == pytest.approx(local.score, abs=1e-9)
    assert (bad["status"], bad["error_kind"]) == ("failed", "corrupt")


def test_the_decode_stage_gives_the_products_pixels_and_typed_errors(folder):
    keys = [os.fsencode(folder / n) for n in ["empty.png", "broken.jpg", sorted(_images(folder))[0]]]
    out = stages.decode_batch({"key": np.array(keys, dtype=object)}, ImageOptions())
    assert list(out["ok"]) == [False, False, True]
    assert list(out["error_kind"][:2]) == ["empty", "corrupt"]
    expected = open_rgb(os.fsdecode(keys[2]))
    np.testing.assert_array_equal(out["pixels"][2], expected.pixel_values)
    assert (out["width"][2], out["height"][2]) == (expected.width, expected.height)
    assert len(out["content_hash"][2]) == 64 and out["content_hash"][0] == ""


def test_the_scoring_stage_scores_as_the_engine_does_and_keeps_error_rows(folder):
    paths = sorted(folder / n for n in _images(folder)) + [folder / "broken.jpg", folder / os.fsdecode(b"caf\xe9.png")]
    rows = score_rows([os.fsencode(p) for p in paths], predict_category=True, critique=["composition"])
    direct = {str(r.path): r for r in FakeEngine().evaluate(paths, predict_category=True, critique=["composition"])}
    assert len(rows) == len(paths)
    for path, row in zip(paths, rows):
        expected = direct[str(path)]
        assert row["status"] == expected.status and row["fingerprint"] == MODEL_KEY
        assert row["model_key"] == MODEL_KEY
        if expected.ok:
            assert row["score"] == pytest.approx(expected.score, abs=1e-9)
            assert row["distribution"] == pytest.approx(expected.distribution, abs=1e-7)
            assert row["category"] == expected.category
            assert json.loads(row["critiques"]) == expected.critiques
        else:
            assert (row["error_kind"], row["error"]) == (expected.error_kind, expected.error)
    assert rows[-1]["path"] == str(folder / "caf\\xe9.png") and rows[-1]["key"].endswith(b"caf\xe9.png")


def test_an_actor_with_other_weights_refuses_to_start():
    with pytest.raises(Exception, match="not the driver's"):
        stages.Scorer(FakeEngine().spec, "0123456789abcdef", engine_factory=lambda spec: FakeEngine())


def test_parts_are_atomic_and_resume_keys_by_weights(tmp_path, folder):
    out = parts.prepare(tmp_path / "results.parquet")
    keys = [os.fsencode(folder / n) for n in sorted(_images(folder))]
    parts.write_part(out, parts.table_of(score_rows(keys[:2])))
    (out / ".tmp-part-killed.parquet").write_bytes(b"half a file")
    assert parts.done_keys(out, MODEL_KEY) == {keys[0]: "scored", keys[1]: "scored"}
    assert parts.done_keys(out, "other-weights") == {}
    parts.prepare(out)  # an output a killed run left is still a batch output...
    parts.clear_temporaries(out)  # ...and the run holding its lease clears what that run left half-written
    assert [p.name.startswith("part-") for p in out.iterdir()] == [True]
    import pyarrow.parquet as pq

    assert pq.read_table(out).num_rows == 2  # readers see one table


def test_the_output_must_be_a_parts_folder(tmp_path):
    (tmp_path / "file.parquet").write_bytes(b"x")
    with pytest.raises(InvalidValue, match="is a file"):
        parts.prepare(tmp_path / "file.parquet")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "thesis.pdf").write_bytes(b"x")
    with pytest.raises(InvalidValue, match="holds other files"):
        parts.prepare(tmp_path / "other")


def test_library_import_goes_through_the_door(tmp_path, folder):
    out = parts.prepare(tmp_path / "results.parquet")
    good = sorted(folder / n for n in _images(folder))
    keys = [os.fsencode(p) for p in good + [folder / "broken.jpg"]]
    parts.write_part(out, parts.table_of(score_rows(keys, critique=["composition"])))
    with Library.at(tmp_path / "lib.db", config=Config()) as library:
        first = list(importing.import_results(library, out, category="photography"))
        assert sorted(r.status for r in first) == ["failed"] + ["scored"] * len(good)
        stored = library.find_current(_facts(good[0]), MODEL_KEY, None)
        expected = FakeEngine().score([good[0]])[0]
        assert stored.to_result().score == pytest.approx(expected.score, abs=1e-9)
        assert list(stored.to_result().critiques) == ["Composition & Design"]
        assert [e.path for e in library.errors()][-1].endswith("broken.jpg")
        good[1].write_bytes(good[0].read_bytes())  # changed since it was scored
        second = list(importing.import_results(library, out))
        statuses = sorted((r.error_kind or "") + r.status for r in second)
        assert statuses == ["cached"] * (len(good) - 1) + ["changedfailed", "corruptfailed"]


def test_library_import_keys_files_under_a_symlinked_folder_as_the_library_does(tmp_path, folder):
    """A batch run over a folder reached through a symlink (``linked/`` -> ``shots/``) writes its rows under the
    link's spelling; the import finds every one of them by the library's spelling (the real folder) and
    records each score there, once."""
    linked = tmp_path / "linked"
    linked.symlink_to(folder, target_is_directory=True)
    out = parts.prepare(tmp_path / "results.parquet")
    good = sorted(linked / n for n in _images(folder))
    parts.write_part(out, parts.table_of(score_rows([os.fsencode(p) for p in good])))
    with Library.at(tmp_path / "lib.db", config=Config()) as library:
        results = list(importing.import_results(library, out))
        assert [r.status for r in results] == ["scored"] * len(good)
        assert sorted(r.path for r in results) == sorted(str(folder.resolve() / p.name) for p in good)
        assert all(library.find_current(_facts(p), MODEL_KEY, None) is not None for p in good)
        again = list(importing.import_results(library, out))
        assert [r.status for r in again] == ["cached"] * len(good)


def _facts(path):
    from artimuse_core.library.records import file_facts

    return file_facts(path)


def test_the_batch_command_without_ray_says_what_to_install(run_cli, folder, tmp_path, monkeypatch):
    import sys

    import artimuse_batch

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the ray extra were not installed
    monkeypatch.setitem(sys.modules, "artimuse_batch.pipeline", None)
    monkeypatch.delattr(artimuse_batch, "pipeline", raising=False)
    result = run_cli("batch", folder, "--output", tmp_path / "out.parquet")
    assert result.exit_code == 2
    assert "pip install 'artimuse-studio[ray]'" in result.output


def test_library_import_command_counts_what_it_did(run_cli, tmp_path, folder, monkeypatch):
    monkeypatch.setenv("ARTIMUSE_HOME", str(tmp_path / "home"))  # a library of its own
    out = parts.prepare(tmp_path / "results.parquet")
    good = sorted(folder / n for n in _images(folder))
    parts.write_part(out, parts.table_of(score_rows([os.fsencode(p) for p in good + [folder / "empty.png"]])))
    first = run_cli("library", "import", out, "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {
        "imported": len(good),
        "scored": len(good),
        "cached": 0,
        "failed": 1,
        "passed_over": 0,
        "gone": 0,
        "changed": 0,
    }
    again = run_cli("library", "import", out, "--json")
    assert json.loads(again.stdout)["cached"] == len(good) and json.loads(again.stdout)["imported"] == 0
    top = run_cli("top", "--json")
    assert len(json.loads(top.stdout)) == len(good)
