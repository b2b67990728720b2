"""The GPU suite: every figure a short GPU window should bring back, from one command, as one table.

Run it through ``bench/gpu_suite.sh`` (it sets the paths; nothing needs installing). On a GPU it builds a
random InternVL3-8B-shaped checkpoint in bf16 directly on the GPU, writes it in the published chat layout
(sharded), and measures through the real engine path: chat-layout load on CUDA, the decode pipeline, sdpa,
the shared prompt prefix, OOM back-off, quantised loads, a LoRA step. ``--smoke`` runs the same code on the
CPU with tiny shapes in seconds (CI runs it, so a typo cannot waste GPU minutes).

Rows: environment; build; load; decode-only ceiling; scoring (score + category, as `artimuse score` does)
images/s and model FLOP utilisation at batch 1..64; critique tokens/s batched vs one prompt per call (the
token ids must be equal); a forced out-of-memory case (a memory cap on the GPU, a fake allocator error on
the CPU) that must halve, give equal results and come back to full size; 8-bit and 4-bit loads with the
skip list checked (or "skipped: no bitsandbytes"); one LoRA step's time and peak memory.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from artimuse_core.sizing import ARCHITECTURES  # noqa: E402

PINNED_TRANSFORMERS = "5.24.0"
VOCAB = 151674
# InternVL3-8B (docs/inference.md "Model"): Qwen2.5-7B-shaped language model, InternViT-300M vision tower.
FULL = dict(ARCHITECTURES["InternVL3-8B"])  # the core's declaration: one source for every sizing and benchmark
TINY = dict(
    vocab_size=VOCAB,
    text_hidden=64,
    text_layers=2,
    text_heads=4,
    kv_heads=2,
    text_intermediate=128,
    vision_hidden=32,
    vision_layers=2,
    vision_heads=2,
    vision_intermediate=64,
)
# Dense bf16 tensor throughput by device name (NVIDIA datasheets, SXM parts), for MFU.
PEAK_TFLOPS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "4090": 165.2}


class Table:
    """One table, printed row by row as the cases finish (a killed run still shows what it measured)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []
        self.errors = 0
        print(f"{'case':<24} {'setting':<26} {'result':<30} detail", flush=True)
        print("-" * 120, flush=True)

    def add(self, case: str, setting: str, result: str, detail: str = "") -> None:
        self.rows.append((case, setting, result, detail))
        self.errors += result.startswith("error")
        print(f"{case:<24} {setting:<26} {result:<30} {detail}", flush=True)


class Device:
    """The handful of calls that differ between the GPU run and the CPU smoke run."""

    def __init__(self, smoke: bool) -> None:
        self.cuda = not smoke
        if self.cuda and not torch.cuda.is_available():
            raise SystemExit("gpu_suite: no CUDA device visible to torch; use --smoke for the CPU run")
        self.name = torch.cuda.get_device_name(0) if self.cuda else f"CPU ({platform.processor() or 'x86'})"
        self.torch_device = "cuda" if self.cuda else "cpu"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float:
        if self.cuda:
            return torch.cuda.max_memory_allocated() / 2**30
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    def allocated_gib(self) -> float:
        return torch.cuda.memory_allocated() / 2**30 if self.cuda else float("nan")

    def free(self) -> None:
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()

    def peak_tflops(self) -> float | None:
        if "PEAK_TFLOPS" in os.environ:
            return float(os.environ["PEAK_TFLOPS"])
        return next((v for k, v in PEAK_TFLOPS.items() if k in self.name), None) if self.cuda else None


def guarded(table: Table, case: str, deadline: float, needs_s: float):
    """Run a case unless the time budget is spent; an error becomes a row, not the end of the window."""

    def wrap(fn):
        left = deadline - time.monotonic()
        if left < needs_s:
            table.add(case, "", "skipped: time budget", f"{left:.0f} s left, needs ~{needs_s:.0f} s")
            return None
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - every failure is reported in the table
            table.add(case, "", f"error: {type(exc).__name__}", str(exc).splitlines()[0][:150] if str(exc) else "")
            traceback.print_exc(file=sys.stderr)
            return None

    return wrap


def find_tokenizer(explicit: str | None) -> Path | None:
    """The real InternVL3 tokenizer makes prompts their real length (510 tokens); the synthetic one is longer."""
    shared = REPO.parent / "shared" / "conformance" / "tiny-artimuse"
    for candidate in (explicit, REPO / "bench" / "out" / "tokenizer", shared):
        if candidate and (Path(candidate) / "vocab.json").is_file():
            return Path(candidate)
    return None


def make_jpegs(folder: Path, count: int, size=(1024, 768)) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        small = rng.integers(0, 255, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
        path = folder / f"g{i:03d}.jpg"
        Image.fromarray(small).resize(size, Image.Resampling.BILINEAR).save(path, quality=90)
        paths.append(path)
    return paths


def flops_per_image(engine, with_category: bool) -> float:
    """Dense matmul FLOPs of one image's scoring (``gpu_profile.phase_flops`` summed over the phases)."""
    from bench.gpu_profile import phase_flops

    return sum(phase_flops(engine, with_category).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny shapes, seconds (CI)")
    parser.add_argument("--budget-s", type=float, default=420, help="stop starting new cases after this")
    parser.add_argument("--batches", default=None, help="scoring batch sizes (default 1,2,4,8,16,32,64; smoke 1,2,4)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="critique tokens (default 64; smoke 4)")
    parser.add_argument("--tokenizer", help="folder with the real vocab.json/merges.txt/tokenizer_config.json")
    parser.add_argument("--workdir", help="where the checkpoint is written (default: /dev/shm when it fits)")
    parser.add_argument("--profile-batch", type=int, default=None, help="profiled batch (default 32; smoke 2)")
    args = parser.parse_args()
    # bitsandbytes logs one line per 8-bit matmul ("inputs will be cast ... to float16"): thousands per run.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    start = time.monotonic()
    deadline = start + args.budget_s
    device = Device(args.smoke)
    table = Table()

    try:
        run_cases(args, table, device, start, deadline)
    finally:
        print(f"total {time.monotonic() - start:.0f} s; {table.errors} error row(s)", flush=True)
    if table.errors or len(table.rows) < 3:
        sys.exit(1)


def run_cases(args, table: Table, device: Device, start: float, deadline: float) -> None:
    """Every case, each guarded: a failure becomes an error row and the rest still run."""
    shapes = TINY if args.smoke else FULL
    batches = [int(b) for b in (args.batches or ("1,2,4" if args.smoke else "1,2,4,8,16,32,64")).split(",")]
    max_new = args.max_new_tokens or (4 if args.smoke else 64)
    dtype = torch.float32 if args.smoke else torch.bfloat16
    import transformers

    from artimuse_core import ATTRIBUTES, create_engine, forward
    from artimuse_core.devices import bitsandbytes_available, flash_attn_available
    from artimuse_core.images import decode_many
    from artimuse_core.synthetic import build_checkpoint
    from bench import gpu_profile

    note = "" if transformers.__version__ == PINNED_TRANSFORMERS else f" (project pins {PINNED_TRANSFORMERS})"
    table.add(
        "environment",
        device.name,
        f"torch {torch.__version__}",
        f"transformers {transformers.__version__}{note}; python {platform.python_version()}; "
        f"bitsandbytes {'yes' if bitsandbytes_available() else 'no'}; flash-attn "
        f"{'importable' if flash_attn_available() else 'no (sdpa)'}",
    )
    tokenizer = find_tokenizer(args.tokenizer)
    need = 20 * 2**30 if not args.smoke else 2**28
    base = (
        Path(args.workdir)
        if args.workdir
        else (Path("/dev/shm") if Path("/dev/shm").is_dir() and shutil.disk_usage("/dev/shm").free > need else None)
    )
    work = Path(tempfile.mkdtemp(prefix="artimuse-gpu-suite-", dir=base))
    try:
        state: dict = {}

        def build():
            t = time.perf_counter()
            shard = 4 * 2**30 if not args.smoke else 2**22
            state["ckpt"] = build_checkpoint(
                work / "ckpt",
                seed=0,
                dtype=dtype,
                device=device.torch_device,
                tokenizer_from=tokenizer,
                max_shard_bytes=shard,
                **shapes,
            )
            device.free()
            files = sorted(state["ckpt"].glob("*.safetensors"))
            size = sum(f.stat().st_size for f in files) / 2**30
            table.add(
                "build",
                f"{'8B' if not args.smoke else 'tiny'} {str(dtype)[6:]} on {device.torch_device}",
                f"{time.perf_counter() - t:.1f} s",
                f"{len(files)} chat-layout shard(s), {size:.2f} GiB, "
                f"tokenizer {'real' if tokenizer else 'synthetic (prompts longer than the real 510)'}",
            )

        guarded(table, "build", deadline, 10)(build)
        if "ckpt" not in state:
            table.errors += 1
            return
        paths = make_jpegs(work / "images", max(2 * max(batches), 16))

        def load():
            device.reset_peak()
            t = time.perf_counter()
            engine = create_engine(
                state["ckpt"], device=device.torch_device, dtype=str(dtype)[6:], attn="sdpa", batch_size=max(batches)
            )
            device.sync()
            state["engine"] = engine
            table.add(
                "load (chat layout)",
                f"{engine.loaded.placement.describe()}",
                f"{time.perf_counter() - t:.1f} s",
                f"peak {device.peak_gib():.1f} GiB; prompt {len(engine.score_prompt_ids)} tokens, shared prefix "
                f"{len(engine.prompts.prefix)}; {engine.threads.describe()}; {engine.memory.describe()}",
            )

        guarded(table, "load", deadline, 20)(load)
        engine = state.get("engine")
        if engine is None:
            table.errors += 1
            return

        def decode_ceiling():
            t = time.perf_counter()
            count = sum(1 for _ in decode_many(paths, engine.image_options, engine.threads.decode_workers))
            seconds = time.perf_counter() - t
            table.add(
                "decode only",
                f"{engine.threads.decode_workers} workers",
                f"{count / seconds:.1f} images/s",
                "1024x768 JPEGs; the scoring rate cannot exceed this",
            )

        guarded(table, "decode only", deadline, 5)(decode_ceiling)

        peak = device.peak_tflops()
        per_image = flops_per_image(engine, with_category=True)
        reference_scores: dict[int, list[float]] = {}

        def sweep(batch: int):
            engine.batch_size = batch
            n = max(2 * batch, 8)
            list(engine.evaluate(paths[:batch], predict_category=True))  # warm-up at this shape
            device.sync()
            device.reset_peak()
            t = time.perf_counter()
            results = list(engine.evaluate(paths[:n], predict_category=True))
            device.sync()
            seconds = time.perf_counter() - t
            assert all(r.ok for r in results), [r.error for r in results if not r.ok][:1]
            reference_scores[batch] = [r.score for r in results]
            rate = n / seconds
            mfu = f"MFU {100 * rate * per_image / (peak * 1e12):.1f}%" if peak else "MFU n/a (no peak known)"
            table.add(
                "score+category",
                f"batch {batch}",
                f"{rate:.1f} images/s",
                f"{mfu}; "
                f"{1000 * seconds / n:.1f} ms/image; peak {device.peak_gib():.1f} GiB; "
                f"{per_image / 1e12:.2f} TFLOP/image",
            )

        for batch in batches:
            guarded(table, "score+category", deadline, 15)(lambda b=batch: sweep(b))
        profiled = args.profile_batch or (2 if args.smoke else 32)
        guarded(table, "profile", deadline, 20)(
            lambda: gpu_profile.profile_rows(engine, paths, profiled, device.cuda, peak, table.add)
        )
        guarded(table, "compiled vision tower", deadline, 60)(
            lambda: gpu_profile.compile_rows(engine, paths[:profiled], device.cuda, table.add)
        )
        fixture = REPO.parent / "shared" / "conformance" / "tiny-artimuse"
        guarded(table, "fp8 weights", deadline, 30)(
            lambda: gpu_profile.fp8_rows(engine, paths[:profiled], device.cuda, table.add, fixture)
        )
        engine.batch_size = max(batches)

        def critiques():
            image = paths[:1]
            device.sync()
            t = time.perf_counter()
            batched = engine.critique(image, ATTRIBUTES, max_new_tokens=max_new)
            device.sync()
            batched_s = time.perf_counter() - t
            t = time.perf_counter()
            alone = [engine.critique(image, [a], max_new_tokens=max_new)[0] for a in ATTRIBUTES]
            device.sync()
            alone_s = time.perf_counter() - t
            tokens = sum(len(r.token_ids) for r in batched)
            same = [r.token_ids for r in batched] == [r.token_ids for r in alone]
            table.add(
                "critique tokens/s",
                f"8 attributes x {max_new} tokens",
                f"{tokens / batched_s:.1f} batched",
                f"{tokens / alone_s:.1f} one prompt per call ({alone_s / batched_s:.1f}x); token ids equal: {same}",
            )

        guarded(table, "critique tokens/s", deadline, 30)(critiques)

        def oom():
            batch = max(batches)
            files = paths[:batch]
            expected = reference_scores.get(batch, [None] * batch)[:batch]
            engine.backoff.events.clear()
            engine.batch_size = batch
            if device.cuda:
                device.free()
                engine.batch_size = 8
                device.reset_peak()
                base_gib = device.allocated_gib()
                list(engine.evaluate(files[:8], predict_category=True))
                per8 = device.peak_gib() - base_gib
                cap_gib = base_gib + 2.5 * per8  # room for ~16-20 images, not for 64
                total_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
                device.free()
                torch.cuda.set_per_process_memory_fraction(min(1.0, cap_gib / total_gib))
                setting = f"cap {cap_gib:.1f} GiB, batch {batch}"
                engine.batch_size = batch
                try:
                    results = list(engine.evaluate(files, predict_category=True))
                finally:
                    torch.cuda.set_per_process_memory_fraction(1.0)
                    device.free()
            else:  # the CPU has no allocator cap: a fake allocator error above 2 images, same code path
                real = forward.image_features

                def small_memory(model, pixels):
                    if len(pixels) > 2:
                        raise torch.OutOfMemoryError("CUDA out of memory (simulated for the smoke run)")
                    return real(model, pixels)

                forward.image_features = small_memory
                setting = f"fake OOM > 2 images, batch {batch}"
                try:
                    results = list(engine.evaluate(files, predict_category=True))
                finally:
                    forward.image_features = real
            events = list(engine.backoff.events)
            tolerance = 1e-3 if args.smoke else 0.5  # bf16 results move a little with the batch's shape
            equal = all(e is None or abs(r.score - e) < tolerance for r, e in zip(results, expected))
            engine.backoff.events.clear()
            list(engine.evaluate(files, predict_category=True))
            back = not engine.backoff.events and engine.batch_size == batch
            table.add(
                "oom back-off",
                setting,
                "halved" if events else "no OOM (cap too high)",
                f"events {events[:4]}{'...' if len(events) > 4 else ''}; all scored: "
                f"{all(r.ok for r in results)}; scores equal: {equal}; next batch at {batch} again: {back}",
            )

        guarded(table, "oom back-off", deadline, 30)(oom)

        def lora_step():
            from peft import LoraConfig, get_peft_model

            micro = 8 if not args.smoke else 2
            rank = 128 if not args.smoke else 4
            model = engine.loaded.model
            # peft reads transformers' deprecated `is_gradient_checkpointing` itself (as in finetune.py).
            warnings.filterwarnings("ignore", r"`is_gradient_checkpointing` is deprecated", FutureWarning)
            peft = get_peft_model(
                model,
                LoraConfig(
                    r=rank, lora_alpha=2 * rank, target_modules=forward.LORA_TARGETS, lora_dropout=0.05, bias="none"
                ),
            )
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            model.train()
            optimizer = torch.optim.AdamW([p for p in peft.parameters() if p.requires_grad], lr=2e-5)
            pixels = torch.randn(micro, 3, 448, 448)
            targets = engine.score_token_ids[:micro]
            times = []
            for _ in range(2):  # the first step warms kernels and the allocator
                device.sync()
                device.reset_peak()
                t = time.perf_counter()
                forward.score_loss(model, pixels, engine.score_prompt_ids, targets).backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                device.sync()
                times.append(time.perf_counter() - t)
            trainable = sum(p.numel() for p in peft.parameters() if p.requires_grad)
            model.eval()
            table.add(
                "LoRA step",
                f"rank {rank}, micro-batch {micro}",
                f"{1000 * times[-1]:.0f} ms/step",
                f"peak {device.peak_gib():.1f} GiB; {trainable / 1e6:.1f}M trainable; gradient checkpointing",
            )

        guarded(table, "LoRA step", deadline, 30)(lora_step)
        engine = None
        state.pop("engine", None)
        device.free()

        def quantised(mode: str):
            import json

            from artimuse_core.convert import native_config
            from artimuse_core.loading import quantization_skip_modules

            tokenizer_config = json.loads((state["ckpt"] / "tokenizer_config.json").read_text())
            image_id = next(
                int(k) for k, v in tokenizer_config["added_tokens_decoder"].items() if v["content"] == "<IMG_CONTEXT>"
            )
            chat = json.loads((state["ckpt"] / "config.json").read_text())
            skip = quantization_skip_modules(native_config(chat, image_id))
            if not bitsandbytes_available() or not device.cuda:
                why = "no bitsandbytes" if not bitsandbytes_available() else "needs CUDA"
                table.add(f"{mode} load", "", f"skipped: {why}", f"skip list checked against the model: {skip}")
                return
            device.free()
            device.reset_peak()
            t = time.perf_counter()
            q = create_engine(state["ckpt"], device="cuda", dtype="bfloat16", quantize=mode, attn="sdpa", batch_size=8)
            load_s = time.perf_counter() - t
            kinds = {type(m).__name__ for n, m in q.loaded.model.named_modules() if n.startswith("model.vision_tower")}
            quantised_vision = sorted(k for k in kinds if "8bit" in k or "4bit" in k)
            t = time.perf_counter()
            results = list(q.evaluate(paths[:16], predict_category=True))
            device.sync()
            rate = 16 / (time.perf_counter() - t)
            table.add(
                f"{mode} load",
                f"skip {', '.join(skip)}",
                f"{rate:.1f} images/s",
                f"load {load_s:.0f} s; peak {device.peak_gib():.1f} GiB; "
                f"all scored {all(r.ok for r in results)}; "
                f"quantised vision modules: {quantised_vision or 'none'}",
            )
            del q
            device.free()

        for mode in ("8bit", "4bit"):
            guarded(table, f"{mode} load", deadline, 40)(lambda m=mode: quantised(m))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
