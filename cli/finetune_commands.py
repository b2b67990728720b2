"""`artimuse finetune` and `artimuse adapters`: LoRA fine-tuning on the user's ratings."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click
from tqdm import tqdm

from .main import build_engine, cli, friendly_errors
from .output import emit_json, table


@cli.command()
@click.option("--from-db", is_flag=True, required=True, help="Train on the ratings in the library (required).")
@click.option("--name", default="my-taste", show_default=True, help="Name of the adapter to create.")
@click.option("--category", "-c", help="Only ratings of images in this category.")
@click.option("--folder", type=click.Path(file_okay=False), help="Only ratings of images under this folder.")
@click.option("--min-ratings", default=20, show_default=True, type=click.IntRange(4),
              help="Refuse to train with fewer usable ratings than this.")
@click.option("--epochs", default=2, show_default=True, type=click.IntRange(1))
@click.option("--rank", default=128, show_default=True, type=click.IntRange(1), help="LoRA rank (alpha = 2 x rank).")
@click.option("--lr", default=2e-5, show_default=True, type=float, help="Peak learning rate (cosine, 3%% warm-up).")
@click.option("--val-split", default=0.2, show_default=True, type=click.FloatRange(0.05, 0.5),
              help="Share of ratings held out (seeded) for validation.")
@click.option("--micro-batch", default=4, show_default=True, type=click.IntRange(1), help="Images per forward.")
@click.option("--grad-accum", default=4, show_default=True, type=click.IntRange(1),
              help="Micro-batches per optimiser step (effective batch = micro-batch x this).")
@click.option("--seed", default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue an interrupted run of --name from its last checkpoint.")
@click.option("--model", "-m", default="ArtiMuse", show_default=True, help="Base checkpoint.")
@click.option("--device", default="auto", show_default=True)
@click.option("--dtype", default="auto", show_default=True, type=click.Choice(["auto", "float32", "bfloat16", "float16"]))
@click.option("--quantize", default="none", show_default=True, type=click.Choice(["none", "8bit", "4bit"]),
              help="8/4-bit base weights (QLoRA, CUDA): fine-tune the 8B model on a 24 GB GPU.")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(1), help="For validation scoring.")
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
@click.pass_obj
def finetune(config, from_db, name, category, folder, min_ratings, epochs, rank, lr, val_split, micro_batch,
             grad_accum, seed, resume, model, device, dtype, quantize, batch_size, as_json):
    """Teach the model your taste: a LoRA adapter trained on your ratings (`artimuse rate`).

    Prints validation SRCC, PLCC and mean absolute error before and after training; saves a checkpoint each
    epoch; Ctrl-C saves progress (resume with --resume). Use the result with --adapter NAME.

    \b
    Examples:
      artimuse finetune --from-db --name portraits --category photography
      artimuse finetune --from-db --name portraits --resume
      artimuse score ~/Exports --adapter portraits
    """
    from artimuse_core.finetune import Callbacks, FinetuneSettings
    from artimuse_core.finetune import finetune as run_finetune
    from artimuse_core.library import Library

    library = Library(config=config)
    settings = FinetuneSettings(name=name, category=category, folder=folder, min_ratings=min_ratings,
                                epochs=epochs, rank=rank, lr=lr, val_split=val_split, seed=seed,
                                micro_batch=micro_batch, grad_accum=grad_accum, resume=resume)
    engine = build_engine(model, device, dtype, quantize, batch_size, 200_000_000, True, None, False)
    bar = tqdm(unit="step", desc="training", file=sys.stderr, disable=None)

    def on_step(step, total, loss):
        bar.total = total
        bar.n = step
        bar.set_postfix(loss=f"{loss:.3f}")
        bar.refresh()

    try:
        record = run_finetune(engine, library, settings,
                              Callbacks(on_step=on_step, on_message=lambda text: tqdm.write(text, file=sys.stderr)))
    finally:
        bar.close()
    if as_json:
        emit_json(record)
    else:
        click.echo(f"adapter {record['name']} saved in {record['path']}; use it with --adapter {record['name']}")


@cli.group()
def adapters():
    """Fine-tuned adapters: list, show, remove."""


@adapters.command("list")
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
@click.pass_obj
def adapters_list(config, as_json):
    from artimuse_core.library import Library

    rows = Library(config=config).adapters()
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        row["srcc"] = f"{row['metrics']['before']['srcc']:.3f} -> {row['metrics']['after']['srcc']:.3f}"
    click.echo(table(rows, ["name", "base_model", "train_size", "srcc", "created_at"]) if rows else "no adapters yet")


@adapters.command("show")
@click.argument("name")
@friendly_errors
@click.pass_obj
def adapters_show(config, name):
    from artimuse_core.library import Library

    row = Library(config=config).adapter(name)
    if row is None:
        raise click.ClickException(f"no adapter named {name!r}")
    emit_json(row)


@adapters.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask.")
@friendly_errors
@click.pass_obj
def adapters_remove(config, name, yes):
    from artimuse_core.library import Library

    library = Library(config=config)
    row = library.adapter(name)
    if row is None:
        raise click.ClickException(f"no adapter named {name!r}")
    if not yes:
        click.confirm(f"remove adapter {name} and its files in {row['path']}?", abort=True)
    library.remove_adapter(name)
    shutil.rmtree(Path(row["path"]), ignore_errors=True)
    click.echo(f"removed {name}")
