"""Any path the OS can give, printable.

POSIX file names are bytes. Python hands them to us as ``str`` through ``os.fsdecode``, which keeps
bytes that are not valid UTF-8 as lone surrogates (``b"caf\\xe9.png"`` -> ``"caf\\udce9.png"``). Such a
string works for every file operation but cannot be printed, logged or encoded as UTF-8. We keep the
path as the OS gave it for file operations and use ``display_path`` wherever a person reads it.
"""

from __future__ import annotations

import os

# Control characters (a newline in a file name would split a "one-line" error in two) shown as escapes.
_CONTROL = {c: f"\\x{c:02x}" for c in range(32)} | {0x7F: "\\x7f", ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"}


def display_path(path: str | bytes | os.PathLike) -> str:
    """A printable, one-line form of any path: valid UTF-8 as is, each undecodable byte as ``\\xNN``
    (``caf\\xe9.png``), control characters escaped. For messages and tables only: never open it.

    >>> display_path(os.fsdecode(b"caf\\xe9.png"))
    'caf\\\\xe9.png'
    """
    try:
        raw = os.fsencode(path)
    except (TypeError, UnicodeError):  # not path-like, or a str no file system encoding can hold
        return ascii(str(path))[1:-1]
    return raw.decode("utf-8", "backslashreplace").translate(_CONTROL)


def is_printable_path(path: str | os.PathLike) -> bool:
    """True when ``path`` prints as itself (no undecodable bytes, no control characters)."""
    text = os.fspath(path)
    return isinstance(text, str) and display_path(text) == text
