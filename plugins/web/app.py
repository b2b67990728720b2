"""The gallery's ASGI application (Starlette): routes, templates, and the guards every request passes.

Guards: the Host header must name this server (``TrustedHostMiddleware``: a DNS-rebinding page cannot
reach it), and a request that changes anything (POST) must come from this server's own pages: its Origin,
when sent, is this server (scheme, host and port), ``Sec-Fetch-Site``, when sent, is same-origin, and it
carries the page's token (``X-ArtiMuse-Token``, random per server start). Pictures are addressed by library
id only (``pictures``); every parameter is checked by ``params`` (400, never a 500); every response,
refusals and errors included, carries the security headers of ``headers``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from . import params, stacks, views  # noqa: F401 - params registers the library_id path converter
from .headers import SecurityHeaders
from .pages import templates
from .pictures import Renditions

HERE = Path(__file__).parent
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
TOKEN_HEADER = "x-artimuse-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class SameOrigin:
    """Refuse (403) a state-changing request that is not from this server's own page (see module docstring)."""

    def __init__(self, app: ASGIApp, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            reason = self.refusal(Request(scope))
            if reason:
                await JSONResponse({"error": reason}, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, request: Request) -> str | None:
        """Why this request may not change anything (None: it may)."""
        origin = request.headers.get("origin")
        if origin is not None and not same_origin(origin, request.url.scheme, request.headers.get("host", "")):
            return f"cross-origin request from {origin[:100]} refused"
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return "cross-site request refused"
        if not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), self.token):
            return "missing or wrong page token: reload the page"
        return None


DEFAULT_PORTS = {"http": 80, "https": 443}


def same_origin(origin: str, scheme: str, host: str) -> bool:
    """Whether an ``Origin`` header names this server: the same scheme, host and port (a port left out is
    the scheme's default), and nothing else in it (``null``, a user, a path: not this server)."""
    try:
        theirs, ours = urlsplit(origin), urlsplit(f"//{host}")
        their_port = theirs.port or DEFAULT_PORTS.get(theirs.scheme)
        our_port = ours.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return False
    return (
        theirs.scheme == scheme
        and theirs.username is None
        and theirs.path in ("", "/")
        and not theirs.query
        and theirs.hostname is not None
        and theirs.hostname == ours.hostname
        and their_port == our_port
    )


class Gallery(Starlette):
    """Starlette with ``SecurityHeaders`` outside everything, its own error pages (500) included."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def create_app(
    library: Any,
    *,
    thumbnails: str | Path,
    roots: Iterable[Path] = (),
    hosts: Iterable[str] = LOOPBACK_HOSTS,
    token: str | None = None,
    poll_s: float = 2.0,
    page_size: int = 48,
    notice: str | None = None,
) -> Starlette:
    """The gallery over ``library`` (a ``Library``): renditions cached in ``thumbnails`` (a folder under the
    ArtiMuse home), files shown only inside their own folder or ``roots`` (the watched folders), requests
    accepted only for ``hosts``; ``poll_s``: how often an open gallery asks for new scores; ``notice``: a
    line shown on every page (`artimuse demo`: "demo weights: scores are noise")."""
    token = token or new_token()
    app = Gallery(
        routes=[
            Route("/", views.gallery),
            Route("/tiles", views.tiles),
            Route("/live", views.live),
            Route("/image/{image_id:library_id}", views.image_page),
            Route("/compare", views.compare),
            Route("/picture/{image_id:library_id}/{size}", views.picture),
            Route("/api/images/{image_id:library_id}/rating", views.rate, methods=["POST"]),
            Route("/stack/{image_id:library_id}", stacks.members),
            Route("/api/images/{image_id:library_id}/stack", stacks.take_best, methods=["POST"]),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ],
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts)),
            Middleware(SameOrigin, token=token),
        ],
        exception_handlers={400: views.refused, 404: views.refused, 405: views.refused},
    )
    app.state.library = library
    app.state.renditions = Renditions(thumbnails, roots)
    app.state.token = token or ""
    app.state.templates = templates()
    app.state.poll_s = poll_s
    app.state.page_size = page_size
    app.state.notice = notice
    return app


def new_token() -> str:
    """A fresh page token (per server start)."""
    return secrets.token_urlsafe(24)
