"""``artimuse report``: one self-contained HTML file of a ranked selection (scores, distributions,
critiques, thumbnails embedded as data: URIs) that opens with no server and no network."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from artimuse_core import display_path
from artimuse_core.library import ImageFile

from .facts import FILTERS, image_view
from .filters import GalleryQuery
from .pictures import Renditions, Unservable, placeholder_svg

HERE = Path(__file__).parent


@dataclass
class ReportSummary:
    """What a report holds: its file, how many images, its size in bytes, and the problems (one line each:
    a path not in the library, a picture that could not be embedded)."""

    output: str
    images: int
    bytes: int
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON for ``--json``."""
        return {"output": self.output, "images": self.images, "bytes": self.bytes, "problems": self.problems}


def select_images(
    library: Any, paths: Iterable[str | os.PathLike[str]], query: GalleryQuery, limit: int, problems: list[str]
) -> list[int]:
    """Image ids for a report: the files and folders in ``paths`` (each folder ranked as the gallery ranks
    it, with ``query``'s filters), or, with no paths, the gallery's ranking for ``query``; at most ``limit``.
    Paths that are not in the library are added to ``problems``."""
    arguments = query.browse_arguments()
    ids: list[int] = []
    wanted = list(paths)
    for path in wanted:
        absolute = Path(path).expanduser().absolute()
        if absolute.is_dir():
            found = [i.image_id for i in _ranked(library, {**arguments, "folder": absolute}, limit)]
            ids += found
            if not found:
                problems.append(f"{display_path(absolute)}: no scored images in this folder match")
        else:
            image_id = library.image_id(absolute)
            if image_id is None:
                problems.append(f"{display_path(absolute)}: not in the library (score it first)")
            else:
                ids.append(image_id)
    if not wanted:
        ids = [i.image_id for i in _ranked(library, arguments, limit)]
    return list(dict.fromkeys(ids))[:limit]


def _ranked(library: Any, arguments: dict[str, Any], limit: int) -> Iterator[Any]:
    after, count = None, 0
    while count < limit:
        page = library.browse(**arguments, after=after, limit=min(500, limit - count))
        yield from page.items
        count += len(page.items)
        if page.next_cursor is None:
            return
        after = page.next_cursor


def data_uri(renditions: Renditions, file: ImageFile, problems: list[str]) -> tuple[str, str | None]:
    """The tile rendition as a data: URI (a placeholder saying why when it cannot be made)."""
    try:
        jpeg = renditions.get(file, "s").read_bytes()
        return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii"), None
    except Unservable as exc:
        problems.append(f"{display_path(file.path)}: {exc.reason}")
        svg = placeholder_svg(exc.reason)
        return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii"), exc.reason


def write_report(
    library: Any,
    output: str | os.PathLike[str],
    *,
    renditions: Renditions,
    paths: Iterable[str | os.PathLike[str]] = (),
    query: GalleryQuery | None = None,
    limit: int = 100,
    title: str = "ArtiMuse report",
) -> ReportSummary:
    """Write the report to ``output`` (atomically: a half-written file never replaces an old one).

    Raises:
        InvalidValue: a bad filter in ``query``.
        OSError: ``output`` cannot be written.
    """
    problems: list[str] = []
    views = []
    for image_id in select_images(library, paths, query or GalleryQuery(), limit, problems):
        file = library.image_file(image_id)
        record = library.show(file.path)
        uri, reason = data_uri(renditions, file, problems)
        views.append({**image_view(image_id, record, reason), "src": uri})
    views.sort(key=lambda v: v["evaluation"].score if v["evaluation"] else -1.0, reverse=True)
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    environment.filters.update(FILTERS)
    html = environment.get_template("report.html").render(
        title=title, views=views, problems=problems, css=(HERE / "static" / "app.css").read_text(encoding="utf-8")
    )
    target = Path(output).expanduser()
    handle, temporary = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(html)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ReportSummary(str(target), len(views), target.stat().st_size, problems)
