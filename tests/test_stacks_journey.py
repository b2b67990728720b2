"""A photographer's path through stacks, in the real CLI: `artimuse score` a shoot of real photographs with
bursts, `artimuse stacks --json` finds every burst whole, `top --best-of-stack` shows one per stack, `rate
--reject-rest-of-stack` culls the rest with counts, `xmp write` and exiftool (the independent reader) find
the rejects; `select --distinct --copy-to` never overwrites nor writes outside the folder named."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.stack_shoot import make_burst_shoot

pytestmark = [
    pytest.mark.slow,  # real photographs scored, hashed and written as XMP; exiftool runs
    pytest.mark.skipif(not shutil.which("exiftool"), reason="needs exiftool (apt-get install -y exiftool)"),
]


def exiftool_ratings(paths: list[Path]) -> dict[str, int | None]:
    done = subprocess.run(["exiftool", "-j", "-XMP-xmp:Rating", *map(str, paths)], capture_output=True, text=True)
    return {Path(e["SourceFile"]).name: e.get("Rating") for e in json.loads(done.stdout)}


def test_score_stack_cull_the_rest_and_find_the_rejects_in_xmp(run_cli, home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shoot = make_burst_shoot(tmp_path / "shoot")
    scored = run_cli("score", "shoot")
    assert scored.exit_code == 0, scored.output

    listed = run_cli("stacks", "shoot", "--json")
    assert listed.exit_code == 0, listed.output
    stacks = json.loads(listed.output)
    found = sorted(sorted(Path(p).name for p in s["members"]) for s in stacks)
    assert found == sorted(sorted(p.name for p in s) for s in shoot.stacks)  # every burst whole, nothing else
    for stack in stacks:
        assert stack["best"] == stack["members"][0] and "lower bound" in stack["reason"]
    text = run_cli("stacks", "shoot")
    assert text.exit_code == 0 and "7 stack(s) of 27 picture(s)" in text.output

    top = run_cli("top", "--folder", "shoot", "--best-of-stack", "--limit", "100", "--paths")
    shown = {Path(line).name for line in top.output.splitlines()}
    assert shown == {Path(s["best"]).name for s in stacks} | {p.name for p in shoot.singles}

    burst = next(s for s in stacks if Path(s["members"][0]).name.startswith("IMG_01"))
    keep = burst["members"][-1]  # the user prefers the model's last choice
    culled = run_cli("rate", keep, "--pick", "--reject-rest-of-stack")
    assert culled.exit_code == 0, culled.output
    assert "rated 1 image(s), rejected 3 other picture(s) of their stacks" in culled.output
    again = run_cli("rate", keep, "--reject-rest-of-stack", "--json")
    assert again.exit_code == 0, again.output
    assert [r["status"] for r in json.loads(again.stdout)] == ["already rejected"] * 3
    after = json.loads(run_cli("stacks", "shoot", "--json").output)
    assert next(s for s in after if keep in s["members"])["best"] == keep  # the user's pick wins now
    assert "your pick" in next(s for s in after if keep in s["members"])["reason"]

    written = run_cli("xmp", "write", "shoot")
    assert written.exit_code == 0, written.output
    ratings = exiftool_ratings(sorted((tmp_path / "shoot").glob("*.xmp")))
    rest = {Path(p).name + ".xmp" for p in burst["members"] if p != keep}
    assert {name for name, rating in ratings.items() if rating == -1} == rest  # only what the user rejected
    assert ratings[Path(keep).name + ".xmp"] != -1

    # Asked for, the rest of every stack is written as rejected (the user's own decisions stay theirs)
    asked = run_cli("xmp", "write", "shoot", "--xmp-stack-rest", "reject")
    assert asked.exit_code == 0, asked.output
    ratings = exiftool_ratings(sorted((tmp_path / "shoot").glob("*.xmp")))
    every_rest = {Path(p).name + ".xmp" for s in after for p in s["members"] if p != s["best"]}
    assert {name for name, rating in ratings.items() if rating == -1} == every_rest
    assert all(ratings[p.name + ".xmp"] != -1 for p in shoot.singles)
    labelled = run_cli(
        "xmp", "write", "shoot", "--xmp-stack-rest", "label", "--stack-label", "Red", "--overwrite-ratings"
    )
    assert labelled.exit_code == 0, labelled.output
    done = subprocess.run(
        ["exiftool", "-j", "-XMP-xmp:Label", *map(str, sorted((tmp_path / "shoot").glob("*.xmp")))],
        capture_output=True,
        text=True,
    )
    labels = {Path(e["SourceFile"]).name: e.get("Label") for e in json.loads(done.stdout)}
    untouched = {Path(p).name + ".xmp" for p in burst["members"]}  # the user decided on every one of these
    assert {name for name, label in labels.items() if label == "Red"} == every_rest - untouched


def test_select_the_best_distinct_pictures_into_a_folder_without_overwriting(run_cli, home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shoot = make_burst_shoot(tmp_path / "shoot")
    assert run_cli("score", "shoot").exit_code == 0
    every = run_cli("select", "shoot", "-n", "100", "--paths")
    assert len(every.stdout.splitlines()) == len(shoot.files)
    distinct = run_cli("select", "shoot", "-n", "100", "--distinct", "--paths")
    chosen = distinct.stdout.splitlines()
    assert len(chosen) == len(shoot.stacks) + len(shoot.singles)  # one per stack, every single
    (tmp_path / "best").mkdir()
    first = Path(chosen[0]).name
    (tmp_path / "best" / first).write_bytes(b"the user's own file")
    copied = run_cli("select", "shoot", "-n", "3", "--distinct", "--copy-to", "best")
    assert copied.exit_code == 1 and "exists, not overwritten" in copied.output
    assert (tmp_path / "best" / first).read_bytes() == b"the user's own file"
    assert sorted(p.name for p in (tmp_path / "best").iterdir()) == sorted(Path(p).name for p in chosen[:3])
    linked = run_cli("select", "shoot", "-n", "2", "--link-to", "links", "--json")
    assert linked.exit_code == 0, linked.output
    assert all((tmp_path / "links" / Path(p["path"]).name).is_symlink() for p in json.loads(linked.stdout))
    assert run_cli("select", "shoot", "--copy-to", "a", "--link-to", "b").exit_code == 2


def test_burst_frames_arriving_one_by_one_at_a_real_watcher_join_the_right_stack(run_cli, home, tmp_path):
    """The real `artimuse watch` process (fake engine); frames are copied into the watched folder one at a
    time, each scored before the next arrives, bursts interleaved; then `artimuse stacks --json` reads them."""
    from tests.watching import WatcherProcess, wait_for

    shoot = make_burst_shoot(tmp_path / "card")
    folder = tmp_path / "watched"
    folder.mkdir()
    home.mkdir(exist_ok=True)
    watcher = WatcherProcess(home, folder).start()
    frames = [burst[i] for i in range(4) for burst in shoot.bursts[:3]] + shoot.singles[:2]  # interleaved
    for n, frame in enumerate(frames, 1):
        shutil.copy2(frame, folder / frame.name)
        wait_for(home / "library.db", n, 0)
    assert watcher.stop() == 0
    listed = run_cli("stacks", "--json")
    assert listed.exit_code == 0, listed.output
    found = sorted(sorted(Path(p).name for p in s["members"]) for s in json.loads(listed.stdout))
    assert found == sorted(sorted(p.name for p in burst) for burst in shoot.bursts[:3])


def test_culling_a_stack_in_a_shoot_where_files_went_and_names_clash(run_cli, home, tmp_path, monkeypatch):
    """The untidy shoot: two frames of one burst named together both stay, the rest is rejected once; a frame
    deleted since scoring is passed over (not a crash, nothing half-done); a single says it is in no stack;
    `select` into a folder says per file what it could not write (gone, a name taken twice) and writes the
    rest; a non-UTF-8 file name in a stack's reason prints escaped and the gallery still serves."""
    import os

    from starlette.testclient import TestClient

    from artimuse_core.library import Library
    from artimuse_web.app import create_app

    monkeypatch.chdir(tmp_path)
    shoot = make_burst_shoot(tmp_path / "shoot")
    single = shoot.singles[0]
    odd = tmp_path / "shoot" / os.fsdecode(b"copy \xff.jpg")
    shutil.copyfile(single, odd)  # a copy of a single: a stack of two, one name not UTF-8
    (tmp_path / "shoot" / "twin").mkdir()
    shutil.copyfile(single, tmp_path / "shoot" / "twin" / single.name)  # the same name in a subfolder
    assert run_cli("score", "shoot").exit_code == 0
    burst = sorted(shoot.stacks, key=len)[-1]
    named, gone = burst[:2], burst[-1]
    gone.unlink()

    culled = run_cli("rate", *map(str, named), "--reject-rest-of-stack", "--json")
    assert culled.exit_code == 0, culled.output
    rows = json.loads(culled.stdout)
    rest = {str(p) for p in burst[2:-1]}
    assert sorted(r["path"] for r in rows if r["status"] == "rejected: rest of stack") == sorted(rest)
    assert [r["path"] for r in rows if r["status"] == "passed_over"] == [str(gone)]
    with Library() as library:
        stack = library.stack_of(named[0])
        decided = {m.path: m.rejected for m in stack.members}
    assert {p for p, rejected in decided.items() if rejected} == rest and not any(decided[str(p)] for p in named)
    alone = run_cli("rate", str(shoot.singles[-1]), "--reject-rest-of-stack", "--json")
    assert alone.exit_code == 0 and json.loads(alone.stdout)[0]["error"].startswith("in no stack")

    placed = run_cli("select", "shoot", "-n", "100", "--copy-to", "out")
    assert placed.exit_code == 1
    assert f"{gone}: failed: the file is gone" in placed.output
    assert f"not written: {single.name} is also the name of" in placed.output
    assert (tmp_path / "out" / named[0].name).is_file() and not (tmp_path / "out" / gone.name).exists()

    listed = run_cli("stacks", "shoot", "--json")
    reasons = [s["reason"] for s in json.loads(listed.stdout)]
    assert any("copy \\xff.jpg" in r for r in reasons) or any(single.name in r for r in reasons)
    assert all(r.encode("utf-8") for r in reasons)  # printable text, no lone surrogates
    assert run_cli("stacks", "shoot", "-k", "inf").exit_code == 2  # a bound must be a number JSON can carry
    (tmp_path / "never-scored").mkdir()
    nowhere = run_cli("stacks", "never-scored")
    assert nowhere.exit_code == 1 and "is in the library: `artimuse score never-scored` first" in nowhere.output
    with Library() as library:
        client = TestClient(create_app(library, thumbnails=tmp_path / "thumbnails"), base_url="http://127.0.0.1")
        page, tiles = client.get("/"), client.get("/tiles")
    assert page.status_code == tiles.status_code == 200, page.text[-500:]
