"""Fine-tuning cost on a GPU: InternVL3-8B shapes with random weights, LoRA rank 128 on the language model,
micro-batch 8, the Token-As-Score loss; time per optimiser step and peak memory, in bf16 and with 4-bit
base weights (QLoRA, needs bitsandbytes). Random weights change nothing about time or memory.

    python bench/finetune_step.py [--batch 8] [--rank 128] [--steps 5] [--modes bf16,4bit]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rank", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--modes", default="bf16,4bit")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA GPU")
    from artimuse_core import create_engine
    from artimuse_core.finetune import FinetuneSettings, _lora_model, _loss
    from artimuse_core.synthetic import build_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        # Full-size checkpoint on disk once (random bf16 weights, ~16 GB): the loader path users run.
        checkpoint = build_checkpoint(Path(tmp) / "internvl3-8b-random", seed=0, vocab_size=151674,
                                      text_hidden=3584, text_layers=28, text_heads=28, kv_heads=4,
                                      text_intermediate=18944, vision_hidden=1024, vision_layers=24,
                                      vision_heads=16, vision_intermediate=4096, dtype=torch.bfloat16)
        for mode in args.modes.split(","):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            engine = create_engine(checkpoint, device="cuda", dtype="bfloat16",
                                   quantize="4bit" if mode == "4bit" else "none")
            model = _lora_model(engine, FinetuneSettings(name="bench", rank=args.rank))
            engine.loaded.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            engine.loaded.model.train()
            optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-5)
            pixels = torch.randn(args.batch, 3, 448, 448)
            targets = torch.tensor(engine.loaded.score_token_ids[:args.batch])
            times = []
            for step in range(args.steps + 1):
                torch.cuda.synchronize()
                start = time.perf_counter()
                _loss(engine, pixels, targets).backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                torch.cuda.synchronize()
                if step:  # the first step warms up kernels and allocators
                    times.append(time.perf_counter() - start)
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            print(f"{mode:>5}: {1000 * sum(times) / len(times):8.0f} ms/step (batch {args.batch}, rank {args.rank}, "
                  f"{trainable / 1e6:.0f}M trainable)  peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
            del engine, model, optimizer


if __name__ == "__main__":
    main()
