"""Rendering pages: the Jinja2 templates, their filters, and the context every page gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from .facts import FILTERS

HERE = Path(__file__).parent


def templates() -> Jinja2Templates:
    """The page templates, with the gallery's filters (``display_path``, file names, stars)."""
    found = Jinja2Templates(directory=str(HERE / "templates"))
    found.env.filters.update(FILTERS)
    return found


def respond(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """Render ``template`` with the page token, poll interval and the server's notice in its context."""
    state = request.app.state
    context.update(token=state.token, poll_ms=int(state.poll_s * 1000), notice=getattr(state, "notice", None))
    response: Response = state.templates.TemplateResponse(request, template, context, status_code=status_code)
    return response
