"""`artimuse watch` and `artimuse status`: the CLI face of the watcher plugin."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from artimuse_core import home_paths

from .context import app
from .options import check_xmp, engine_options, flag, json_option, xmp_options
from .output import emit_json, printable, styled

if TYPE_CHECKING:
    from artimuse_core import ScoreResult


@click.command()
@click.argument("folders", nargs=-1, type=click.Path(file_okay=False))
@click.option("--category", "-c", help="Category of everything watched (else per-folder config, else predicted).")
@click.option(
    "--critique/--no-critique",
    default=False,
    show_default=True,
    help="Also write critiques (after the scores, never holding them back).",
)
@click.option("--attributes", "-a", multiple=True, help="Critique attributes (repeatable). Default: all eight.")
@click.option(
    "--debounce",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05),
    help="Seconds a file's size and mtime must stay unchanged before it is scored.",
)
@click.option(
    "--poll",
    is_flag=True,
    help="Poll the folders for changes instead of using inotify: for network shares (SMB/NFS, where "
    "inotify sees nothing written by other machines). Folders inotify cannot watch (its limit reached) are "
    "polled anyway.",
)
@engine_options()
@click.option(
    "--xmp",
    "write_xmp",
    is_flag=True,
    help="Also write each new score into the image's XMP sidecar (settings as for `artimuse xmp write`).",
)
@xmp_options
@click.option("--json-logs", is_flag=True, help="One JSON object per log line (for log collectors).")
@click.option("--verbose", "-v", is_flag=True, help="Also log ignored files.")
@click.option("--print-service", is_flag=True, help="Print the login service file (systemd/launchd) and exit.")
@click.option("--install-service", is_flag=True, help="Install that service file and say how to start it.")
def watch(
    folders: tuple[str, ...],
    category: str | None,
    critique: bool,
    attributes: tuple[str, ...],
    debounce: float,
    poll: bool,
    write_xmp: bool,
    json_logs: bool,
    verbose: bool,
    print_service: bool,
    install_service: bool,
) -> None:
    """Watch folders and score every new or changed image into the library.

    Folders come from the arguments, else from `[[folders]]` in the config. Files are scored once complete
    (size and mtime stable for --debounce seconds); temp files, .part/.crdownload downloads, hidden files
    and non-images are ignored. Moves keep history, deletions mark images missing. Ctrl-C (or SIGTERM)
    stops within a token of a critique (a batch of scores finishes) and exits 0; a killed watcher resumes
    its unfinished jobs on restart. One watcher per library: a second one exits 1 naming the first. A job
    that keeps failing is retried alone 3 times, then recorded in `artimuse errors`. Network shares
    (SMB/NFS) need --poll.

    \b
    Examples:
      artimuse watch ~/Exports
      artimuse watch ~/Exports/ai --category aigc --critique -a composition
      artimuse watch /mnt/nas/photos --poll       # a network share
      artimuse watch --install-service            # start at login with the config's folders
    """
    from artimuse_core import ATTRIBUTES, normalise_category, resolve_attribute

    context = app()
    config = context.settings
    if print_service or install_service:
        _service(folders, category, critique, attributes, poll, config.sources, print_service, write_xmp)
        return
    fixed = normalise_category(category) if category else None
    chosen = tuple(resolve_attribute(a) for a in attributes) or (tuple(ATTRIBUTES) if critique else ())
    if folders:
        watched: list[tuple[Path, str | None]] = [(Path(f).expanduser().resolve(), None) for f in folders]
    else:
        watched = [(f.path, f.category) for f in config.folders]
    if not watched:
        raise click.UsageError(
            f"name folders to watch, or list them as [[folders]] in the config ({home_paths().config_file})"
        )
    from artimuse_watcher import Watcher, WatcherSettings
    from artimuse_watcher.logs import setup

    setup(json_logs=json_logs, verbose=verbose)
    after_scoring = None
    if write_xmp:
        from artimuse_core.xmp import write_after_scoring
        from artimuse_watcher.logs import LOGGER

        check_xmp(config)

        def after_scoring(results: list[ScoreResult]) -> None:
            write_after_scoring(watcher.library, results, config, LOGGER.warning)

    settings = WatcherSettings(
        folders=watched,
        category=fixed,
        critique=chosen if critique else (),
        max_new_tokens=config.spec.max_new_tokens,
        debounce_s=debounce,
        batch_size=config.spec.batch_size,
        poll=poll,
        after_scoring=after_scoring,
    )
    # The watcher opens the library itself: a full disk at start is waited for, not an exit.
    watcher = Watcher(settings, context.library, lambda: context.engine(config.spec))
    sys.exit(watcher.run())


def _service(
    folders: tuple[str, ...],
    category: str | None,
    critique: bool,
    attributes: tuple[str, ...],
    poll: bool,
    sources: Any,
    print_only: bool,
    write_xmp: bool = False,
) -> None:
    """The login service runs this same command; settings given here (options, ARTIMUSE_* variables) are
    written into it as options, those of the config file are read by the service itself."""
    from artimuse_watcher.service import service_file

    config = app().settings
    args = [str(Path(f).expanduser().resolve()) for f in folders]
    args += ["--category", category] if category else []
    args += ["--critique"] if critique else []
    args += ["--poll"] if poll else []
    for a in attributes:
        args += ["--attributes", a]
    args += ["--xmp"] if write_xmp else []
    for name, value in [*config.spec.to_dict().items(), *config.xmp.items()]:
        if sources.get(name) not in ("argument", "environment"):
            continue  # from the config file or a default: the service reads the config itself
        if isinstance(value, bool):
            args.append(flag(name) if value else "--no-" + flag(name)[2:])
        else:
            args += [flag(name), ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)]
    target, text, start = service_file(args)
    if print_only:
        click.echo(f"# {target}\n{text}")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    click.echo(f"wrote {target}\nstart it now and at every login with:\n  {start}")


@click.command()
@json_option
def status(as_json: bool) -> None:
    """Is a watcher running? On which folders, how many jobs wait, what it did last, how many errors.

    \b
    Example:
      artimuse status --json
    """
    from artimuse_core import LibraryError
    from artimuse_watcher.daemon import read_status

    try:
        library, problem = app().library(), None
    except LibraryError as exc:  # a full disk, a server that is down: the heartbeat still says what it knows
        library, problem = None, str(exc)
    info = read_status(library, library_error=problem)
    if as_json:
        emit_json(info)
        return
    colours = {"running": "green", "starting": "cyan", "waiting": "yellow", "stuck": "red", "failed": "red",
               "killed": "yellow"}  # fmt: skip
    state = styled(info["state"], fg=colours.get(info["state"], "yellow"))
    if info["pid"] and info["state"] in ("running", "starting", "waiting", "stuck"):
        state += f" (pid {info['pid']})"
    notes = {
        "starting": " (loading the model)",
        "stuck": " (alive, but a loop has not moved for over a minute)",
        "killed": " (stale status file: it was killed)",
    }
    state += notes.get(info["state"], "")
    if info["state"] in ("failed", "waiting"):
        state += f": {info.get('error')}"
    click.echo(f"watcher: {state}")
    for worker in info["workers"]:
        ages = ", ".join(f"{k} {v:.0f} s ago" for k, v in sorted(worker["beat_ages_s"].items()))
        polled = f"; polling {', '.join(worker['polling'])}" if worker["polling"] else ""
        click.echo(
            f"worker: pid {worker['pid']} on {worker['host']}, {worker['processed']} file(s); beats: {ages}{polled}"
        )
    if info["folders"]:
        click.echo("folders: " + ", ".join(printable(f) for f in info["folders"]))
    if info["library_error"]:
        click.echo(f"library: unavailable: {info['library_error']}")
        return
    queue = info["queue"]
    click.echo(f"queue: {queue.get('score', 0)} to score, {queue.get('critique', 0)} to critique")
    last = info["last_processed"]
    click.echo(f"last: {printable(last['path'])} ({last['status']}, {last['updated_at']})" if last else "last: -")
    click.echo(f"errors: {info['errors']} (see `artimuse errors`)")


COMMANDS = [watch, status]
