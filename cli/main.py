"""`artimuse`: score, critique, evaluate and inspect ArtiMuse models from the command line."""

from __future__ import annotations

import functools
import json
import os
import platform
import sys
from pathlib import Path

import click
from tqdm import tqdm

import artimuse_core
from artimuse_core import ArtiMuseError, ImageOptions
from artimuse_core.checkpoints import DEFAULT_MODEL, KNOWN_MODELS
from artimuse_core.config import load_config
from artimuse_core.files import collect_images, inside
from artimuse_core.images import DEFAULT_MAX_PIXELS
from artimuse_core.prompts import ATTRIBUTES, DEFAULT_MAX_NEW_TOKENS

from .output import FORMATS, emit_json, emit_rows


def engine_options(func):
    """The options every command that loads a model shares."""
    options = [
        click.option("--model", "-m", default=DEFAULT_MODEL, envvar="ARTIMUSE_MODEL", show_default=True,
                     help="Checkpoint folder, Hugging Face id or short name (see `artimuse models`)."),
        click.option("--device", default="auto", show_default=True, envvar="ARTIMUSE_DEVICE",
                     help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N or mps."),
        click.option("--dtype", default="auto", show_default=True,
                     type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
                     help="auto: bfloat16 on CUDA, float32 on CPU."),
        click.option("--quantize", default="none", show_default=True, type=click.Choice(["none", "8bit", "4bit"]),
                     help="Load the language model in 8 or 4 bits (CUDA + bitsandbytes) for 8-16 GB GPUs."),
        click.option("--batch-size", "-b", default=8, show_default=True, type=click.IntRange(1),
                     help="Images per forward pass; halved automatically on CUDA out-of-memory."),
        click.option("--max-pixels", default=DEFAULT_MAX_PIXELS, show_default=True, type=click.IntRange(1),
                     help="Refuse images larger than this many pixels (decompression-bomb guard)."),
        click.option("--exif/--no-exif", default=True, show_default=True,
                     help="Apply the EXIF orientation tag (the reference ignores it)."),
        click.option("--background", default=None, metavar="R,G,B",
                     help="Composite transparency on this colour instead of dropping alpha like the reference."),
        click.option("--jpeg-draft", is_flag=True,
                     help="Decode large JPEGs at a reduced scale (>= 448 px): faster, scores move slightly."),
        click.option("--adapter", default=None, help="A fine-tuned adapter (see `artimuse adapters list`)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _parse_background(text: str | None):
    if text is None:
        return None
    try:
        rgb = tuple(int(v) for v in text.split(","))
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise ValueError
        return rgb
    except ValueError:
        raise click.BadParameter("use three numbers 0-255, e.g. 255,255,255", param_hint="--background")


def build_engine(model, device, dtype, quantize, batch_size, max_pixels, exif, background, jpeg_draft,
                 adapter=None):
    image_options = ImageOptions(max_pixels=max_pixels, exif_transpose=exif,
                                 background=_parse_background(background), jpeg_draft=jpeg_draft)
    with _status(f"loading {model}"):
        return artimuse_core.create_engine(model, device=device, dtype=dtype, quantize=quantize,
                                           batch_size=batch_size, image_options=image_options, adapter=adapter)


class _status:
    """A one-line note on stderr while something slow happens (only on a terminal)."""

    def __init__(self, text: str):
        self.text = text
        self.tty = sys.stderr.isatty()

    def __enter__(self):
        if self.tty:
            click.echo(f"{self.text}…", err=True, nl=False)

    def __exit__(self, *exc):
        if self.tty:
            click.echo("\r\033[K", err=True, nl=False)


def friendly_errors(func):
    """ArtiMuse errors end the command with one clear line and exit code 2, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ArtiMuseError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


click.ClickException.exit_code = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(artimuse_core.__version__, prog_name="artimuse")
@click.pass_context
def cli(ctx):
    """ArtiMuse: expert aesthetic scores (0-100) and written critiques for images.

    \b
    Quick start:
      artimuse score photo.jpg                  score one image
      artimuse score ~/Exports --format jsonl   score a folder, one JSON object per image
      artimuse critique photo.jpg -a composition
      artimuse doctor                           check torch, GPU, cache and model

    Scores are the mean of the model's 101-way distribution over 0..100; `std` is its spread.
    Scores are kept in a local library (see `artimuse top`, `show`, `stats`); settings come from
    config.toml (`artimuse config path`), command-line options win.
    """
    try:
        config = load_config()
    except ArtiMuseError as exc:
        raise click.ClickException(str(exc)) from exc
    ctx.obj = config
    defaults = {"model": config.model, "device": config.device, "dtype": config.dtype,
                "quantize": config.quantize, "batch_size": config.batch_size}
    ctx.default_map = {name: dict(defaults) for name in ("score", "critique", "eval", "watch", "finetune")}


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@engine_options
@click.option("--category", "-c", help="Category of these images (photography, painting, aigc, 3d, graphic). "
              "Default: the config's folder setting, else what the library knows, else the model predicts it.")
@click.option("--save/--no-save", default=True, show_default=True, help="Record the scores in the library.")
@click.option("--force", is_flag=True, help="Score again even when this content was scored by this model.")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table for people; json, jsonl (one object per image) or csv for scripts.")
@click.option("--probs", is_flag=True, help="Include the 101 probabilities in json/jsonl output.")
@friendly_errors
@click.pass_obj
def score(config, paths, model, device, dtype, quantize, batch_size, max_pixels, exif, background, jpeg_draft,
          adapter, category, save, force, fmt, probs):
    """Score images: files, folders (walked recursively) or glob patterns.

    Results go into the library (`artimuse top`, `artimuse show`); a file whose content was already scored
    by the same model is not scored again (status `cached`) unless --force.

    Exit code 0 when every image scored, 1 when any failed (the failures are still listed, with their
    error, and recorded: `artimuse errors`), 2 when nothing could run (bad model, bad option).

    \b
    Examples:
      artimuse score a.jpg b.png
      artimuse score ~/Exports --category photography
      artimuse score 'shoots/**/*.jpg' --format csv > scores.csv
      artimuse score big.tif --max-pixels 400000000 --model ./ArtiMuse_AVA --no-save
    """
    from artimuse_core.categories import normalise_category
    from artimuse_core.library import Library
    from artimuse_core.library.ingest import score_into_library

    if category:
        try:
            category = normalise_category(category)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--category")
    collected = collect_images(list(paths))
    library = Library(config=config) if save else None
    engine = build_engine(model, device, dtype, quantize, batch_size, max_pixels, exif, background, jpeg_draft,
                          adapter)
    rows = []
    for path, kind, message in collected.problems:
        if library:
            library.record_error(path, kind, message)
        rows.append({"path": path, "status": "failed", "score": None, "std": None,
                     "model": engine.provenance.model, "error": message, "error_kind": kind})
    with tqdm(total=len(collected.files), unit="img", desc="scoring", file=sys.stderr, disable=None,
              leave=False) as bar:
        if save:
            for outcome in score_into_library(engine, library, collected.files, category=category, force=force,
                                              progress=bar.update):
                rows.append(outcome.to_dict(with_probs=probs))
        else:
            for result in engine.iter_scores(collected.files, progress=bar.update,
                                             predict_category=category is None):
                row = result.to_dict(with_probs=probs)
                row["status"] = "scored" if result.ok else "failed"
                if category:
                    row["category"] = category
                rows.append(row)
    columns = ["path", "score", "std", "category", "status", "error"]
    if fmt == "table":
        rows_for_table = [dict(r, error=r["error"] and r["error"].removeprefix(f"{r['path']}: ")) for r in rows]
        emit_rows(rows_for_table, fmt, columns)
    else:
        emit_rows(rows, fmt, columns + ["model"])
    failed = sum(1 for r in rows if r["error"])
    if failed:
        click.echo(f"{failed} of {len(rows)} image(s) failed", err=True)
        sys.exit(1)


CRITIQUE_HELP = """Written critiques of images, one per attribute, decoded greedily.

    Critiques (and the score) are recorded in the library unless --no-save.

    \b
    Attributes: """ + "; ".join(ATTRIBUTES) + """

    \b
    Examples:
      artimuse critique photo.jpg
      artimuse critique photo.jpg -a composition -a "technical" --format json
    """


@cli.command(help=CRITIQUE_HELP, short_help="Written critiques of images, one per attribute.")
@click.argument("paths", nargs=-1, required=True)
@click.option("--attribute", "-a", "attributes", multiple=True,
              help="Attribute to critique (repeatable; a unique prefix is enough). Default: all eight.")
@click.option("--max-new-tokens", default=DEFAULT_MAX_NEW_TOKENS, show_default=True, type=click.IntRange(1),
              help="Longest critique, in tokens.")
@engine_options
@click.option("--save/--no-save", default=True, show_default=True,
              help="Record the critiques (and the score) in the library.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json", "jsonl"]), default="text",
              show_default=True)
@friendly_errors
@click.pass_obj
def critique(config, paths, attributes, max_new_tokens, model, device, dtype, quantize, batch_size, max_pixels,
             exif, background, jpeg_draft, adapter, save, fmt):
    from artimuse_core.prompts import resolve_attribute

    try:
        chosen = [resolve_attribute(a) for a in attributes] or list(ATTRIBUTES)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--attribute")
    collected = collect_images(list(paths))
    engine = build_engine(model, device, dtype, quantize, batch_size, max_pixels, exif, background, jpeg_draft,
                          adapter)
    with tqdm(total=len(collected.files) * len(chosen), unit="critique", desc="critiquing", file=sys.stderr,
              disable=None, leave=False) as bar:
        if save:
            from artimuse_core.library import Library
            from artimuse_core.library.ingest import critique_into_library

            results = critique_into_library(engine, Library(config=config), collected.files, chosen,
                                            max_new_tokens, progress=bar.update)
        else:
            results = engine.critique(collected.files, chosen, max_new_tokens=max_new_tokens, progress=bar.update)
    rows = [{"path": p, "attribute": None, "text": None, "error": m, "error_kind": k}
            for p, k, m in collected.problems] + [r.to_dict() for r in results]
    if fmt == "text":
        current = None
        for row in rows:
            if row["path"] != current:
                current = row["path"]
                click.secho(f"\n{current}", bold=True)
            if row["error"]:
                click.secho(f"  error: {row['error']}", fg="red")
            else:
                click.secho(f"  {row['attribute']}", underline=True)
                click.echo("  " + row["text"].replace("\n", "\n  "))
    else:
        emit_rows(rows, fmt, ["path", "attribute", "text", "error"])
    if any(r["error"] for r in rows):
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models(as_json):
    """The published ArtiMuse checkpoints and whether each is in the local Hugging Face cache."""
    rows = []
    for known in KNOWN_MODELS.values():
        path = _cached_snapshot(known.repo_id)
        rows.append({"name": known.name, "repo_id": known.repo_id, "trained_on": known.trained_on,
                     "paper_srcc": known.paper_srcc_plcc[0], "paper_plcc": known.paper_srcc_plcc[1],
                     "available": path is not None, "path": path})
    if as_json:
        emit_json(rows)
    else:
        emit_rows([dict(r, available="yes" if r["available"] else "no") for r in rows], "table",
                  ["name", "repo_id", "trained_on", "paper_srcc", "available"])
        click.echo("\nGet one with: hf download Thunderbolt215215/ArtiMuse  (or pass --model /path/to/folder)")


def _cached_snapshot(repo_id: str) -> str | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(repo_id, local_files_only=True, allow_patterns=["config.json"])
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


@cli.command()
@click.option("--model", "-m", default=DEFAULT_MODEL, envvar="ARTIMUSE_MODEL", show_default=True,
              help="Checkpoint to look for.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor(model, as_json):
    """Check the installation: versions, device, optional GPU packages, cache paths, the checkpoint."""
    import PIL
    import torch
    import transformers
    from huggingface_hub.constants import HF_HUB_CACHE, HF_HUB_OFFLINE

    from artimuse_core.checkpoints import fingerprint, resolve_checkpoint
    from artimuse_core.devices import bitsandbytes_available, choose_placement, flash_attn_available

    report = {
        "artimuse": artimuse_core.__version__, "python": platform.python_version(), "torch": torch.__version__,
        "transformers": transformers.__version__, "pillow": PIL.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "flash_attn": flash_attn_available(), "bitsandbytes": bitsandbytes_available(),
        "auto_placement": choose_placement().describe(), "hf_cache": str(HF_HUB_CACHE),
        "hf_offline": bool(HF_HUB_OFFLINE), "model": model,
    }
    try:
        info = resolve_checkpoint(model, local_only=True)
        report.update(checkpoint_found=True, checkpoint_path=str(info.path), checkpoint_layout=info.layout,
                      checkpoint_fingerprint=fingerprint(info), checkpoint_problem=None)
    except ArtiMuseError as exc:
        report.update(checkpoint_found=False, checkpoint_path=None, checkpoint_problem=str(exc))
    if as_json:
        emit_json(report)
        return
    for key, value in report.items():
        if isinstance(value, bool):
            value = click.style("yes", fg="green") if value else click.style("no", fg="yellow")
        click.echo(f"{key:>24}: {value if value not in (None, []) else '-'}")


@cli.command("eval")
@click.argument("test_json", type=click.Path(exists=True, dir_okay=False))
@click.option("--images", "images_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder the 'image' entries are relative to.")
@engine_options
@click.option("--predictions", type=click.Path(dir_okay=False, writable=True),
              help="Also write every prediction as JSON lines here.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@friendly_errors
def evaluate(test_json, images_dir, model, device, dtype, quantize, batch_size, max_pixels, exif, background,
             jpeg_draft, adapter, predictions, as_json):
    """Benchmark a checkpoint on the authors' format: a JSON list of {"image": ..., "gt_score": ...}.

    Prints SRCC and PLCC between predictions and ground truth. Images that fail are reported and left
    out of the correlations; entries pointing outside --images are refused.
    """
    from artimuse_core.metrics import correlation_report

    try:
        entries = json.loads(Path(test_json).read_text(encoding="utf-8"))
        pairs = [(e["image"], float(e["gt_score"])) for e in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"{test_json}: expected a JSON list of {{\"image\", \"gt_score\"}} ({exc})")
    root = Path(images_dir)
    paths, refused = [], []
    for name, _ in pairs:
        path = root / name
        (paths if inside(path, root) else refused).append(path)
    if refused:
        raise click.ClickException(f"{refused[0]}: outside {root}; refusing to follow it")
    engine = build_engine(model, device, dtype, quantize, batch_size, max_pixels, exif, background, jpeg_draft,
                          adapter)
    with tqdm(total=len(paths), unit="img", desc="evaluating", file=sys.stderr, disable=None, leave=False) as bar:
        results = engine.score(paths, progress=bar.update)
    if predictions:
        with open(predictions, "w", encoding="utf-8") as handle:
            for (name, gt), result in zip(pairs, results):
                handle.write(json.dumps({"image": name, "gt_score": gt, **result.to_dict()}) + "\n")
    report = correlation_report([r.score for r in results], [gt for _, gt in pairs])
    report["model"] = engine.provenance.model
    report["errors"] = [r.error for r in results if r.error]
    if as_json:
        emit_json(report)
    else:
        click.echo(f"{report['model']}: SRCC {report['srcc']:.4f}  PLCC {report['plcc']:.4f}  "
                   f"on {report['n']} images ({report['failed']} failed)")
        for error in report["errors"]:
            click.echo(f"  error: {error}", err=True)
    if report["failed"]:
        sys.exit(1)


from . import (  # noqa: E402  (they register on `cli`)
    admin_commands, comfyui_commands, finetune_commands, library_commands, watch_commands,
)

__all__ = ["cli", "admin_commands", "comfyui_commands", "finetune_commands", "library_commands", "watch_commands"]


def main():  # pragma: no cover - console entry point (also `python -m artimuse_cli`)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    cli(prog_name="artimuse")
