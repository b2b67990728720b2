"""Running the gallery: the host policy (loopback unless the user says otherwise, with a warning) and
uvicorn."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from artimuse_core import InvalidValue

from .app import LOOPBACK_HOSTS, create_app, new_token


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> str | None:
    """The warning to print for ``host`` (None for a loopback address).

    Raises:
        InvalidValue: a host other machines can reach, without ``allow_remote``.
    """
    if is_loopback(host):
        return None
    if not allow_remote:
        raise InvalidValue(
            f"host {host!r} lets other machines on the network see your library and rate in it; "
            "allow that explicitly with allow_remote (--allow-remote), or use 127.0.0.1"
        )
    return (
        f"warning: serving on {host}: anyone who can reach this machine can browse your library and change "
        "ratings (there is no login). Use 127.0.0.1 unless you mean it."
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (for tests and --port 0)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host.strip("[]"), 0))
        return int(probe.getsockname()[1])


def _server(
    library: Any,
    host: str,
    port: int,
    thumbnails: str | Path,
    roots: tuple[Path, ...],
    started: Callable[[str], None] | None,
    log_level: str,
    notice: str | None,
) -> Any:
    """A ``uvicorn.Server`` for the gallery that calls ``started(url)`` once it listens."""
    import uvicorn

    hosts = [*LOOPBACK_HOSTS, host, host.strip("[]")]
    app = create_app(library, thumbnails=thumbnails, roots=roots, hosts=hosts, token=new_token(), notice=notice)
    config = uvicorn.Config(app, host=host.strip("[]"), port=port, log_level=log_level, access_log=False)
    server = uvicorn.Server(config)
    if started is not None:
        shown = f"[{host.strip('[]')}]" if ":" in host else host
        original = server.startup

        async def startup(sockets: Any = None) -> None:
            await original(sockets)
            if server.started:
                started(f"http://{shown}:{config.port}/")

        server.startup = startup  # type: ignore[method-assign]
    return server


def serve(
    library: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    thumbnails: str | Path,
    roots: tuple[Path, ...] = (),
    started: Callable[[str], None] | None = None,
    log_level: str = "warning",
    notice: str | None = None,
) -> None:
    """Serve the gallery until interrupted; ``started(url)`` is called once it listens; ``notice`` is a line
    shown on every page."""
    _server(library, host, port, thumbnails, roots, started, log_level, notice).run()


@contextmanager
def serving(
    library: Any,
    *,
    thumbnails: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    notice: str | None = None,
    timeout_s: float = 30.0,
) -> Iterator[str]:
    """The gallery on a background thread for the enclosed block (port 0: a free one); yields its URL.

    Raises:
        RuntimeError: the server did not start listening within ``timeout_s`` seconds.
    """
    urls: list[str] = []
    server = _server(library, host, port or free_port(host), thumbnails, (), urls.append, "warning", notice)
    thread = threading.Thread(target=server.run, name="artimuse-gallery", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not urls and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        if not urls:
            raise RuntimeError(f"the gallery did not start on {host} within {timeout_s:.0f} s")
        yield urls[0]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
