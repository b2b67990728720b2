"""Web commands: `serve` (the local gallery) and `report` (one self-contained HTML file). Neither loads a
model; both need the ``web`` extra (Starlette, Jinja2, uvicorn), imported only when they run."""

from __future__ import annotations

import os
import webbrowser

import click

from artimuse_core import CATEGORIES

from .context import app
from .extras import thumbnails_folder, web
from .options import json_option
from .output import emit_json, printable, secho


@click.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback only unless --allow-remote)."
)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free port).")
@click.option(
    "--allow-remote", is_flag=True, help="Allow a --host other machines can reach (prints a warning: no login)."
)
@click.option("--open", "open_browser", is_flag=True, help="Open the gallery in the default browser.")
@json_option
def serve(host: str, port: int, allow_remote: bool, open_browser: bool, as_json: bool) -> None:
    """Browse, compare, cull and rate your library in the browser (a local web gallery).

    \b
    Keys: 1-5 rate, P pick (5 stars), X reject, arrows move, Enter open, C compare, / search.
    Ratings are stored as your own rating (what `finetune --from-db` learns from).
    New scores from the watcher appear without reloading. Stop with Ctrl+C.
    --json prints {"url": ...} once listening (for scripts).

    \b
    Examples:
      artimuse serve                      http://127.0.0.1:8765, this machine only
      artimuse serve --port 0 --open      any free port, opened in the default browser
    """
    module = web()
    from artimuse_web.server import check_host, free_port

    warning = check_host(host, allow_remote)
    if warning:
        secho(warning, err=True, fg="yellow")
    if port == 0:
        port = free_port(host)
    context = app()

    def started(url: str) -> None:
        if as_json:
            emit_json({"url": url, "host": host, "port": port})
        else:
            click.echo(f"ArtiMuse gallery on {url} (Ctrl+C to stop)")
        if open_browser:
            webbrowser.open(url)

    roots = tuple(folder.path for folder in context.settings.folders)
    module.serve(context.library(), host=host, port=port, thumbnails=thumbnails_folder(), roots=roots, started=started)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=str))
@click.option(
    "--output", "-o", required=True, type=click.Path(dir_okay=False, writable=True), help="The HTML file to write."
)
@click.option(
    "--query",
    "-q",
    "query_text",
    default="",
    help="The gallery's filters as in its URL: 'category=aigc&min_score=70&q=light'.",
)
@click.option("--category", "-c", help=f"Only this category ({', '.join(CATEGORIES)}).")
@click.option("--min-score", type=click.FloatRange(0, 100), help="Only scores at least this high (0-100).")
@click.option("--search", "-s", help="Only images whose critiques match (as `artimuse search`).")
@click.option(
    "--limit", "-n", default=100, show_default=True, type=click.IntRange(1, 10000), help="At most this many images."
)
@click.option("--title", default="ArtiMuse report", show_default=True, help="The report's title.")
@json_option
def report(
    paths: tuple[str, ...],
    output: str,
    query_text: str,
    category: str | None,
    min_score: float | None,
    search: str | None,
    limit: int,
    title: str,
    as_json: bool,
) -> None:
    """Write ONE self-contained HTML file of ranked images: thumbnails embedded, scores, distributions and
    critiques; it opens with no server and no network (send it to a client, keep it with a shoot).

    \b
    Examples:
    artimuse report ~/Shoots/2026-11-28 -o shoot.html      one folder, best first
    artimuse report a.jpg b.jpg c.jpg -o picks.html        these images
    artimuse report -c aigc --min-score 70 -o best.html    the library's best AIGC images
    """
    web()
    from urllib.parse import parse_qsl

    from artimuse_web.filters import GalleryQuery
    from artimuse_web.pictures import Renditions
    from artimuse_web.report import write_report

    params = dict(parse_qsl(query_text.lstrip("?")))
    params.update({k: str(v) for k, v in {"category": category, "min_score": min_score, "q": search}.items() if v})
    context = app()
    roots = tuple(folder.path for folder in context.settings.folders)
    with context.library() as library:
        summary = write_report(
            library,
            output,
            renditions=Renditions(thumbnails_folder(), roots),
            paths=paths,
            query=GalleryQuery.from_params(params),
            limit=limit,
            title=title,
        )
    if as_json:
        emit_json(summary.to_dict())
        return
    for problem in summary.problems:
        secho(f"note: {printable(problem)}", err=True, fg="yellow")
    size = summary.bytes / 1e6
    click.echo(f"{printable(os.fspath(summary.output))}: {summary.images} images, {size:.1f} MB, self-contained")


COMMANDS = [serve, report]
