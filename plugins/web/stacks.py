"""The gallery's stacks (near-duplicates and bursts the library grouped): what each tile knows of its stack,
a stack's members when the user opens it, and the one write that takes a picture as its stack's best and
rejects the rest. The grouping, the best and its reason are the library's (``Library.stack_of``,
``reject_rest_of_stack``); nothing is decided here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from artimuse_core import display_path

from .pages import respond
from .params import json_object
from .pictures import Unservable, check_file

#: What the take-best key sends.
TAKE = 'send {"take": true}: the picture becomes its stack\'s pick, the other members are rejected'


@dataclass(frozen=True)
class TileStack:
    """What a tile shows of its stack: the stack's id, how many pictures it holds, its best (library id and
    file name) and the library's one-line reason for that best."""

    stack_id: int
    size: int
    best_id: int
    best_name: str
    reason: str


def _tile_stack(record: Any) -> TileStack:
    return TileStack(record.id, record.size, record.best_id, display_path(os.path.basename(record.best)), record.reason)


def stack_view(library: Any, path: str) -> TileStack | None:
    """The ``TileStack`` of the picture at ``path`` (the loupe's panel); None when it is in no stack."""
    record = library.stack_of(path)
    return None if record is None or record.size < 2 else _tile_stack(record)


def tile_stacks(library: Any, items: Iterable[Any]) -> dict[int, TileStack]:
    """Image id -> ``TileStack`` for each of ``items`` (grid items: ``image_id``, ``path``) that is in a stack
    of two or more; one library read for the whole page (``Library.stacks_of``)."""
    found: dict[int, TileStack] = {}
    views: dict[int, TileStack] = {}
    for record in library.stacks_of(item.path for item in items).values():
        if record.size < 2:
            continue
        view = views.setdefault(record.id, _tile_stack(record))
        for member in record.members:
            found[member.image_id] = view
    return found


def _record(library: Any, image_id: int) -> tuple[Any, Any]:
    """(ImageFile, StackRecord) of a library image; 404 when the id is not in the library or in no stack."""
    file = library.image_file(image_id)
    if file is None:
        raise HTTPException(404, f"image {image_id} is not in the library")
    record = library.stack_of(file.path)
    if record is None or record.size < 2:
        raise HTTPException(404, f"image {image_id} is in no stack")
    return file, record


def members(request: Request) -> Response:
    """The members of the stack of ``image_id`` other than that picture (the tile that stands for the stack),
    best first, after a line with the stack's reason: what opening a stack inserts into the grid."""
    image_id = request.path_params["image_id"]
    _, record = _record(request.app.state.library, image_id)
    view = _tile_stack(record)
    shown = [m for m in record.members if m.image_id != image_id]
    stacks = {m.image_id: view for m in record.members}
    return respond(request, "stack.html", s=view, members=shown, stacks=stacks, member_of=view.stack_id)


async def take_best(request: Request) -> Response:
    """Body ``{"take": true}``: the picture ``image_id`` becomes its stack's pick and every other member is
    rejected (each a decision of its own, undone like any other). Answers the winner's ``name``, the
    ``stack_id``, the ids ``rejected`` now and each changed picture's decision (``decisions``); 404 when the
    picture is in no stack, 409 when its file cannot be shown (``pictures.check_file``)."""
    wanted = json_object(await request.body())
    if wanted.get("take") is not True:
        return JSONResponse({"error": TAKE}, status_code=400)
    library = request.app.state.library
    image_id = request.path_params["image_id"]
    try:
        file, record = await run_in_threadpool(_record, library, image_id)
    except HTTPException as exc:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
    try:  # the rule ratings follow: a file that now leads out of its folder is not decided on
        check_file(file, request.app.state.renditions.roots)
    except Unservable as exc:
        return JSONResponse({"error": f"not stored: {exc.reason}"}, status_code=409)
    picked = await run_in_threadpool(library.rate_image, file.image_id, picked=True)
    outcome = await run_in_threadpool(library.reject_rest_of_stack, file.path)
    ids = {m.path: m.image_id for m in record.members}
    rejected = [ids[p] for p in outcome.rejected if p in ids]
    decisions = [{"image_id": image_id, **picked.to_dict()}]
    decisions += [{"image_id": i, "rejected": True, "picked": False} for i in rejected]
    return JSONResponse(
        {
            "image_id": image_id,
            "name": display_path(os.path.basename(file.path)),
            "stack_id": outcome.stack_id,
            "rejected": rejected,
            "already_rejected": [ids[p] for p in outcome.already if p in ids],
            "decisions": decisions,
        }
    )


__all__ = ["TAKE", "TileStack", "members", "stack_view", "take_best", "tile_stacks"]
