"""Links swapped in where the user's files were: a sidecar that is a symbolic link is refused with where it
leads (never written through to its target outside the folder, dangling or not; an embedded target that is a
link, too), and the gallery refuses a rating for a file that now leads out of its folder. Real files, the real
CLI (fake engine), exiftool reading back what is on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.test_xmp import EXIFTOOL, make_jpeg, user_sidecar
from tests.test_xmp_cli import tool  # noqa: F401 - the fixture: one exiftool for the module

needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="needs exiftool (apt install libimage-exiftool-perl)")


def _scored(run_cli, folder: Path, names: tuple[str, ...]) -> list[Path]:
    from artimuse_core.testing import FakeEngine

    fake = FakeEngine()
    paths = [make_jpeg(folder / name) for name in names]
    fake.enqueue(*[70.0 + i for i in range(len(paths))])
    assert run_cli("score", *paths, "--json", engine=lambda spec: fake).exit_code == 0
    return paths


@needs_exiftool
def test_a_sidecar_that_is_a_link_is_refused_and_its_target_untouched(home, tmp_path, run_cli, tool):  # noqa: F811
    shoot, elsewhere = tmp_path / "shoot", tmp_path / "elsewhere"
    shoot.mkdir()
    elsewhere.mkdir()
    linked, dangling, plain = _scored(run_cli, shoot, ("linked.jpg", "dangling.jpg", "plain.jpg"))
    target = user_sidecar(tool, elsewhere / "someone-elses.xmp")
    before = target.read_bytes()
    (shoot / "linked.jpg.xmp").symlink_to(target)
    (shoot / "dangling.jpg.xmp").symlink_to(elsewhere / "not-yet.xmp")
    result = run_cli("xmp", "write", linked, dangling, plain, "--xmp-naming", "darktable", "--json")
    assert result.exit_code == 1, result.output
    rows = {Path(r["image"]).name: r for r in json.loads(result.stdout)["files"]}
    assert rows["plain.jpg"]["status"] == "created"
    for name, points_to in (("linked.jpg", target), ("dangling.jpg", elsewhere / "not-yet.xmp")):
        assert rows[name]["status"] == "failed", rows[name]
        assert "is a symbolic link" in rows[name]["reason"] and str(points_to) in rows[name]["reason"]
    assert target.read_bytes() == before  # the other folder's file is as its owner left it
    assert not (elsewhere / "not-yet.xmp").exists()  # and nothing was created there through the dangling link
    assert os.path.islink(shoot / "linked.jpg.xmp") and os.path.islink(shoot / "dangling.jpg.xmp")
    assert json.loads(tool("-j", "-XMP:Rating", target))[0].get("Rating") == 2  # exiftool: still the user's
    assert json.loads(tool("-j", "-XMP:Rating", shoot / "plain.jpg.xmp"))[0]["Rating"] >= 1


@needs_exiftool
def test_an_embedded_target_that_is_a_link_is_refused(home, tmp_path, run_cli):
    pytest.importorskip("exiv2")
    shoot, elsewhere = tmp_path / "shoot", tmp_path / "elsewhere"
    shoot.mkdir()
    elsewhere.mkdir()
    real = make_jpeg(elsewhere / "real.jpg")
    before = real.read_bytes()
    (shoot / "link.jpg").symlink_to(real)  # scored under its own name (a link out of the folder)
    assert json.loads(run_cli("score", shoot / "link.jpg", "--json").stdout)[0]["status"] == "scored"
    result = run_cli("xmp", "write", shoot / "link.jpg", "--xmp-target", "embedded", "--json")
    assert result.exit_code == 1, result.output
    (row,) = json.loads(result.stdout)["files"]
    assert row["status"] == "failed" and "is a symbolic link" in row["reason"], row
    assert real.read_bytes() == before and os.path.islink(shoot / "link.jpg")


def test_the_gallery_refuses_a_rating_for_a_file_that_now_leads_out_of_its_folder(tmp_path, library_backend):
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from artimuse_web.app import create_app
    from tests.web_library import scored_library

    library, paths = scored_library(tmp_path, 3, library_backend)
    client = TestClient(create_app(library, thumbnails=tmp_path / "thumbs", token="t"), base_url="http://127.0.0.1")
    headers = {"X-ArtiMuse-Token": "t", "Origin": "http://127.0.0.1", "Content-Type": "application/json"}
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(paths[0].read_bytes())  # the very same content: only the link check can refuse it
    paths[0].unlink()
    paths[0].symlink_to(outside)  # swapped in after scoring
    image = library.image_id(str(paths[0]))
    refused = client.post(f"/api/images/{image}/rating", content='{"stars": 4}', headers=headers)
    assert refused.status_code == 409 and "a link out of its folder" in refused.json()["error"], refused.text
    kept = client.post(f"/api/images/{library.image_id(str(paths[1]))}/rating", content='{"stars": 4}',
                       headers=headers)  # fmt: skip
    assert kept.status_code == 200
    assert [(Path(r.path).name, r.stars) for r in library.ratings()] == [(paths[1].name, 4.0)]
    library.close()
