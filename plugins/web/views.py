"""The gallery's pages and its one write (a rating). Every endpoint is a plain function: Starlette runs it
in its thread pool, where the library's blocking calls belong. No SQL here: everything goes through
``Library`` (``browse``, ``show``, ``rate_image``)."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from artimuse_core import ArtiMuseError, InvalidValue, display_path
from artimuse_core.library import MAX_PAGE

from .facts import image_view
from .filters import RANK_CHOICES, RATING_CHOICES, SINCE_CHOICES, GalleryQuery
from .pages import respond
from .params import id_list, int_param, json_object, number, text_params
from .pictures import SIZES, Unservable, check_file, placeholder_svg
from .stacks import stack_view, tile_stacks

#: How long the filter bar's choices (categories, models, adapters: a scan of the current evaluations) are
#: reused before they are read again, in seconds.
CHOICES_TTL_S = 30.0
#: What the culling keys may send (1-5, P, U, X, 0).
DECISIONS = 'send {"stars": 1-5}, {"pick": true}, {"unpick": true}, {"reject": true} or {"clear": true}'
#: The "N new" bar counts up to this many new pictures ("50+ new").
NEW_LIMIT = 50
#: The most tiles one gallery load gives (``shown``: opening new pictures keeps every tile already loaded).
MAX_SHOWN = MAX_PAGE


def _page(request: Request, query: GalleryQuery, after: str | None = None, shown: int = 0) -> Any:
    """One page of tiles (``shown``: at least that many, up to ``MAX_SHOWN``). A file deleted since the
    library last looked is marked missing now (as ``top`` leaves it out) and, unless the missing filter is on,
    not shown."""
    library = request.app.state.library
    arguments = query.browse_arguments()
    limit = max(request.app.state.page_size, min(shown, MAX_SHOWN))
    page = library.browse(**arguments, after=after, limit=limit)
    gone = {i.path for i in page.items if not i.missing and not os.path.lexists(i.path)}
    for path in gone:
        library.mark_missing(path)
    if gone and not arguments["include_missing"]:
        page = dataclasses.replace(page, items=[i for i in page.items if i.path not in gone])
    return page


def _choices(state: Any) -> dict[str, list[str]]:
    """The filter bar's choices, read at most every ``CHOICES_TTL_S`` seconds."""
    now = time.monotonic()
    cached = getattr(state, "choices", None)
    if cached is None or now - cached[0] > CHOICES_TTL_S:
        state.choices = cached = (now, state.library.choices())
    choices: dict[str, list[str]] = cached[1]
    return choices


def gallery(request: Request) -> Response:
    """The grid: ranked tiles, the filter bar, the live poller."""
    query = GalleryQuery.from_params(text_params(request.query_params))
    library = request.app.state.library
    error, page = None, None
    shown = int_param(request.query_params, "shown", 0)  # more than MAX_SHOWN: that many (_page)
    try:
        page = _page(request, query, shown=shown)
    except InvalidValue as exc:
        error = str(exc)
    return respond(
        request,
        "gallery.html",
        status_code=400 if error else 200,
        query=query,
        page=page,
        error=error,
        choices=_choices(request.app.state),
        since_choices=SINCE_CHOICES,
        rank_choices=RANK_CHOICES,
        rating_choices=RATING_CHOICES,
        last_id=library.last_evaluation_id(),
        stacks=tile_stacks(library, page.items) if page and query.folded else {},
    )


def tiles(request: Request) -> Response:
    """The next page of tiles (htmx loads it when the end of the grid scrolls into view)."""
    query = GalleryQuery.from_params(text_params(request.query_params))
    try:
        page = _page(request, query, after=request.query_params.get("after") or None)
    except InvalidValue as exc:
        return Response(str(exc), status_code=400)
    stacks = tile_stacks(request.app.state.library, page.items) if query.folded else {}
    return respond(request, "tiles.html", query=query, page=page, stacks=stacks)


def live(request: Request) -> Response:
    """How many pictures were scored since ``after`` (an evaluation id): the "N new" bar, which the user
    opens when they choose (nothing moves under the keys meanwhile), and the next poller."""
    after = int_param(request.query_params, "after", 0)
    fresh = request.app.state.library.newer(after, limit=NEW_LIMIT, include_missing=False)
    query = GalleryQuery.from_params(text_params(request.query_params))
    return respond(request, "live.html", count=len(fresh), more=len(fresh) >= NEW_LIMIT, last_id=after, query=query)


def _image(request: Request, image_id: int) -> tuple[int, Any, str | None]:
    """(image id, ImageRecord, reason it cannot be shown or None); 404 when the id is not in the library."""
    library = request.app.state.library
    file = library.image_file(image_id)
    if file is None:
        raise HTTPException(404, f"image {image_id} is not in the library")
    record = library.show(file.path)
    try:
        check_file(file, request.app.state.renditions.roots)
        reason = None
    except Unservable as exc:
        reason = exc.reason
    return file.image_id, record, reason


def image_page(request: Request) -> Response:
    """One image large (the loupe; Z: 100 %): score +- std, distribution, critiques, EXIF (camera, lens,
    exposure...), provenance, history, the user's decision."""
    view = image_view(*_image(request, request.path_params["image_id"]))
    stack = stack_view(request.app.state.library, view["record"].path)
    return respond(request, "image.html", v=view, exif=_exif(view), stack=stack, **view)


def _exif(view: dict[str, Any]) -> list[tuple[str, str]]:
    """The EXIF panel's rows, read from the file's header (none for a file that cannot be shown)."""
    from artimuse_core import ImageError, photo_facts

    if view["reason"]:
        return []
    try:
        return photo_facts(view["record"].path).rows()
    except (ImageError, OSError):
        return []


def compare(request: Request) -> Response:
    """Two to four images side by side (``?ids=3,7``) with their scores, distributions and critiques."""
    ids = id_list(request.query_params, "ids")
    if not 2 <= len(ids) <= 4:
        return respond(request, "error.html", status_code=400, message="compare 2 to 4 images: ?ids=3,7")
    views = [image_view(*_image(request, image_id)) for image_id in ids]
    best = max(views, key=lambda v: v["evaluation"].score if v["evaluation"] else -1)
    return respond(request, "compare.html", views=views, best=best["id"])


def picture(request: Request) -> Response:
    """A rendition of a library image by id (size ``s`` tile or ``l`` large); a placeholder saying why when
    the file cannot be shown (header ``X-ArtiMuse-Unavailable``)."""
    size = request.path_params["size"]
    if size not in SIZES:
        raise HTTPException(404, f"no picture size {size!r} (sizes: {', '.join(SIZES)})")
    state = request.app.state
    file = state.library.image_file(request.path_params["image_id"])
    if file is None:
        raise HTTPException(404, "not in the library")
    try:
        path = state.renditions.get(file, size)
    except Unservable as exc:
        return Response(
            placeholder_svg(exc.reason),
            media_type="image/svg+xml",
            headers={"X-ArtiMuse-Unavailable": exc.reason.encode("ascii", "backslashreplace").decode()},
        )
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


async def rate(request: Request) -> Response:
    """Store the user's decision on an image: body ``{"stars": 1-5}``, ``{"pick": true}`` (the pick flag,
    beside the stars), ``{"unpick": true}``, ``{"reject": true}`` (a reject: never trained on) or
    ``{"clear": true}``. Answers the stored decision as JSON, with the file's ``name``; 409 with the reason
    when the file cannot be shown (``pictures.check_file``: gone, changed, a link out of its folder)."""
    wanted = json_object(await request.body())
    options: dict[str, Any]
    if wanted.get("reject"):
        options = {"rejected": True}
    elif wanted.get("pick") or wanted.get("unpick"):
        options = {"picked": bool(wanted.get("pick"))}
    elif wanted.get("clear"):
        options = {"clear": True}
    elif "stars" in wanted:
        options = {"stars": number(wanted["stars"], "stars", 0.5, 5)}
    else:
        return JSONResponse({"error": DECISIONS}, status_code=400)
    library = request.app.state.library
    file = await run_in_threadpool(library.image_file, request.path_params["image_id"])
    if file is None:
        return JSONResponse({"error": f"image {request.path_params['image_id']}: not in the library"}, status_code=404)
    try:  # the rule pictures follow: a file that now leads out of its folder (a link swapped in) is not rated
        check_file(file, request.app.state.renditions.roots)
    except Unservable as exc:
        return JSONResponse({"error": f"not rated: {exc.reason}"}, status_code=409)
    try:
        stored = await run_in_threadpool(library.rate_image, file.image_id, **options)
    except ArtiMuseError as exc:
        missing = "not in the library" in str(exc)
        return JSONResponse({"error": str(exc)}, status_code=404 if missing else 400)
    except OSError as exc:
        return JSONResponse({"error": f"cannot read the file to rate it: {exc.strerror or exc}"}, status_code=409)
    answer = {
        **stored.to_dict(),
        "path": display_path(stored.path),
        "name": display_path(os.path.basename(stored.path)),
    }
    return JSONResponse({"image_id": request.path_params["image_id"], **answer})


async def refused(request: Request, exc: Exception) -> Response:
    """A 400, 404 or 405 page (or JSON for the API) that says what was wrong or not found."""
    status = getattr(exc, "status_code", 404)
    detail = getattr(exc, "detail", "not found")
    headers = getattr(exc, "headers", None)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": detail}, status_code=status, headers=headers)
    answer = respond(request, "error.html", status_code=status, message=detail)
    answer.headers.update(headers or {})
    return answer
