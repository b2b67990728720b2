"""Where a scoring batch's time goes, and the options that change it (rows of ``bench/gpu_suite.py``).

``phase_flops``: the matmul FLOPs of one image per phase (vision tower + projector, shared prefix, question
suffixes, the 106 ``lm_head`` rows). ``profile_rows``: one ``engine.evaluate`` batch under
``torch.profiler``, broken down by the engine's own ranges (``forward.PHASES``: host decode wait, copies,
vision tower, shared prefix, suffix passes, lm_head rows), with each phase's share of the wall time, MFU
(on a GPU with a known peak; GFLOP/s on the CPU) and the GPU's idle time. ``compile_rows``: the vision
tower under ``torch.compile`` (its tile shape is fixed), default and CUDA-graph (``reduce-overhead``)
modes, scores checked against the eager run. ``fp8_rows``: the language model's linear weights rounded to
FP8 (e4m3, one scale per output row): the score difference on the suite's checkpoint and on the
conformance fixture, and on a GPU with FP8 tensor cores the speed with ``torch._scaled_mm``.

On the CPU (``--smoke``) every row runs the same code on tiny shapes: the compile rows with the ``eager``
backend (no compiler needed; equality is what they check there), FP8 as rounding only; what needs CUDA
says so in one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

AddRow = Callable[[str, str, str, str], None]


def _linear_params(model: torch.nn.Module, prefix: str) -> int:
    return sum(
        m.weight.numel() for n, m in model.named_modules() if n.startswith(prefix) and isinstance(m, torch.nn.Linear)
    )


def phase_flops(engine, with_category: bool = True) -> dict[str, float]:
    """Dense matmul FLOPs of one image's scoring per phase: 2 x linear weights x tokens through each part, plus
    attention (4 x tokens x context x width per layer); the lm_head rows read (101 + 5). Embedding lookups
    are free. Keys are ``forward.PHASE_*`` names."""
    from artimuse_core import forward

    model = engine.loaded.model
    cfg = model.config

    def first(value):
        return value[0] if isinstance(value, (list, tuple)) else value

    v_tokens = (first(cfg.vision_config.image_size) // first(cfg.vision_config.patch_size)) ** 2 + 1
    v_width, v_layers = cfg.vision_config.hidden_size, cfg.vision_config.num_hidden_layers
    vision = 2 * _linear_params(model, "model.vision_tower") * v_tokens + 4 * v_tokens * v_tokens * v_width * v_layers
    vision += 2 * _linear_params(model, "model.multi_modal_projector") * engine.loaded.num_image_tokens
    width, layers = cfg.text_config.hidden_size, cfg.text_config.num_hidden_layers
    lm = _linear_params(model, "model.language_model")

    def decoder(tokens: int, past: int) -> float:
        return 2 * lm * tokens + 4 * tokens * (past + tokens / 2) * width * layers

    prefix = len(engine.prompts.prefix)
    suffixes = [len(engine.prompts.suffixes["score:iaa"])]
    if with_category:
        suffixes.append(len(engine.prompts.suffixes["category"]))
    return {
        forward.PHASE_VISION: vision,
        forward.PHASE_PREFIX: decoder(prefix, 0),
        forward.PHASE_SUFFIX: sum(decoder(s, prefix) for s in suffixes),
        forward.PHASE_ROWS: 2 * width * (101 + 5 * with_category),
    }


def profile_rows(engine, paths: list[Path], batch: int, cuda: bool, peak_tflops: float | None, add: AddRow) -> None:
    """One batch of ``batch`` images (score + category) under ``torch.profiler``: a row per phase (time, share of
    the wall time, MFU or GFLOP/s) and one for the GPU's idle time."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    from artimuse_core import forward

    engine.batch_size = batch
    list(engine.evaluate(paths[:batch], predict_category=True))  # warm-up at this shape
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        t = time.perf_counter()
        results = list(engine.evaluate(paths[:batch], predict_category=True))
        if cuda:
            torch.cuda.synchronize()
        wall_us = (time.perf_counter() - t) * 1e6
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:1]
    flops = phase_flops(engine)
    totals: dict[str, tuple[float, float]] = {}
    for row in prof.key_averages():
        if row.key in forward.PHASES:
            cpu, dev = totals.get(row.key, (0.0, 0.0))
            totals[row.key] = (max(cpu, row.cpu_time_total), max(dev, getattr(row, "device_time_total", 0.0)))
    clock = "GPU kernel time" if cuda else "host time"
    for phase in (p for p in forward.PHASES if p != forward.PHASE_GREEDY):  # greedy: critiques only
        cpu_us, dev_us = totals.get(phase, (0.0, 0.0))
        us = dev_us if cuda and phase not in (forward.PHASE_DECODE, forward.PHASE_COPY_OUT) else cpu_us
        if phase not in totals:
            add("profile", phase.removeprefix("artimuse: "), "not run", f"batch {batch}: no such range in this run")
            continue
        rate = ""
        if phase in flops and us > 0:
            achieved = flops[phase] * batch / (us / 1e6)
            rate = (
                f"MFU {100 * achieved / (peak_tflops * 1e12):.1f}%"
                if peak_tflops
                else f"{achieved / 1e9:.1f} GFLOP/s (no peak known)"
            )
        add(
            "profile",
            phase.removeprefix("artimuse: "),
            f"{us / 1000:.1f} ms ({100 * us / wall_us:.0f}% of wall)",
            f"batch {batch}, {clock}; host {cpu_us / 1000:.1f} ms; {rate}".rstrip("; "),
        )
    if cuda:
        busy = sum(e.time_range.elapsed_us() for e in prof.events() if e.device_type == DeviceType.CUDA)
        add(
            "profile",
            "GPU idle",
            f"{max(0.0, wall_us - busy) / 1000:.1f} ms ({100 * max(0.0, 1 - busy / wall_us):.0f}% of wall)",
            f"batch {batch}: wall {wall_us / 1000:.1f} ms, kernels {busy / 1000:.1f} ms",
        )
    else:
        add("profile", "GPU idle", "n/a on the CPU", f"batch {batch}: wall {wall_us / 1000:.1f} ms")


def _scores(engine, paths: list[Path]) -> list[float]:
    results = list(engine.evaluate(paths, predict_category=True))
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:1]
    return [r.score for r in results]


def _rate(engine, paths: list[Path], cuda: bool) -> tuple[float, list[float]]:
    _scores(engine, paths)  # warm-up (and compilation) at this shape
    if cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    scores = _scores(engine, paths)
    if cuda:
        torch.cuda.synchronize()
    return len(paths) / (time.perf_counter() - t), scores


def compile_rows(engine, paths: list[Path], cuda: bool, add: AddRow) -> None:
    """The vision tower under ``torch.compile`` at the batch's fixed tile shape, against the eager tower in
    the same run; the scores must match (bf16: within 0.5 points, fp32: 1e-3)."""
    tower_owner = engine.loaded.model.model
    eager = tower_owner.vision_tower
    base_rate, base = _rate(engine, paths, cuda)
    modes = ("default", "reduce-overhead") if cuda else ("eager backend",)
    tolerance = 0.5 if cuda else 1e-3
    for mode in modes:
        try:
            if cuda:
                tower_owner.vision_tower = torch.compile(eager, mode=mode, dynamic=False)
            else:  # no compiler on the CPU runner: the eager backend runs the same wrapping
                tower_owner.vision_tower = torch.compile(eager, backend="eager", dynamic=False)
            rate, scores = _rate(engine, paths, cuda)
        finally:
            tower_owner.vision_tower = eager
        diff = max(abs(a - b) for a, b in zip(scores, base))
        note = "CUDA graphs" if mode == "reduce-overhead" else "inductor" if cuda else "CPU: equality only"
        add(
            "compiled vision tower",
            f"{mode}, batch {len(paths)}",
            f"{rate:.1f} images/s ({rate / base_rate:.2f}x eager)",
            f"{note}; max score difference {diff:.2e} (within {tolerance:g}: {diff <= tolerance})",
        )
    if not cuda:
        add("compiled vision tower", "CUDA graphs", "skipped: needs CUDA", "reduce-overhead captures CUDA graphs")


def _round_fp8(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` rounded to float8 e4m3 with one scale per output row, back in its own dtype."""
    scale = weight.abs().amax(dim=1, keepdim=True).float().clamp(min=1e-12) / torch.finfo(torch.float8_e4m3fn).max
    return ((weight.float() / scale).to(torch.float8_e4m3fn).float() * scale).to(weight.dtype)


def _language_linears(model: torch.nn.Module) -> list[torch.nn.Linear]:
    return [
        m for n, m in model.named_modules() if n.startswith("model.language_model") and isinstance(m, torch.nn.Linear)
    ]


def _fp8_difference(engine, paths: list[Path]) -> tuple[float, list[torch.Tensor]]:
    """Max score difference with the language model's linear weights rounded to FP8; the weights stay
    rounded (the originals are returned for ``_restore``)."""
    base = _scores(engine, paths)
    originals = []
    with torch.no_grad():
        for layer in _language_linears(engine.loaded.model):
            originals.append(layer.weight.detach().clone())
            layer.weight.copy_(_round_fp8(layer.weight))
    return max(abs(a - b) for a, b in zip(_scores(engine, paths), base)), originals


def _restore(engine, originals: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for layer, weight in zip(_language_linears(engine.loaded.model), originals):
            layer.weight.copy_(weight)


def fp8_rows(engine, paths: list[Path], cuda: bool, add: AddRow, fixture: Path | None) -> None:
    """FP8 as an option: score difference of FP8-rounded weights here and on the conformance fixture, and
    where the card has FP8 tensor cores (compute capability 8.9+) the speed of ``torch._scaled_mm``."""
    diff, originals = _fp8_difference(engine, paths)
    try:
        speed = "speed: needs a CUDA card with FP8 tensor cores"
        if cuda and torch.cuda.get_device_capability() >= (8, 9) and hasattr(torch, "_scaled_mm"):
            speed = _scaled_mm_speed(engine)
    finally:
        _restore(engine, originals)
    add("fp8 weights (e4m3)", f"{len(paths)} images", f"max score difference {diff:.3f}", speed)
    if fixture is not None and (fixture / "model.safetensors").is_file():
        from artimuse_core import create_engine

        tiny = create_engine(fixture, device="cpu", dtype="float32", batch_size=4)
        images = sorted(p for p in (fixture.parent / "images").iterdir() if p.suffix in (".jpg", ".png"))[:4]
        fixture_diff, _ = _fp8_difference(tiny, images)
        add("fp8 weights (e4m3)", "conformance fixture", f"max score difference {fixture_diff:.3f}", "fp32 on CPU")


def _scaled_mm_speed(engine) -> str:
    """One MLP-shaped product in bf16 and in FP8 (``torch._scaled_mm``, per-tensor scales) on the card."""
    cfg = engine.loaded.model.config.text_config
    m, k, n = 32 * 512, cfg.hidden_size, cfg.intermediate_size
    a, b = (
        torch.randn(m, k, device="cuda", dtype=torch.bfloat16),
        torch.randn(n, k, device="cuda", dtype=torch.bfloat16),
    )
    a8, b8 = a.to(torch.float8_e4m3fn), b.to(torch.float8_e4m3fn)
    one = torch.ones((), device="cuda")

    def timed(fn) -> float:
        fn()
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(20):
            fn()
        torch.cuda.synchronize()
        return (time.perf_counter() - t) / 20

    bf16 = timed(lambda: a @ b.T)
    fp8 = timed(lambda: torch._scaled_mm(a8, b8.T, scale_a=one, scale_b=one, out_dtype=torch.bfloat16))
    flops = 2 * m * k * n
    return f"{m}x{k} @ {k}x{n}: bf16 {flops / bf16 / 1e12:.0f} TFLOP/s, fp8 {flops / fp8 / 1e12:.0f} TFLOP/s"


__all__ = ["compile_rows", "fp8_rows", "phase_flops", "profile_rows"]
