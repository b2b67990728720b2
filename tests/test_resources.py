"""Cores and memory: thread plans that never oversubscribe and respect explicit settings; load estimates that
pick bf16 or refuse with the numbers before anything is loaded."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from artimuse_core import resources
from artimuse_core.checkpoints import resolve_checkpoint
from artimuse_core.errors import DeviceError


@pytest.fixture
def cgroup(tmp_path):
    (tmp_path / "cpu.max").write_text("max 100000\n")
    return tmp_path


@pytest.fixture
def clean_thread_env(monkeypatch):
    import torch

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(resources, "_TORCH_THREADS_AT_IMPORT", None)
    monkeypatch.setattr(resources, "_physical_cores", lambda: torch.get_num_threads())


def test_cores_follow_affinity_and_cgroup_quota(cgroup, monkeypatch):
    monkeypatch.setattr(resources.os, "sched_getaffinity", lambda pid: set(range(16)))
    assert resources.available_cores(cgroup)[0] == 16
    (cgroup / "cpu.max").write_text("250000 100000\n")  # 2.5 CPUs
    cores, how = resources.available_cores(cgroup)
    assert cores == 3 and "cgroup cpu.max 2.5" in how


def test_auto_plan_gives_the_model_every_core_in_turns_with_decoding(cgroup, monkeypatch, clean_thread_env):
    for cores, torch_threads, workers in ((2, 2, 2), (4, 4, 4), (16, 16, 8), (1, 1, 1)):
        monkeypatch.setattr(resources.os, "sched_getaffinity", lambda pid, n=cores: set(range(n)))
        plan = resources.plan_threads("cpu", cgroup_root=cgroup)
        assert (plan.torch_threads, plan.decode_workers, plan.source) == (torch_threads, workers, "auto")
        assert plan.turns and "taking turns" in plan.describe()
    gpu = resources.plan_threads("cuda", cgroup_root=cgroup)
    assert gpu.source == "gpu" and gpu.decode_workers == max(1, resources.available_cores(cgroup)[0] - 1)


def test_explicit_settings_win(cgroup, monkeypatch, clean_thread_env):
    monkeypatch.setattr(resources.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    plan = resources.plan_threads("cpu", cgroup_root=cgroup)
    assert plan.source == "OMP_NUM_THREADS" and not plan.applies and plan.decode_workers == 4 - plan.torch_threads
    assert not plan.turns  # someone else chose torch's threads: decoding runs beside them, on the rest
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert resources.plan_threads("cpu", decode_workers=3, cgroup_root=cgroup).decode_workers == 3


def test_a_hosts_own_thread_setting_is_left_alone(cgroup, monkeypatch, clean_thread_env):
    import torch

    before = torch.get_num_threads()
    resources.plan_threads("cpu", cgroup_root=cgroup)  # first look: torch untouched
    torch.set_num_threads(before + 1)  # what ComfyUI or a script may do
    try:
        plan = resources.plan_threads("cpu", cgroup_root=cgroup)
        assert plan.source == "host" and plan.torch_threads == before + 1
        with resources.torch_threads_for(plan):
            assert torch.get_num_threads() == before + 1
    finally:
        torch.set_num_threads(before)


def test_auto_plan_applies_only_around_the_work(cgroup, monkeypatch, clean_thread_env):
    import torch

    before = torch.get_num_threads()
    plan = resources.ThreadPlan(2, "2", torch_threads=1 if before != 1 else 2, decode_workers=1, source="auto")
    with resources.torch_threads_for(plan):
        assert torch.get_num_threads() == plan.torch_threads
    assert torch.get_num_threads() == before


def test_memory_from_meminfo_and_cgroup(tmp_path):
    available, how = resources.available_memory("cpu", tmp_path)
    assert available and available > 0 and how == "MemAvailable"
    (tmp_path / "memory.max").write_text(str(4 * 2**20))
    (tmp_path / "memory.current").write_text(str(1 * 2**20))
    assert resources.available_memory("cpu", tmp_path) == (3 * 2**20, "cgroup memory.max")


def test_estimate_counts_weights_by_dtype(tiny_chat):
    import torch

    info = resolve_checkpoint(tiny_chat)
    fp32 = resources.estimate_memory(info, "cpu", "float32", batch_size=1)
    bf16 = resources.estimate_memory(info, "cpu", "bfloat16", batch_size=1)
    header_params = sum(
        int(torch.tensor(t["shape"]).prod())
        for f in info.weight_files
        for k, t in _header(f).items()
        if k != "__metadata__"
    )
    assert fp32.parameters == header_params and fp32.weights_bytes == 4 * header_params
    assert bf16.weights_bytes == 2 * header_params
    assert resources.estimate_memory(info, "cpu", "float32", batch_size=8).activation_bytes == 8 * fp32.activation_bytes
    assert "float32" in fp32.describe() and "available" in fp32.describe()


def _header(file):
    with open(file, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        return json.loads(handle.read(length))


def test_auto_dtype_falls_back_to_bf16_or_refuses_with_the_numbers(tiny_chat, monkeypatch):
    import torch

    from artimuse_core.devices import choose_placement
    from artimuse_core.loading import fit_placement  # transformers: only the tests that load need it

    info = resolve_checkpoint(tiny_chat)
    placement = choose_placement("cpu", "auto")
    need_fp32 = resources.estimate_memory(info, "cpu", "float32", batch_size=1).total_bytes
    need_bf16 = resources.estimate_memory(info, "cpu", "bfloat16", batch_size=1).total_bytes
    assert need_bf16 < need_fp32
    monkeypatch.setattr(resources, "available_memory", lambda device: ((need_fp32 + need_bf16) // 2, "test"))
    chosen, estimate, note = fit_placement(info, placement, dtype_is_auto=True, batch_size=1)
    assert chosen.dtype == torch.bfloat16 and estimate.dtype == "bfloat16"
    assert "loading in bfloat16" in note and "fp32" in note
    with pytest.raises(DeviceError, match=r"does not fit: needs ~.* GB .* available \(test\)"):
        fit_placement(info, placement, dtype_is_auto=False, batch_size=1)
    monkeypatch.setattr(resources, "available_memory", lambda device: (need_bf16 // 2, "test"))
    with pytest.raises(DeviceError, match="bfloat16"):
        fit_placement(info, placement, dtype_is_auto=True, batch_size=1)
    monkeypatch.setattr(resources, "available_memory", lambda device: (need_fp32 * 2, "test"))
    assert fit_placement(info, placement, dtype_is_auto=True, batch_size=1)[0] == placement


def test_chat_load_has_no_second_copy_in_the_target_dtype(tiny_chat):
    """Weights arrive cast once to the target dtype and the model adopts those very tensors."""
    import torch
    from transformers import InternVLForConditionalGeneration

    from artimuse_core.convert import native_config
    from artimuse_core.loading import _chat_state_dict

    info = resolve_checkpoint(tiny_chat)
    state = _chat_state_dict(info, torch.bfloat16)
    assert all(t.dtype == torch.bfloat16 for t in state.values())
    image_token_id = info.config.get("image_token_id") or _image_token_id(tiny_chat)
    model = InternVLForConditionalGeneration.from_pretrained(
        None, config=native_config(info.config, image_token_id), state_dict=state, dtype=torch.bfloat16
    )
    pointers = {t.data_ptr() for t in state.values()}
    assert all(p.data_ptr() in pointers for p in model.parameters())


def _image_token_id(folder) -> int:
    config = json.loads((folder / "tokenizer_config.json").read_text())
    return next(int(k) for k, v in config["added_tokens_decoder"].items() if v["content"] == "<IMG_CONTEXT>")


def test_engine_load_reports_its_estimate(tiny_chat):
    from artimuse_core import create_engine

    engine = create_engine(tiny_chat, batch_size=2)
    assert engine.memory is not None and engine.memory.fits and engine.memory.batch_size == 2
    assert engine.notes == [] and engine.threads.decode_workers >= 1
    assert replace(engine.memory, available_bytes=1).fits is False


def test_model_work_starts_only_when_the_lookahead_is_decoded(monkeypatch):
    """With turns, no decode thread competes with the model's threads: every batch starts with the decode
    pool idle (the decodes already submitted are waited for), and results keep input order."""
    import threading
    import time
    from types import SimpleNamespace

    import numpy as np

    from artimuse_core import batching, images

    in_flight, seen = [0], []
    lock = threading.Lock()

    def slow_open(source, options):
        with lock:
            in_flight[0] += 1
        time.sleep(0.02)  # a decode that outlasts the model work below (no timing is asserted)
        with lock:
            in_flight[0] -= 1
        return images.DecodedImage(str(source), np.zeros((3, 2, 2), np.float32), 2, 2, "PNG", "RGB")

    def fake_run_batches(state, items, **kwargs):
        seen.append(in_flight[0])
        return [batching.Answers(score=float(p[0][0, 0, 0])) for p in items]

    monkeypatch.setattr(images, "open_rgb", slow_open)
    monkeypatch.setattr(batching, "run_batches", fake_run_batches)
    for turns, idle in ((True, True), (False, False)):
        seen.clear()
        threads = resources.ThreadPlan(2, "2", 2, 2, "auto", turns=turns)
        processor = SimpleNamespace(image_options=images.ImageOptions(), family=SimpleNamespace(categories=()))
        state = SimpleNamespace(plan=SimpleNamespace(batch_size=2, threads=threads), processor=processor)
        out = list(
            batching.stream(
                state,
                [f"f{i}" for i in range(12)],
                want_score=True,
                predict_category=False,
                attributes=[],
                max_new_tokens=1,
                on_step=None,
            )
        )
        assert [d.source for d, _ in out] == [f"f{i}" for i in range(12)]
        assert len(seen) == 6 and (all(n == 0 for n in seen) if idle else any(n for n in seen)), (turns, seen)


def test_turns_use_only_the_cores_other_processes_leave_free():
    """Threads of one product wait for each other: on a busy machine the model takes fewer, never more than
    the plan's, never fewer than one; its own share of the load average does not count against it."""
    assert resources.cores_free(2, load=0.1, own=0.0) == 2
    assert resources.cores_free(2, load=2.1, own=2.0) == 2  # the load is this process's own
    assert resources.cores_free(2, load=6.0, own=1.0) == 1
    assert resources.cores_free(16, load=4.0, own=0.0) == 12
    assert resources.cores_free(4, load=40.0, own=0.0) == 1
