"""Stacks kept in the library: a shoot through the door (SQLite and PostgreSQL), files arriving one by one in
any order ending in the same stacks, stacks following a move, new content leaving its old stack, and the
rest of a stack rejected with counts."""

from __future__ import annotations

import random
import shutil

import pytest

from artimuse_core.library import Library, ingest
from artimuse_core.testing import FakeEngine
from tests.stack_shoot import make_burst_shoot

pytestmark = pytest.mark.slow  # real photographs decoded and hashed, a library per test (~2 s each)


@pytest.fixture(scope="module")
def shoot_template(tmp_path_factory):
    return make_burst_shoot(tmp_path_factory.mktemp("bursts") / "shoot")


@pytest.fixture()
def shoot(shoot_template, tmp_path):
    """A fresh copy of the shoot (tests move and rewrite its files)."""
    folder = tmp_path / "shoot"
    shutil.copytree(shoot_template.folder, folder)
    return (
        folder,
        [[folder / p.name for p in s] for s in shoot_template.stacks],
        [folder / p.name for p in shoot_template.files],
    )


def names(groups):
    return sorted(sorted(str(p).rsplit("/", 1)[-1] for p in g) for g in groups)


def test_a_shoot_through_the_door_is_grouped_into_its_bursts(library_backend, shoot, home):
    folder, truth, files = shoot
    with Library(library_backend) as library:
        results = list(ingest(FakeEngine(), library, files))
        assert all(r.ok for r in results)
        stacks = library.stacks()
        assert names([[m.path for m in s.members] for s in stacks]) == names(truth)
        for stack in stacks:
            bounds = [m.lower_bound for m in stack.members]
            assert bounds == sorted(bounds, reverse=True) and stack.best == stack.members[0].path
            assert "lower bound" in stack.reason
        first = library.stack_of(truth[0][2])
        assert first is not None and {m.path for m in first.members} == {str(p) for p in truth[0]}
        assert library.stack_of(files[len(truth[0]) * 6]) is None  # the first single picture is alone
        assert library.stacks([folder / "nowhere"]) == []
        # A page's read of every picture at once (the gallery's) says what asking for each one says.
        at_once = library.stacks_of([*files, folder / "not-in-the-library.jpg"])
        one_by_one = {str(p): library.stack_of(p) for p in files}
        assert at_once == {path: stack for path, stack in one_by_one.items() if stack is not None}
        assert len(at_once) == sum(len(s) for s in truth)


def test_files_arriving_one_by_one_in_any_order_join_the_right_stack(shoot, home):
    folder, truth, files = shoot
    order = files[:]
    random.Random(7).shuffle(order)
    with Library.at(home / "library.db") as library:
        engine = FakeEngine()
        for path in order:
            assert all(r.ok for r in ingest(engine, library, [path]))
        assert names([[m.path for m in s.members] for s in library.stacks()]) == names(truth)
        assert library.regroup_stacks() == len(truth)  # grouping everything again agrees
        assert names([[m.path for m in s.members] for s in library.stacks()]) == names(truth)


def test_a_stack_follows_a_move_and_new_content_leaves_its_stack(shoot, home):
    folder, truth, files = shoot
    with Library.at(home / "library.db") as library:
        engine = FakeEngine()
        list(ingest(engine, library, files))
        before = library.stack_of(truth[0][1])
        moved = folder / "picked" / "renamed.jpg"
        moved.parent.mkdir()
        truth[0][1].rename(moved)
        assert [r.status for r in ingest(engine, library, [moved])] == ["cached"]
        after = library.stack_of(moved)
        assert after is not None and after.id == before.id and str(moved) in {m.path for m in after.members}
        # another picture written over a burst frame: it leaves the burst, the rest stays one stack
        shutil.copyfile(files[-4], truth[1][0])  # a single picture over the second burst's first frame
        list(ingest(engine, library, [truth[1][0]]))
        rest = library.stack_of(truth[1][1])
        assert rest is not None and {m.path for m in rest.members} == {str(p) for p in truth[1][1:]}


def test_rejecting_the_rest_of_a_stack_counts_what_it_did(shoot, home):
    folder, truth, files = shoot
    with Library.at(home / "library.db") as library:
        list(ingest(FakeEngine(), library, files))
        burst = truth[2]
        library.rate(burst[3], rejected=True)
        outcome = library.reject_rest_of_stack(burst[1])
        assert outcome.kept == str(burst[1])
        assert set(outcome.rejected) == {str(burst[0]), str(burst[2])} and outcome.already == (str(burst[3]),)
        stack = library.stack_of(burst[1])
        assert stack.best == str(burst[1])  # the only member not rejected
        assert library.reject_rest_of_stack(files[len(truth[0]) * 6]).rejected == ()  # alone: nothing to reject
