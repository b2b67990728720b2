"""`artimuse watch` and `artimuse status`: the CLI face of the watcher plugin."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from artimuse_core.categories import normalise_category
from artimuse_core.config import paths

from .main import ATTRIBUTES, build_engine, cli, engine_options, friendly_errors
from .output import emit_json


@cli.command()
@click.argument("folders", nargs=-1, type=click.Path(file_okay=False))
@click.option("--category", "-c", help="Category of everything watched (else per-folder config, else predicted).")
@click.option("--critique/--no-critique", default=False, show_default=True,
              help="Also write critiques (after the scores, never holding them back).")
@click.option("--attributes", "-a", multiple=True, help="Critique attributes (repeatable). Default: all eight.")
@click.option("--max-new-tokens", default=512, show_default=True, type=click.IntRange(1),
              help="Longest critique, in tokens.")
@click.option("--debounce", default=1.0, show_default=True, type=click.FloatRange(0.05),
              help="Seconds a file's size and mtime must stay unchanged before it is scored.")
@engine_options
@click.option("--json-logs", is_flag=True, help="One JSON object per log line (for log collectors).")
@click.option("--verbose", "-v", is_flag=True, help="Also log ignored files.")
@click.option("--print-service", is_flag=True, help="Print the login service file (systemd/launchd) and exit.")
@click.option("--install-service", is_flag=True, help="Install that service file and say how to start it.")
@friendly_errors
@click.pass_obj
def watch(config, folders, category, critique, attributes, max_new_tokens, debounce, model, device, dtype, quantize, batch_size,
          max_pixels, exif, background, jpeg_draft, adapter, json_logs, verbose, print_service, install_service):
    """Watch folders and score every new or changed image into the library.

    Folders come from the arguments, else from `[[folders]]` in the config. Files are scored once complete
    (size and mtime stable for --debounce seconds); temp files, .part/.crdownload downloads, hidden files
    and non-images are ignored. Moves keep history, deletions mark images missing. Ctrl-C (or SIGTERM)
    finishes the batch in progress and exits 0; a killed watcher resumes its unfinished jobs on restart.

    \b
    Examples:
      artimuse watch ~/Exports
      artimuse watch ~/Exports/ai --category aigc --critique -a composition
      artimuse watch --install-service            # start at login with the config's folders
    """
    from artimuse_core.library import Library
    from artimuse_core.prompts import resolve_attribute
    from artimuse_watcher import Watcher, WatcherSettings
    from artimuse_watcher.logs import setup
    from artimuse_watcher.service import service_file

    if print_service or install_service:
        args = [str(Path(f).expanduser().resolve()) for f in folders]
        args += ["--category", category] if category else []
        args += ["--critique"] if critique else []
        for a in attributes:
            args += ["--attributes", a]
        args += ["--adapter", adapter] if adapter else []
        target, text, start = service_file(args + ["--model", model])
        if print_service:
            click.echo(f"# {target}\n{text}")
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        click.echo(f"wrote {target}\nstart it now and at every login with:\n  {start}")
        return
    try:
        fixed = normalise_category(category) if category else None
        chosen = tuple(resolve_attribute(a) for a in attributes) or (tuple(ATTRIBUTES) if critique else ())
    except ValueError as exc:
        raise click.BadParameter(str(exc))
    if folders:
        watched = [(Path(f).expanduser().resolve(), None) for f in folders]
    else:
        watched = [(f.path, f.category) for f in config.folders]
    if not watched:
        raise click.UsageError("name folders to watch, or list them as [[folders]] in the config "
                               f"({paths().config_file})")
    setup(json_logs=json_logs, verbose=verbose)
    library = Library(config=config)
    settings = WatcherSettings(folders=watched, category=fixed, critique=chosen if critique else (),
                               max_new_tokens=max_new_tokens, debounce_s=debounce, batch_size=batch_size)
    watcher = Watcher(settings, library, lambda: build_engine(model, device, dtype, quantize, batch_size,
                                                              max_pixels, exif, background, jpeg_draft, adapter))
    sys.exit(watcher.run())


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
@click.pass_obj
def status(config, as_json):
    """Is a watcher running? On which folders, how many jobs wait, what it did last, how many errors."""
    from artimuse_core.library import Library
    from artimuse_watcher.daemon import read_status

    info = read_status(Library(config=config))
    if as_json:
        emit_json(info)
        return
    state = click.style("running", fg="green") + f" (pid {info['pid']})" if info["running"] else \
        click.style("not running", fg="yellow") + (" (stale status file: it was killed)" if info["stale_status_file"]
                                                    else "")
    click.echo(f"watcher: {state}")
    if info["folders"]:
        click.echo("folders: " + ", ".join(info["folders"]))
    queue = info["queue"]
    click.echo(f"queue: {queue.get('score', 0)} to score, {queue.get('critique', 0)} to critique")
    last = info["last_processed"]
    click.echo(f"last: {last['path']} ({last['status']}, {last['at']})" if last else "last: -")
    click.echo(f"errors: {info['errors']} (see `artimuse errors`)")
