"""Stacks: the hash index finds what all pairs find, bursts from real photographs are recovered whole with
nothing else grouped (in memory, through the door on SQLite and PostgreSQL, and file by file as a watcher
meets them), the best of a stack follows the user before the model, and stacks follow moves."""

from __future__ import annotations

import numpy as np
import pytest

from artimuse_core.exif import capture_time
from artimuse_core.stacks.best import StackMember, make_stack
from artimuse_core.stacks.grouping import all_pairs, burst_pairs, group_stacks, near_duplicate_runs, near_pairs
from artimuse_core.stacks.hashing import file_hash, hash_distance, perceptual_hash
from artimuse_core.stacks.settings import StackSettings, parse_gap, stack_settings
from tests.stack_shoot import make_burst_shoot


def planted(n: int, threshold: int, seed: int = 0) -> np.ndarray:
    """Random 64-bit hashes with clusters of four planted at most ``threshold`` bits from their centre."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n, dtype=np.uint64)
    for centre in range(0, n - 4, 10):
        for k in range(1, 4):
            flips = rng.choice(64, int(rng.integers(0, threshold + 1)), replace=False)
            hashes[centre + k] = hashes[centre] ^ np.uint64(sum(1 << int(b) for b in flips))
    return hashes


@pytest.mark.parametrize(("n", "threshold"), [(400, 0), (400, 3), (1500, 8), (800, 12), (300, 20)])
def test_the_index_finds_exactly_the_pairs_all_pairs_finds(n, threshold):
    hashes = planted(n, threshold, seed=threshold)
    found = near_pairs(hashes, threshold)
    assert len(found) >= n // 10  # the planted clusters are there to find
    assert np.array_equal(found, all_pairs(hashes, threshold))


def test_bursts_chain_within_the_gap_and_break_past_it():
    hashes = [0, 0b111, 0b1111, 0, (1 << 64) - 1]  # the last one is the opposite picture
    times = [0.0, 1.5, 3.0, 10.0, 10.5]
    pairs = burst_pairs(hashes, times, gap=2.0, threshold=4).tolist()
    assert pairs == [[0, 1], [1, 2]]  # 3 is 7 s after 2; 4 is within 0.5 s of 3 but 64 bits away
    assert group_stacks(hashes, times, StackSettings(threshold=0, gap=2.0, burst_threshold=4)) == [[0, 1, 2, 3]]
    # 0 and 3 are identical (threshold 0 links them whenever they were taken), so the burst absorbs 3
    assert group_stacks(hashes, [None] * 5, StackSettings(threshold=0, gap=2.0, burst_threshold=4)) == [[0, 3]]


def test_adjacent_near_identical_frames_are_one_run():
    frames = [0, 1, 3, 0xFFFF0000, 0xFFFF0001, 0, 0]
    assert near_duplicate_runs(frames, 2) == [[0, 1, 2], [3, 4], [5, 6]]
    assert near_duplicate_runs([], 2) == []


def test_stack_settings_come_from_the_config_file_then_the_environment_then_arguments(tmp_path):
    from artimuse_core.config import load_config
    from artimuse_core.errors import ConfigError, InvalidValue

    assert load_config(tmp_path / "none.toml", environ={}).stack_settings() == StackSettings()
    file = tmp_path / "config.toml"
    file.write_text("stack_threshold = 5\nburst_gap = 0.5\n")
    config = load_config(file, environ={"ARTIMUSE_STACK_K": "2"})
    assert config.stack_settings() == StackSettings(threshold=5, gap=0.5, k=2.0)
    assert config.source_of("stack_threshold") == "file" and config.source_of("stack_k") == "environment"
    assert stack_settings(config.stacks, threshold=3).threshold == 3
    assert config.with_arguments(burst_threshold=12).stack_settings().burst_threshold == 12
    assert parse_gap("2s") == 2.0 and parse_gap("500ms") == 0.5 and parse_gap("1min") == 60.0
    with pytest.raises(InvalidValue, match="stack_threshold"):
        stack_settings(threshold=99)
    with pytest.raises(InvalidValue, match="burst_gap"):
        parse_gap("soon")
    file.write_text("stack_threshold = 99\n")
    with pytest.raises(ConfigError, match="stack_threshold"):
        load_config(file, environ={})


@pytest.fixture(scope="module")
def burst_shoot(tmp_path_factory):
    return make_burst_shoot(tmp_path_factory.mktemp("bursts") / "shoot")


def names(groups):
    return sorted(sorted(p.rsplit("/", 1)[-1] for p in g) for g in groups)


def test_real_photo_bursts_are_recovered_whole_and_nothing_else_grouped(burst_shoot):
    files = burst_shoot.files
    hashes = [file_hash(p) for p in files]
    times = [capture_time(p) for p in files]
    found = [[str(files[i]) for i in g] for g in group_stacks(hashes, times)]
    assert names(found) == names([[str(p) for p in s] for s in burst_shoot.stacks])
    # the hash itself: a resized or re-compressed copy is the same hash, a crop of 3% a few bits off
    assert hash_distance(hashes[0], hashes[1]) <= 2
    assert 0 < hash_distance(hashes[0], hashes[2]) <= 12
    # without capture times near-duplicates still group, never across scenes (a 3% crop may need the burst)
    truth = [set(s) for s in burst_shoot.stacks]
    for g in group_stacks(hashes, [None] * len(files)):
        assert any({files[i] for i in g} <= stack for stack in truth)


def test_perceptual_hash_reads_any_mode():
    from PIL import Image

    grey = Image.new("L", (64, 64), 128)
    assert perceptual_hash(grey) == perceptual_hash(grey.convert("RGBA"))


def member(image_id, score=None, std=None, **decision):
    return StackMember(image_id=image_id, path=f"/shoot/IMG_{image_id}.jpg", score=score, std=std, **decision)


def test_the_best_is_the_highest_lower_bound_with_the_user_first_and_ties_decided():
    sure, lucky = member(1, 70.0, 2.0), member(2, 74.0, 9.0)
    stack = make_stack([lucky, sure], k=1.0)
    assert stack.best_id == 1 and stack.id == 1  # 68 beats 65 although 74 > 70
    assert "lower bound 68.0" in stack.reason and "IMG_2.jpg" in stack.reason
    assert make_stack([lucky, sure], k=0.0).best_id == 2  # k = 0 trusts the mean
    assert make_stack([sure, lucky, member(3, 10.0, 1.0, picked=True)], k=1.0).best_id == 3
    assert "your pick" in make_stack([sure, member(3, 10.0, 1.0, picked=True)], k=1.0).reason
    rated = make_stack([sure, member(4, 20.0, 1.0, rating=90.0, stars=5.0)], k=1.0)
    assert rated.best_id == 4 and "your rating, 5 stars" in rated.reason
    assert make_stack([member(5, 70.0, 1.0, rejected=True), member(6, 10.0, 1.0)], k=1.0).best_id == 6
    tied = [member(9, 60.0, 2.0), member(8, 60.0, 2.0), member(7, 58.0, 0.0)]
    assert [m.image_id for m in make_stack(tied, 1.0).members] == [8, 9, 7]  # same bound 58: score, then id
    assert make_stack(list(reversed(tied)), 1.0).best_id == 8
    unscored = make_stack([member(12), member(11)], 1.0)
    assert unscored.best_id == 11 and "no member is scored" in unscored.reason


def test_the_reason_names_the_dimension_where_the_best_leads_and_its_critique():
    best = StackMember(
        1,
        "/a.jpg",
        80.0,
        1.0,
        dimensions={"iaa": 80.0, "iqa": 90.0, "ista": 60.0},
        critiques={"Composition": "Balanced. More."},
    )
    other = StackMember(2, "/b.jpg", 70.0, 1.0, dimensions={"iaa": 70.0, "iqa": 60.0, "ista": 59.0})
    text = make_stack([best, other], 1.0).reason
    assert "strongest in iqa (+30.0)" in text and "critique on Composition: Balanced" in text
