"""Opening image files safely, and naming what went wrong when a file cannot be read.

Only regular files are opened: ``stat`` first (FIFOs, sockets and devices are passed over, never opened),
then a non-blocking ``open`` and an ``fstat`` of what was opened. Whatever a decoder raises on a hostile
file becomes that file's typed ``ImageError`` (``guarded``), so one file never stops a run.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from typing import TypeVar

from PIL import Image

from .errors import (
    CorruptImage,
    EmptyFile,
    FileGone,
    ImageError,
    ImageTooLarge,
    NotARegularFile,
    SymlinkLoop,
    UnreadableFile,
)

T = TypeVar("T")


def guarded(name: str, decode: Callable[[], T]) -> T:
    """``decode()``, with every exception it raises as this file's typed ``ImageError`` (a hostile file can
    make a decoder raise anything: ``struct.error``, ``TypeError``...), never anything else."""
    try:
        return decode()
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        # Only where our max_pixels is above the limit of the Pillow we share with the host program.
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise ImageTooLarge(
            name,
            f"over Pillow's own decompression-bomb limit of {limit / 1e6:.0f} MP "
            f"(PIL.Image.MAX_IMAGE_PIXELS, set by the program hosting ArtiMuse)",
        ) from exc
    except MemoryError as exc:
        raise ImageTooLarge(name, "ran out of memory while decoding it (lower the max_pixels setting)") from exc
    except OSError as exc:
        if "truncated" in str(exc):
            raise CorruptImage(
                name, f"truncated file, a copy still in progress or a broken download ({one_line(exc)})"
            ) from exc
        raise CorruptImage(name, f"cannot decode ({exception_name(exc)}: {one_line(exc)})") from exc
    except Exception as exc:  # a hostile file can make a decoder raise anything: it is this file's error
        raise CorruptImage(name, f"cannot decode ({exception_name(exc)}: {one_line(exc)})") from exc


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, at most 200 characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


def exception_name(exc: BaseException) -> str:
    """``struct.error``, ``ValueError``: the exception's type as a reader can look it up."""
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def stat_error(path: str, exc: OSError) -> ImageError:
    """The typed error of a file that could not be stat'ed or opened: gone, a symlink loop, unreadable."""
    if isinstance(exc, FileNotFoundError):
        return FileGone(path, "no longer exists (deleted or renamed since it was found)")
    if exc.errno == errno.ELOOP:
        return SymlinkLoop(path, "symbolic link loop (the link leads back to itself); not followed")
    return UnreadableFile(path, exc.strerror or str(exc))


def file_type(mode: int) -> str | None:
    """'FIFO', 'socket', 'device' or 'folder' for ``st_mode`` values that are not regular files."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISDIR(mode):
        return "folder"
    return "special file"


def check_regular(path: str, st: os.stat_result) -> None:
    """Only regular, non-empty files are opened: a FIFO would block a read forever.

    Raises:
        NotARegularFile: a FIFO, socket, device or folder (passed over).
        EmptyFile: zero bytes.
    """
    kind = file_type(st.st_mode)
    if kind:
        raise NotARegularFile(path, f"a {kind}, not a regular file; not opened")
    if st.st_size == 0:
        raise EmptyFile(path, "empty file (0 bytes)")


OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


__all__ = ["OPEN_FLAGS", "check_regular", "exception_name", "file_type", "guarded", "one_line", "stat_error"]
