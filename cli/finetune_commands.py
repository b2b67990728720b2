"""`artimuse finetune` and `artimuse adapters`: LoRA fine-tuning on the user's ratings."""

from __future__ import annotations

import sys

import click

from artimuse_core import remove_adapter_folder
from artimuse_core.finetune import FinetuneSettings

from .context import app
from .options import Failure, engine_options, json_option
from .output import emit_json, print_table

DEFAULTS = FinetuneSettings(name="my-taste")  # the run's defaults are declared once, on FinetuneSettings


@click.command()
@click.option("--from-db", is_flag=True, required=True, help="Train on the ratings in the library (required).")
@click.option("--name", default=DEFAULTS.name, show_default=True, help="Name of the adapter to create.")
@click.option("--category", "-c", help="Only ratings of images in this category.")
@click.option("--folder", type=click.Path(file_okay=False), help="Only ratings of images under this folder.")
@click.option(
    "--rating-source",
    "rating_source",
    multiple=True,
    help="Only ratings from these sources (repeatable or comma-separated): user (artimuse rate), xmp:lightroom, "
    "xmp:darktable, xmp:embedded, exif (artimuse ratings import), or xmp for every xmp:*. Default: all. "
    "Rejects are never trained on.",
)
@click.option(
    "--min-ratings",
    default=DEFAULTS.min_ratings,
    show_default=True,
    type=click.IntRange(4),
    help="Refuse to train with fewer usable ratings than this.",
)
@click.option(
    "--epochs", default=DEFAULTS.epochs, show_default=True, type=click.IntRange(1), help="Passes over the ratings."
)
@click.option(
    "--rank", default=DEFAULTS.rank, show_default=True, type=click.IntRange(1), help="LoRA rank (alpha = 2 x rank)."
)
@click.option(
    "--lr",
    default=DEFAULTS.lr,
    show_default=True,
    type=float,
    help=f"Peak learning rate (cosine, {DEFAULTS.warmup:.0%} warm-up).",
)
@click.option(
    "--val-split",
    default=DEFAULTS.val_split,
    show_default=True,
    type=click.FloatRange(0.05, 0.5),
    help="Share of ratings held out (seeded) for validation.",
)
@click.option(
    "--micro-batch", default=DEFAULTS.micro_batch, show_default=True, type=click.IntRange(1), help="Images per forward."
)
@click.option(
    "--grad-accum",
    default=DEFAULTS.grad_accum,
    show_default=True,
    type=click.IntRange(1),
    help="Micro-batches per optimiser step (effective batch = micro-batch x this).",
)
@click.option(
    "--seed", default=DEFAULTS.seed, show_default=True, help="Seed of the split, the shuffling and the LoRA weights."
)
@click.option("--resume", is_flag=True, help="Continue an interrupted run of --name from its last checkpoint.")
@engine_options(exclude=("max_new_tokens", "adapter"))
@json_option
def finetune(
    from_db: bool,
    name: str,
    category: str | None,
    folder: str | None,
    rating_source: tuple[str, ...],
    min_ratings: int,
    epochs: int,
    rank: int,
    lr: float,
    val_split: float,
    micro_batch: int,
    grad_accum: int,
    seed: int,
    resume: bool,
    as_json: bool,
) -> None:
    """Teach the model your taste: a LoRA adapter trained on your ratings (`artimuse rate`, or the stars of
    your photo manager: `artimuse ratings import`).

    Prints validation SRCC, PLCC and mean absolute error before and after training; saves a checkpoint each
    epoch; Ctrl-C saves progress (resume with --resume). Use the result with --adapter NAME. The ratings are
    counted before the model loads, so too few of them is said at once. --quantize 4bit|8bit fine-tunes
    quantised base weights (QLoRA, CUDA): the 8B model on a 24 GB GPU; --batch-size is for validation.

    \b
    Examples:
      artimuse finetune --from-db --name portraits --category photography
      artimuse finetune --from-db --name portraits --resume
      artimuse finetune --from-db --name lightroom-stars --rating-source xmp
      artimuse score ~/Exports --adapter portraits
    """
    from tqdm import tqdm

    from artimuse_core import Engine
    from artimuse_core.finetune import Callbacks, FinetuneSettings, plan
    from artimuse_core.finetune import finetune as run_finetune
    from artimuse_core.library import rating_sources

    context = app()
    library = context.library()
    settings = FinetuneSettings(
        name=name,
        category=category,
        folder=folder,
        rating_sources=rating_sources(rating_source) or None,
        min_ratings=min_ratings,
        epochs=epochs,
        rank=rank,
        lr=lr,
        val_split=val_split,
        seed=seed,
        micro_batch=micro_batch,
        grad_accum=grad_accum,
        resume=resume,
    )
    chosen = plan(library, settings)  # refuses (too few ratings, nothing to resume) before any model loads
    engine = context.engine()
    if not isinstance(engine, Engine):  # an injected stand-in (tests, hosts) has no weights to train
        raise Failure(f"fine-tuning trains a loaded model's weights; {type(engine).__name__} has none")
    bar = tqdm(unit="step", desc="training", file=sys.stderr, disable=None)

    def on_step(step: int, total: int, loss: float) -> None:
        bar.total = total
        bar.n = step
        bar.set_postfix(loss=f"{loss:.3f}")
        bar.refresh()

    try:
        record = run_finetune(
            engine,
            library,
            chosen,
            Callbacks(on_step=on_step, on_message=lambda text: tqdm.write(text, file=sys.stderr)),
        )
    finally:
        bar.close()
    if as_json:
        emit_json(record)
    else:
        click.echo(f"adapter {record['name']} saved in {record['path']}; use it with --adapter {record['name']}")


@click.group()
def adapters() -> None:
    """Fine-tuned adapters: list, show, remove.

    \b
    Examples:
      artimuse adapters list
      artimuse adapters show portraits
    """


@adapters.command("list")
@json_option
def adapters_list(as_json: bool) -> None:
    """Every adapter, oldest first, with its validation SRCC before and after training.

    \b
    Example:
      artimuse adapters list --json
    """
    records = app().library().adapters()
    if as_json:
        emit_json(records)
        return
    rows = [
        dict(r.to_dict(), srcc=f"{r.metrics['before']['srcc']:.3f} -> {r.metrics['after']['srcc']:.3f}")
        for r in records
    ]
    if rows:
        print_table(rows, ["name", "base_model", "train_size", "srcc", "created_at"])
    else:
        click.echo("no adapters yet")


@adapters.command("show")
@click.argument("name")
@json_option
def adapters_show(name: str, as_json: bool) -> None:
    """One adapter's record: base model, data sizes, metrics, hyper-parameters (always JSON).

    \b
    Example:
      artimuse adapters show portraits
    """
    record = app().library().adapter(name)
    if record is None:
        raise Failure(f"no adapter named {name!r}")
    emit_json(record)


@adapters.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask.")
@json_option
def adapters_remove(name: str, yes: bool, as_json: bool) -> None:
    """Remove an adapter: its record and its files.

    \b
    Example:
      artimuse adapters remove portraits --yes
    """
    library = app().library()
    record = library.adapter(name)
    if record is None:
        raise Failure(f"no adapter named {name!r}")
    if not yes:
        click.confirm(f"remove adapter {name} and its files in {record.path}?", abort=True)
    remove_adapter_folder(record.path)  # only a folder artimuse made inside the adapters folder
    library.remove_adapter(name)
    if as_json:
        emit_json({"removed": name, "path": record.path})
    else:
        click.echo(f"removed {name}")


COMMANDS = [finetune, adapters]
