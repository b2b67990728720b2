"""ArtiMuse's web gallery and HTML report: a thin front end over the library (``Library.browse``, ``show``,
``rate_image``) to browse, compare, cull and rate, and one self-contained HTML file to send.

Starlette + Jinja2 templates + htmx (vendored in ``static/``, no CDN), served by uvicorn; the ``web`` extra.
``create_app(library, thumbnails=...)`` builds the ASGI app; ``serve`` runs it; ``write_report`` makes the
HTML file. Importing this package imports none of them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "create_app": "app",
    "serve": "server",
    "serving": "server",
    "check_host": "server",
    "write_report": "report",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'artimuse_web' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
