"""Teach the model a user's taste: LoRA on the language model, trained on the library's ratings with the
Token-As-Score objective (cross-entropy of the first answer token against the rating's score token, over
the spec's score prompt), evaluated on a seeded held-out split before and after.

Defaults follow the paper's score fine-tuning: rank 128, alpha 2 x rank, learning rate 2e-5 with cosine
decay and 3% warm-up, 2 epochs, an effective batch built by gradient accumulation.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .adapters import METADATA_FILE, check_name, peft_quietly, remove_adapter_folder
from .config import home_paths
from .errors import FinetuneError
from .results import utc_timestamp

if TYPE_CHECKING:  # torch loads with the model, not with the plan (ratings are counted first)
    import torch

    from .engine import Engine


@dataclass
class FinetuneSettings:
    """The fine-tuning run: adapter name, which ratings (category, folder, ``rating_sources``: ``user``,
    ``xmp:lightroom``... or None for all; rejects are never used), and hyper-parameters (the paper's
    score fine-tuning by default: LoRA rank 128, alpha 2 x rank, lr 2e-5, cosine with 3% warm-up, 2 epochs,
    effective batch micro_batch x grad_accum = 16)."""

    name: str
    category: str | None = None
    folder: str | None = None
    rating_sources: tuple[str, ...] | None = None
    min_ratings: int = 20
    epochs: int = 2
    rank: int = 128
    alpha: int | None = None  # default 2 x rank
    lr: float = 2e-5
    warmup: float = 0.03
    val_split: float = 0.2
    seed: int = 0
    micro_batch: int = 4
    grad_accum: int = 4
    dropout: float = 0.05
    max_grad_norm: float = 1.0
    gradient_checkpointing: bool | None = None  # default: on CUDA
    resume: bool = False

    def __post_init__(self) -> None:
        from .adapters import check_name

        check_name(self.name)  # the name becomes a folder: never "..", "", "a/b"

    def hyperparameters(self) -> dict:
        """What is recorded with the adapter: every setting but its name and ``resume`` (alpha resolved)."""
        data = asdict(self)
        data["alpha"] = self.alpha or 2 * self.rank
        for key in ("name", "resume"):
            data.pop(key)
        return data


@dataclass
class Split:
    """Ratings ({"path", "score"} with score 0-100) for training and for validation (seeded)."""

    train: list[dict]
    val: list[dict]


@dataclass
class Plan:
    """What a run will do, decided before any model loads: its settings, its split and (when resuming)
    the saved trainer state."""

    settings: FinetuneSettings
    split: Split
    saved: dict | None = None


@dataclass
class Callbacks:
    """Progress hooks: ``on_step(step, total_steps, mean loss)`` after each optimiser step, ``on_message(text)``
    for one-line news (split sizes, metrics, checkpoints); ``checkpoints`` lists the folders saved."""

    on_step: Callable[[int, int, float], None] = lambda step, total, loss: None
    on_message: Callable[[str], None] = lambda text: None
    checkpoints: list[Path] = field(default_factory=list)


def score_token_for(rating: float) -> int:
    """The 0..100 score whose token is the target: the rating rounded to a whole score."""
    return int(min(100, max(0, round(rating))))


def build_split(ratings: list[dict], settings: FinetuneSettings) -> Split:
    """A seeded split of the ratings whose files still exist.

    Raises:
        FinetuneError: fewer usable ratings than ``min_ratings`` (or than validation needs).
    """
    usable = [r for r in ratings if Path(r["path"]).is_file()]
    val_size = max(2, round(len(usable) * settings.val_split))
    if len(usable) < settings.min_ratings or len(usable) - val_size < 2:
        raise FinetuneError(
            f"too few ratings to train and validate: {len(usable)} usable, need at least "
            f"{max(settings.min_ratings, val_size + 2)} (rate more images, or lower the "
            "min_ratings setting)"
        )
    shuffled = sorted(usable, key=lambda r: r["path"])
    random.Random(settings.seed).shuffle(shuffled)
    return Split(train=shuffled[val_size:], val=shuffled[:val_size])


def plan(library, settings: FinetuneSettings) -> Plan:
    """Read the ratings (or, with ``resume``, the interrupted run's state) and split them: everything that can
    refuse a run, checked before a model is loaded.

    Raises:
        FinetuneError: too few ratings, or nothing to resume.
    """
    state_file = _work_dir(settings.name) / "trainer_state.json"
    if settings.resume:
        if not state_file.is_file():
            raise FinetuneError(f"nothing to resume for {settings.name!r} ({state_file.parent} has no checkpoint)")
        saved = json.loads(state_file.read_text())
        return Plan(FinetuneSettings(**{**saved["settings"], "resume": True}), Split(**saved["split"]), saved)
    sources = tuple(settings.rating_sources) if settings.rating_sources else None
    chosen = library.ratings(category=settings.category, folder=settings.folder, sources=sources)
    ratings = [r.to_dict() for r in chosen]
    return Plan(settings, build_split(ratings, settings))


def _work_dir(name: str) -> Path:
    from .adapters import work_dir

    return work_dir(name)


def evaluate(engine: Engine, items: list[dict]) -> dict:
    """SRCC, PLCC and MAE of the engine's scores against the ratings (0-100) of ``items``."""
    from .metrics import correlation_report

    results = engine.score([r["path"] for r in items])
    return correlation_report([r.score for r in results], [r["score"] for r in items])


def _lora_model(engine: Engine, settings: FinetuneSettings):
    """LoRA on the language model's attention and MLP projections (``forward.LORA_TARGETS``), never on the
    vision tower's."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from .forward import LORA_TARGETS

    model = engine.loaded.model
    if engine.loaded.placement.quantize != "none":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha or 2 * settings.rank,
        lora_dropout=settings.dropout,
        target_modules=LORA_TARGETS,
        bias="none",
    )
    with peft_quietly():
        return get_peft_model(model, config)


def _loss(engine: Engine, pixels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The Token-As-Score loss over the engine's score prompt (``forward.score_loss``)."""
    from . import forward  # torch loads with the model, not with the plan

    return forward.score_loss(engine.loaded.model, pixels, engine.score_prompt_ids, targets)


def finetune(engine: Engine, library, settings: FinetuneSettings | Plan, callbacks: Callbacks = Callbacks()) -> dict:
    """Train, checkpoint each epoch, evaluate, save and register the adapter. Returns its record.

    ``settings`` may be a ``Plan`` already made (``plan``), as the CLI does to refuse a run before loading.

    Raises:
        FinetuneError: an engine with an adapter already, too few ratings, nothing to resume, or interrupted
            (progress saved; run again with the resume setting).
    """
    import numpy as np
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import get_cosine_schedule_with_warmup

    from .images import decode_many

    if engine.provenance.adapter:
        raise FinetuneError("fine-tune from the base model, not from a model with an adapter already applied")
    chosen = settings if isinstance(settings, Plan) else plan(library, settings)
    settings, split, saved = chosen.settings, chosen.split, chosen.saved or {}
    out_dir = home_paths().adapters_dir / check_name(settings.name)
    work_dir = _work_dir(settings.name)
    state_file = work_dir / "trainer_state.json"
    if not settings.resume:
        remove_adapter_folder(work_dir)
    torch.manual_seed(settings.seed)
    callbacks.on_message(f"{len(split.train)} training and {len(split.val)} validation ratings")
    before = saved["before"] if settings.resume else evaluate(engine, split.val)
    callbacks.on_message(_metrics_line("before", before))

    peft_model = _lora_model(engine, settings)
    use_checkpointing = settings.gradient_checkpointing
    if use_checkpointing is None:
        use_checkpointing = engine.device.type == "cuda"
    if use_checkpointing:
        # transformers 5.24's name (``gradient_checkpointing_enable`` is deprecated, removed in v6).
        engine.loaded.model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.lr, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(split.train) / (settings.micro_batch * settings.grad_accum))
    total_steps = steps_per_epoch * settings.epochs
    scheduler = get_cosine_schedule_with_warmup(optimizer, math.ceil(settings.warmup * total_steps), total_steps)
    start_epoch, start_micro, step = 0, 0, 0
    if settings.resume:
        set_peft_model_state_dict(peft_model, load_file(work_dir / "adapter" / "adapter_model.safetensors"))
        optimizer.load_state_dict(torch.load(work_dir / "optimizer.pt", weights_only=True))
        scheduler.load_state_dict(torch.load(work_dir / "scheduler.pt", weights_only=True))
        start_epoch, start_micro, step = saved["epoch"], saved["micro"], saved["step"]
        callbacks.on_message(f"resuming at epoch {start_epoch + 1}, step {step} of {total_steps}")

    def checkpoint(epoch: int, micro: int) -> None:
        peft_model.save_pretrained(work_dir / "adapter", safe_serialization=True, save_embedding_layers=False)
        torch.save(optimizer.state_dict(), work_dir / "optimizer.pt")
        torch.save(scheduler.state_dict(), work_dir / "scheduler.pt")
        state = {
            "epoch": epoch,
            "micro": micro,
            "step": step,
            "before": before,
            "split": {"train": split.train, "val": split.val},
            "settings": asdict(settings),
        }
        state_file.write_text(json.dumps(state))
        callbacks.checkpoints.append(work_dir)

    engine.loaded.model.train()
    epoch, applied = start_epoch, start_micro  # applied: micro-batches of this epoch already in a step
    try:
        for epoch in range(start_epoch, settings.epochs):
            order = list(split.train)
            random.Random(settings.seed * 1000 + epoch).shuffle(order)
            batches = [order[i : i + settings.micro_batch] for i in range(0, len(order), settings.micro_batch)]
            applied = start_micro if epoch == start_epoch else 0
            accumulated, losses = 0, []
            for micro in range(applied, len(batches)):
                batch = batches[micro]
                decoded = [d for d in decode_many([r["path"] for r in batch], engine.image_options)]
                good = [(d, r) for d, r in zip(decoded, batch) if not isinstance(d, Exception)]
                if not good:
                    continue
                pixels = torch.as_tensor(np.stack([d.pixel_values for d, _ in good]))
                targets = torch.tensor([score_token_for(r["score"]) for _, r in good])
                targets = torch.tensor(engine.loaded.score_token_ids)[targets]
                loss = _loss(engine, pixels, targets)
                (loss / settings.grad_accum).backward()
                losses.append(float(loss.detach()))
                accumulated += 1
                if accumulated == settings.grad_accum or micro == len(batches) - 1:
                    torch.nn.utils.clip_grad_norm_(trainable, settings.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    step += 1
                    accumulated, applied = 0, micro + 1
                    callbacks.on_step(step, total_steps, sum(losses) / len(losses))
                    losses = []
            work_dir.mkdir(parents=True, exist_ok=True)
            checkpoint(epoch + 1, 0)
            callbacks.on_message(f"epoch {epoch + 1}/{settings.epochs} done, checkpoint in {work_dir}")
    except KeyboardInterrupt:
        optimizer.zero_grad(set_to_none=True)  # a half-accumulated step is redone on resume
        work_dir.mkdir(parents=True, exist_ok=True)
        checkpoint(epoch, applied)
        raise FinetuneError(
            f"interrupted at step {step} of {total_steps}; progress saved in {work_dir}. "
            f"Continue it: the same name ({settings.name}) with the resume setting"
        ) from None
    finally:
        engine.loaded.model.eval()
        if use_checkpointing:
            engine.loaded.model.activation_checkpointing_disable()

    after = evaluate(engine, split.val)
    callbacks.on_message(_metrics_line("after", after))
    remove_adapter_folder(out_dir)  # only an adapter this code saved before is replaced
    peft_model.save_pretrained(out_dir, safe_serialization=True, save_embedding_layers=False)
    record = {
        "name": settings.name,
        "path": str(out_dir),
        "base_model": engine.provenance.model,
        "base_fingerprint": engine.provenance.fingerprint,
        "train_size": len(split.train),
        "val_size": len(split.val),
        "metrics": {"before": before, "after": after},
        "hyperparameters": settings.hyperparameters(),
    }
    (out_dir / METADATA_FILE).write_text(
        json.dumps({**record, "created_at": utc_timestamp(), "val_images": [r["path"] for r in split.val]}, indent=2)
    )
    library.register_adapter(**record)
    remove_adapter_folder(work_dir)
    return record


def _metrics_line(when: str, m: dict) -> str:
    return f"validation {when}: SRCC {m['srcc']:.3f}  PLCC {m['plcc']:.3f}  MAE {m['mae']:.2f}  (n={m['n']})"
