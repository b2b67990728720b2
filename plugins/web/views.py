"""The gallery's pages and its one write (a rating). Every endpoint is a plain function: Starlette runs it
in its thread pool, where the library's blocking calls belong. No SQL here: everything goes through
``Library`` (``browse``, ``show``, ``rate_image``)."""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from artimuse_core.errors import ArtiMuseError, InvalidValue
from artimuse_core.paths import display_path

from .facts import image_view
from .filters import RANK_CHOICES, RATING_CHOICES, SINCE_CHOICES, GalleryQuery
from .pages import respond
from .params import id_list, int_param, json_object, number, text_params
from .pictures import SIZES, Unservable, check_file, placeholder_svg

#: How long the filter bar's choices (categories, models, adapters: a scan of the current evaluations) are
#: reused before they are read again, in seconds.
CHOICES_TTL_S = 30.0
#: What the culling keys send: stars 1-5, P (pick: five stars), X (reject: ``REJECT_SCORE``).
PICK_STARS = 5.0


def _page(request: Request, query: GalleryQuery, after: str | None = None) -> Any:
    library = request.app.state.library
    return library.browse(**query.browse_arguments(), after=after, limit=request.app.state.page_size)


def _choices(state: Any) -> dict[str, list[str]]:
    """The filter bar's choices, read at most every ``CHOICES_TTL_S`` seconds."""
    now = time.monotonic()
    cached = getattr(state, "choices", None)
    if cached is None or now - cached[0] > CHOICES_TTL_S:
        state.choices = cached = (now, state.library.choices())
    return cached[1]


def gallery(request: Request) -> Response:
    """The grid: ranked tiles, the filter bar, the live poller."""
    query = GalleryQuery.from_params(text_params(request.query_params))
    library = request.app.state.library
    error, page = None, None
    try:
        page = _page(request, query)
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
    )


def tiles(request: Request) -> Response:
    """The next page of tiles (htmx loads it when the end of the grid scrolls into view)."""
    query = GalleryQuery.from_params(text_params(request.query_params))
    try:
        page = _page(request, query, after=request.query_params.get("after") or None)
    except InvalidValue as exc:
        return Response(str(exc), status_code=400)
    return respond(request, "tiles.html", query=query, page=page)


def live(request: Request) -> Response:
    """New scores since ``after`` (an evaluation id) as tiles for the top of the grid, and the next poller."""
    after = int_param(request.query_params, "after", 0)
    items = request.app.state.library.newer(after)
    last = max([after, *(i.evaluation_id for i in items)])
    return respond(request, "live.html", items=items, last_id=last)


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
    """One image large: score +- std, distribution, critiques, provenance, history, the user's rating."""
    view = image_view(*_image(request, request.path_params["image_id"]))
    return respond(request, "image.html", v=view, **view)


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
    """Store the user's rating of an image: body ``{"stars": 1-5}``, ``{"pick": true}`` (five stars) or
    ``{"reject": true}`` (a reject: ``REJECT_SCORE`` with the reject flag). Answers the stored rating as JSON;
    409 with the reason when the file cannot be shown (``pictures.check_file``: gone, changed, a link out of
    its folder)."""
    wanted = json_object(await request.body())
    options: dict[str, Any]
    if wanted.get("reject"):
        options = {"rejected": True}  # stored as REJECT_SCORE with the reject flag: never trained on
    elif wanted.get("pick"):
        options = {"stars": PICK_STARS}
    elif "stars" in wanted:
        options = {"stars": number(wanted["stars"], "stars", 0.5, 5)}
    else:
        return JSONResponse({"error": 'send {"stars": 1-5}, {"pick": true} or {"reject": true}'}, status_code=400)
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
    answer = {**stored.to_dict(), "path": display_path(stored.path)}
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
