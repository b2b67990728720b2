"""`artimuse`: score, critique, rank, rate and fine-tune ArtiMuse models from the command line.

This module is the root group only: it loads the configuration, translates core errors (one place), keeps
third-party warnings out of the output unless ``--verbose``, and registers the command groups with
``add_command``. Command modules never import this one.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import click

import artimuse_core
from artimuse_core import ArtiMuseError

from . import (
    admin_commands,
    ask_commands,
    batch_commands,
    comfyui_commands,
    cull_commands,
    demo_commands,
    eval_commands,
    export_commands,
    finetune_commands,
    info_commands,
    library_commands,
    score_commands,
    stack_commands,
    watch_commands,
    web_commands,
    xmp_commands,
)
from .context import AppContext
from .options import translate

COMMAND_MODULES = (
    score_commands,
    eval_commands,
    ask_commands,
    info_commands,
    library_commands,
    cull_commands,
    stack_commands,
    export_commands,
    admin_commands,
    watch_commands,
    finetune_commands,
    comfyui_commands,
    xmp_commands,
    web_commands,
    batch_commands,
    demo_commands,
)


class ArtiMuseGroup(click.Group):
    """The root group: every command runs inside its one error translator and warning filter."""

    def invoke(self, ctx: click.Context) -> Any:
        with warnings.catch_warnings():  # the filter the root callback sets ends with the command
            try:
                return super().invoke(ctx)
            except ArtiMuseError as exc:
                raise translate(exc) from exc


@click.group(cls=ArtiMuseGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(artimuse_core.__version__, prog_name="artimuse", help="Print the version and exit.")
@click.option("--verbose", "-v", is_flag=True, help="Show third-party warnings too.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """ArtiMuse: expert aesthetic scores (0-100) and written critiques for images.

    \b
    Quick start:
      artimuse score photo.jpg                  score one image
      artimuse score ~/Exports --format jsonl   score a folder, one JSON object per image
      artimuse critique photo.jpg -a composition
      artimuse top --category photography      the best of your library
      artimuse doctor                           can the configured model run here? what to fix if not
      artimuse demo                             the whole product on tiny random weights (no download)

    Scores are the mean of the model's 101-way distribution over 0..100; `std` is its spread. Scores are
    kept in a local library (see `artimuse top`, `show`, `stats`). Settings come from config.toml
    (`artimuse config show` says which value came from where), then ARTIMUSE_<SETTING> environment
    variables; command-line options win.
    """
    from artimuse_core import load_config

    context = ctx.ensure_object(AppContext)
    context.verbose = verbose or context.verbose
    # Third-party warnings (a transformers FutureWarning...) are not the user's business unless asked for.
    warnings.simplefilter("default" if context.verbose else "ignore")
    if not context.verbose:
        ctx.call_on_close(quiet_library_loggers())
    if context.config is None:
        context.config = load_config()


#: Libraries that print through their own loggers (not ``warnings``): a deprecation note from transformers
#: during fine-tuning is not the user's business unless --verbose.
LIBRARY_LOGGERS = ("transformers", "peft", "huggingface_hub", "accelerate")


def quiet_library_loggers() -> Any:
    """Raise the libraries' loggers to ERROR for this command (``TRANSFORMERS_VERBOSITY`` too, for a
    transformers imported later, which sets its level from it); returns what puts them back."""
    import logging

    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in LIBRARY_LOGGERS]
    had_env = "TRANSFORMERS_VERBOSITY" in os.environ
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    for logger, _ in saved:
        logger.setLevel(logging.ERROR)

    def restore() -> None:
        for logger, level in saved:
            logger.setLevel(level)
        if not had_env:
            os.environ.pop("TRANSFORMERS_VERBOSITY", None)

    return restore


for module in COMMAND_MODULES:
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:  # pragma: no cover - console entry point (also `python -m artimuse_cli`)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Paths are printed through paths.display_path; should one slip through with undecodable bytes, it is
    # printed escaped rather than ending the command with a UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    cli(prog_name="artimuse")


__all__ = ["AppContext", "cli", "main"]
