"""Throughput on the CPU: our engine against a faithful re-creation of the reference loop, same run, same files.

Scoring (what `artimuse score` does by default: the aesthetic score plus the category prediction). The
reference decodes one image at a time, runs one image per forward pass and materialises full-vocabulary
logits at every prompt position before reading the last one's score (or option-letter) logits; the
category question is a second full pass. Ours decodes in a thread pool, batches, runs the shared system +
image prefix once per image and only the question suffixes after it, and reads 101 (or 5) rows of lm_head
at the last position.

Critiques (8 attributes per image). The reference is the authors' `chat()` per attribute, one after
another: vision tower, full prompt with full-vocabulary logits at every position, then greedy tokens with a
KV cache and full logits per step (transformers 4.37 `generate`). Ours: one vision pass and one prefix per
image, the 8 question suffixes as one batch, greedy decoding of the 8 rows together. The texts must be equal.

UniPercept (`--only unipercept`): three scores per image (iaa, iqa, ista). The reference re-creation is the
`unipercept-reward` inferencer's `reward()`: per image, per dimension, one full forward (vision tower
included, as `model.score()` runs it) with full-vocabulary logits at every position, batch 1. Ours: one
vision pass and one system + image prefix per image, the three question suffixes on its KV cache, 101
lm_head rows at the last position, batched across images. The same checkpoint loads as family UniPercept.

A third critique side runs our own engine one prompt per call (no batching, no shared prefix, but
last-position logits only), to show what batching and the shared prefix add on their own.

Both sides use one seeded mid-size checkpoint with the real vocabulary (151,674), so the logits cost is
real, and each runs in its own process (its peak memory is its own). Torch threads are set as the product
sets them (`artimuse_core.resources.plan_threads`) on both sides; `--reference-threads N` gives the
reference another count (e.g. all cores, as the authors' script would get by default).

    python bench/score_throughput.py                       # both comparisons, prints ratios
    python bench/score_throughput.py --only score --images 32
    python bench/score_throughput.py --only unipercept --images 16
    python bench/score_throughput.py --only critique --critique-images 1 --repeats 3   # best of 3 per side

Each side prints its wall and CPU seconds (the best of ``--repeats``); the score comparison also prints the
engine's achieved GFLOP/s (``gpu_suite.flops_per_image`` x images/s) beside a bare fp32 matmul of the
prompt's shape and of the 8B prompt's on every core, measured right after, with the load average.
GPU figures: bench/gpu_suite.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the project, without installing it
REAL_TOKENIZER = REPO.parent / "shared" / "conformance" / "tiny-artimuse"
VOCAB = 151674


def make_checkpoint(folder: Path) -> Path:
    from artimuse_core.synthetic import build_checkpoint

    tokenizer = REAL_TOKENIZER if (REAL_TOKENIZER / "vocab.json").is_file() else None
    return build_checkpoint(
        folder / "mid",
        seed=7,
        vocab_size=VOCAB,
        text_hidden=256,
        text_layers=4,
        text_heads=8,
        kv_heads=2,
        text_intermediate=1024,
        vision_hidden=64,
        vision_layers=2,
        vision_heads=2,
        vision_intermediate=256,
        tokenizer_from=tokenizer,
    )


def make_jpegs(folder: Path, count: int = 64) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    sizes = [(640, 480), (1920, 1080), (3000, 2000), (800, 1200), (1024, 1024), (448, 448), (4000, 3000), (320, 240)]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        w, h = sizes[i % len(sizes)]
        small = rng.integers(0, 255, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR)
        path = folder / f"b{i:02d}_{w}x{h}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------------ the reference side
def _reference_pixels(path: Path):
    """eval_dataset.load_image: PIL RGB, 448x448 bicubic squash, /255, ImageNet normalisation, one tile."""
    import torch
    from PIL import Image

    image = Image.open(path).convert("RGB").resize((448, 448), Image.BICUBIC)
    pixels = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float().div(255)
    mean = torch.tensor((0.485, 0.456, 0.406)).view(3, 1, 1)
    std = torch.tensor((0.229, 0.224, 0.225)).view(3, 1, 1)
    return ((pixels - mean) / std)[None]


def reference_scores(engine, paths: list[Path]) -> list[tuple[float, str]]:
    """One image per forward, full logits at every position, a second full pass for the category."""
    import torch

    from artimuse_core.categories import CATEGORY_IDS

    model = engine.loaded.model
    score_ids, category_ids = engine.score_prompt_ids[None], engine.prompts.full("category")[None]
    score_rows, letter_rows = torch.tensor(engine.loaded.score_token_ids), engine.category_token_ids
    out = []
    for path in paths:
        pixels = _reference_pixels(path)
        with torch.no_grad():
            logits = model(input_ids=score_ids, pixel_values=pixels).logits  # (1, 510, 151674)
            probs = logits[0, -1, score_rows].softmax(-1)
            letters = model(input_ids=category_ids, pixel_values=pixels).logits[0, -1, letter_rows]
        out.append((float((probs * torch.arange(101)).sum()), CATEGORY_IDS[int(letters.argmax())]))
    return out


def reference_unipercept(engine, paths: list[Path]) -> list[list[float]]:
    """``reward()`` of unipercept-reward 1.0.3: per image, ``model.score()`` for each dimension in turn: a
    whole forward (vision included) with full logits, softmax over the 101 score tokens at the last position."""
    import torch

    model, rows = engine.loaded.model, torch.tensor(engine.loaded.score_token_ids)
    out = []
    for path in paths:
        pixels = _reference_pixels(path)
        scores = []
        for ids in engine.dimension_prompt_ids.values():
            with torch.no_grad():
                logits = model(input_ids=ids[None], pixel_values=pixels).logits  # (1, ~501, 151674)
                probs = logits[0, -1, rows].softmax(-1)
            scores.append(float((probs * torch.arange(101)).sum()))
        out.append(scores)
    return out


def reference_critiques(engine, paths: list[Path], attributes, max_new_tokens: int) -> list[list[int]]:
    """The authors' chat() per (image, attribute), one after another, as transformers 4.37 generates."""
    import torch

    model, loaded = engine.loaded.model, engine.loaded
    lm, head = model.model.language_model, model.lm_head
    results = []
    for path in paths:
        pixels = _reference_pixels(path)
        for attribute in attributes:
            ids = engine.prompts.full(f"critique:{attribute}")[None]
            with torch.no_grad():
                features = model.model.get_image_features(pixel_values=pixels).pooler_output
                embeds = model.get_input_embeddings()(ids)
                embeds[ids == loaded.image_token_id] = features.reshape(-1, features.shape[-1])
                out = lm(inputs_embeds=embeds, use_cache=True)
                logits, cache, tokens = head(out.last_hidden_state), out.cache, []  # full logits, all positions
                position = ids.shape[1]
                for _ in range(max_new_tokens):
                    token = int(logits[0, -1].argmax())
                    if token == loaded.eos_token_id:
                        break
                    tokens.append(token)
                    out = lm(
                        inputs_embeds=model.get_input_embeddings()(torch.tensor([[token]])),
                        cache=cache,
                        position_ids=torch.tensor([[position]]),
                        use_cache=True,
                    )
                    logits, cache, position = head(out.last_hidden_state), out.cache, position + 1
            results.append(tokens)
    return results


# ------------------------------------------------------------------------------------------ the machine's limit
def bare_matmul_rate(shapes: list[tuple[int, int, int]], seconds: float = 2.0) -> list[float]:
    """GFLOP/s of a bare fp32 ``(M, K) @ (K, N)`` per shape, on every core this process may use (the best of
    repeated runs for ``seconds``): what the machine's own BLAS gives for the prompt's matrix shapes."""
    import torch

    from artimuse_core.resources import available_cores

    before = torch.get_num_threads()
    torch.set_num_threads(available_cores()[0])
    rates = []
    try:
        for m, k, n in shapes:
            a, b = torch.randn(m, k), torch.randn(k, n)
            a @ b
            best, until = float("inf"), time.perf_counter() + seconds
            while time.perf_counter() < until:
                t = time.perf_counter()
                a @ b
                best = min(best, time.perf_counter() - t)
            rates.append(2 * m * k * n / best / 1e9)
    finally:
        torch.set_num_threads(before)
    return rates


# ------------------------------------------------------------------------------------------ child process
def child(args) -> None:
    import torch

    from artimuse_core import ATTRIBUTES
    from artimuse_core.engine import create_engine

    side, task = args.child.split("-")
    if side == "matmul":  # the shapes come as "M,K,N;M,K,N"
        shapes = [tuple(int(x) for x in each.split(",")) for each in args.shapes.split(";")]
        from artimuse_core.resources import available_cores

        print(json.dumps({"rates": bare_matmul_rate(shapes), "threads": available_cores()[0]}))
        return
    checkpoint, paths = Path(args.checkpoint), sorted(Path(args.image_dir).glob("*.jpg"))
    family = "unipercept" if task == "unipercept" else None
    engine = create_engine(checkpoint, batch_size=args.batch_size, family=family)  # loading is not timed
    if side == "reference":  # the reference loop runs in the main thread: set torch's count process-wide
        plan = engine.threads  # what the engine's model work gets now (turns: the cores others leave free)
        try:
            from artimuse_core.resources import cores_free

            free = cores_free(plan.cores) if getattr(plan, "turns", False) else plan.torch_threads
        except ImportError:  # an engine before turns (a baseline checkout)
            free = plan.torch_threads
        torch.set_num_threads(args.reference_threads or min(plan.torch_threads, free))
    attributes = list(ATTRIBUTES)
    if task == "unipercept":
        paths = paths[: args.images]
        if side == "reference":
            warm, work = (
                (lambda: reference_unipercept(engine, paths[:1])),
                (lambda: reference_unipercept(engine, paths)),
            )
        else:
            warm, work = (
                (lambda: engine.score(paths[:1])),
                (lambda: [list(r.scores.values()) for r in engine.score(paths)]),
            )
    elif task == "score":
        paths = paths[: args.images]
        if side == "reference":
            warm, work = (lambda: reference_scores(engine, paths[:1])), (lambda: reference_scores(engine, paths))
        else:
            warm = lambda: engine.score(paths[:1], predict_category=True)  # noqa: E731
            work = lambda: [(r.score, r.category) for r in engine.score(paths, predict_category=True)]  # noqa: E731
    else:
        paths, new = paths[: args.critique_images], args.max_new_tokens
        if side == "reference":
            warm = lambda: reference_critiques(engine, paths[:1], attributes[:1], 2)  # noqa: E731
            work = lambda: reference_critiques(engine, paths, attributes, new)  # noqa: E731
        elif side == "sequential":  # our engine, one prompt per call: no batching, no prefix sharing
            warm = lambda: engine.critique(paths[:1], attributes[:1], max_new_tokens=2)  # noqa: E731
            work = lambda: [  # noqa: E731
                engine.critique([p], [a], max_new_tokens=new)[0].token_ids for p in paths for a in attributes
            ]
        else:
            warm = lambda: engine.critique(paths[:1], attributes[:1], max_new_tokens=2)  # noqa: E731
            work = lambda: [r.token_ids for r in engine.critique(paths, attributes, max_new_tokens=new)]  # noqa: E731
    warm()
    elapsed = cpu = float("inf")
    for _ in range(max(1, args.repeats)):  # the best of the repeats: the least disturbed by other processes
        start, cpu_start = time.perf_counter(), sum(os.times()[:2])
        answers = work()
        elapsed = min(elapsed, time.perf_counter() - start)
        cpu = min(cpu, sum(os.times()[:2]) - cpu_start)
    threads = engine.threads.describe() if side != "reference" else f"{torch.get_num_threads()} torch thread(s)"
    from bench.gpu_suite import flops_per_image

    text = engine.loaded.model.config.text_config
    print(
        json.dumps(
            {
                "answers": answers,
                "seconds": elapsed,
                "cpu_seconds": cpu,
                "threads": threads,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "flops_per_image": flops_per_image(engine, with_category=True),
                "model_shape": [len(engine.score_prompt_ids), text.hidden_size, text.intermediate_size],
            }
        )
    )


def _run_side(args, side: str, checkpoint: Path, image_dir: Path, shapes: str = "") -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        side,
        "--shapes",
        shapes,
        "--checkpoint",
        str(checkpoint),
        "--image-dir",
        str(image_dir),
        "--batch-size",
        str(args.batch_size),
        "--images",
        str(args.images),
        "--critique-images",
        str(args.critique_images),
        "--max-new-tokens",
        str(args.max_new_tokens),
        "--reference-threads",
        str(args.reference_threads or 0),
        "--repeats",
        str(args.repeats),
    ]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{side} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine_limit(args, engine: dict, checkpoint: Path, image_dir: Path) -> None:
    """The engine's achieved GFLOP/s (the FLOPs it counts per image x images/s) against a bare matmul on every
    core, measured right after it: the prompt's own shape (batch x prompt tokens, hidden -> MLP width) and
    the 8B prompt's (510 x 2048 @ 2048 x 6144, as bench/first_run_figures.py reported)."""
    tokens, hidden, inter = engine["model_shape"]
    shapes = [(args.batch_size * tokens, hidden, inter), (510, 2048, 6144)]
    bare = _run_side(args, "matmul-score", checkpoint, image_dir, ";".join(",".join(map(str, s)) for s in shapes))
    achieved = engine["flops_per_image"] * args.images / engine["seconds"] / 1e9
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"  score+category engine: {achieved:.1f} GFLOP/s ({engine['flops_per_image'] / 1e9:.2f} GFLOP/image) = "
        f"{100 * achieved / bare['rates'][0]:.0f} % of a bare {shapes[0][0]}x{hidden} @ {hidden}x{inter} matmul "
        f"({bare['rates'][0]:.1f} GFLOP/s), {100 * achieved / bare['rates'][1]:.0f} % of 510x2048 @ 2048x6144 "
        f"({bare['rates'][1]:.1f} GFLOP/s), both on {bare['threads']} torch thread(s); load average {load}",
        flush=True,
    )


def compare(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = make_checkpoint(tmp)
        make_jpegs(tmp / "images", max(args.images, args.critique_images))
        print(
            f"checkpoint: seeded mid-size, vocab {VOCAB}; JPEGs 320x240..4000x3000; {os.cpu_count()} CPUs; "
            f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
            flush=True,
        )
        if args.only in (None, "score"):
            r = {side: _run_side(args, f"{side}-score", checkpoint, tmp / "images") for side in ("reference", "engine")}
            for side in r:
                print(
                    f"  score+category {side:>9}: {args.images / r[side]['seconds']:7.2f} images/s  "
                    f"{1000 * r[side]['seconds'] / args.images:8.1f} ms/image  cpu {r[side]['cpu_seconds']:.1f} s  "
                    f"peak RSS "
                    f"{r[side]['peak_rss_mb']:.0f} MB  [{r[side]['threads']}]",
                    flush=True,
                )
            diff = max(abs(a[0] - b[0]) for a, b in zip(r["reference"]["answers"], r["engine"]["answers"]))
            same = sum(a[1] == b[1] for a, b in zip(r["reference"]["answers"], r["engine"]["answers"]))
            print(
                f"  score+category ratio: {r['reference']['seconds'] / r['engine']['seconds']:.1f}x the reference "
                f"(batch {args.batch_size}); max score difference {diff:.2e}; categories equal "
                f"{same}/{args.images}",
                flush=True,
            )
            machine_limit(args, r["engine"], checkpoint, tmp / "images")
        if args.only in (None, "unipercept"):
            r = {s: _run_side(args, f"{s}-unipercept", checkpoint, tmp / "images") for s in ("reference", "engine")}
            for side in r:
                print(
                    f"  UniPercept 3 dims {side:>9}: {args.images / r[side]['seconds']:7.2f} images/s  "
                    f"{1000 * r[side]['seconds'] / args.images:8.1f} ms/image  cpu {r[side]['cpu_seconds']:.1f} s  "
                    f"peak RSS "
                    f"{r[side]['peak_rss_mb']:.0f} MB  [{r[side]['threads']}]",
                    flush=True,
                )
            pairs = zip(r["reference"]["answers"], r["engine"]["answers"])
            diff = max(abs(x - y) for a, b in pairs for x, y in zip(a, b))
            print(
                f"  UniPercept ratio: {r['reference']['seconds'] / r['engine']['seconds']:.1f}x the reference "
                f"inferencer (batch {args.batch_size}); max score difference over 3 dimensions {diff:.2e}",
                flush=True,
            )
        if args.only in (None, "critique"):
            r = {
                side: _run_side(args, f"{side}-critique", checkpoint, tmp / "images")
                for side in ("reference", "sequential", "engine")
            }
            tokens = sum(len(t) for t in r["reference"]["answers"])
            for side in r:
                print(
                    f"  critiques     {side:>10}: {tokens / r[side]['seconds']:7.1f} tokens/s  "
                    f"{r[side]['seconds']:7.2f} s (cpu {r[side]['cpu_seconds']:.1f} s) for "
                    f"{args.critique_images} images x 8 attributes, up to "
                    f"{args.max_new_tokens} tokens  [{r[side]['threads']}]",
                    flush=True,
                )
            same = r["reference"]["answers"] == r["engine"]["answers"] == r["sequential"]["answers"]
            print(
                f"  critiques ratio: {r['reference']['seconds'] / r['engine']['seconds']:.1f}x the sequential "
                f"reference loop, {r['sequential']['seconds'] / r['engine']['seconds']:.1f}x our engine one prompt "
                f"per call; token ids identical: {same} ({tokens} tokens)",
                flush=True,
            )
        print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default=32, type=int, help="JPEGs to score")
    parser.add_argument("--critique-images", default=2, type=int, help="images to critique (8 attributes each)")
    parser.add_argument("--max-new-tokens", default=24, type=int, help="tokens per critique")
    parser.add_argument("--batch-size", default=8, type=int)
    parser.add_argument("--repeats", default=1, type=int, help="timed runs per side; the best one counts")
    parser.add_argument("--only", choices=("score", "unipercept", "critique"))
    parser.add_argument(
        "--reference-threads",
        type=int,
        default=None,
        help="torch threads for the reference side (default: the product's choice)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--shapes", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--image-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
