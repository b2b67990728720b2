"""Any path the OS can give, printable.

POSIX file names are bytes. Python hands them to us as ``str`` through ``os.fsdecode``, which keeps
bytes that are not valid UTF-8 as lone surrogates (``b"caf\\xe9.png"`` -> ``"caf\\udce9.png"``). Such a
string works for every file operation but cannot be printed, logged or encoded as UTF-8. We keep the
path as the OS gave it for file operations and use ``display_path`` wherever a person reads it.

``path_key`` is the one rule for which spelling of a file is the file (``sub/../b.png``, a folder reached
through a symlink, ``B.png`` on a case-insensitive disk): the library stores paths so, and anything that
matches a path against the library's (the door's callers) spells it so too.
"""

from __future__ import annotations

import os

# Control characters (a newline in a file name would split a "one-line" error in two) shown as escapes.
_CONTROL = {c: f"\\x{c:02x}" for c in range(32)} | {0x7F: "\\x7f", ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"}


def display_path(path: str | bytes | os.PathLike[str]) -> str:
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


def is_printable_path(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` prints as itself (no undecodable bytes, no control characters)."""
    text = os.fspath(path)
    return isinstance(text, str) and display_path(text) == text


def path_key(path: str | os.PathLike[str]) -> str:
    """The one spelling of a file's path that the library keys it by (one image per file, whatever the
    spelling): what the door records and looks up, and what every engine over stored results (ComfyUI's
    node results, a batch run's rows) keys them by. Absolute, ~ expanded, ``..`` resolved against the real
    folder (``sub/../b.png`` is ``b.png`` even when ``sub`` is a symlink), the folder's symlinks resolved,
    the file's own symlink resolved when its target stays inside that folder's tree (a link out of it keeps
    its own name, as the walk treats it), and on a case-insensitive file system the name spelled as the
    folder holds it. A path that does not exist is only made absolute and ``..``-free. Never raises for a
    symlink loop (the loop keeps its name)."""
    full = os.path.abspath(os.path.expanduser(os.fspath(path)))
    parent, name = os.path.split(full)
    try:
        real_parent = os.path.realpath(parent)
    except (OSError, RuntimeError, ValueError):
        return full
    if not name:
        return real_parent
    name = _spelled_as_on_disk(real_parent, name)
    candidate = os.path.join(real_parent, name)
    if os.path.islink(candidate):
        try:
            target = os.path.realpath(candidate, strict=True)
        except (OSError, RuntimeError, ValueError):
            return candidate
        if target.startswith(real_parent.rstrip(os.sep) + os.sep):
            return target
    return candidate


_CASE_INSENSITIVE: dict[str, bool] = {}


def case_insensitive(folder: str) -> bool:
    """Whether ``folder`` lies on a case-insensitive file system (macOS, Windows, vfat, some SMB shares):
    tested once per folder by looking the folder up under its own name with the case swapped."""
    known = _CASE_INSENSITIVE.get(folder)
    if known is None:
        head, tail = os.path.split(folder.rstrip(os.sep))
        swapped = tail.swapcase()
        if not tail or swapped == tail:
            known = False
        else:
            try:
                known = os.path.samefile(folder, os.path.join(head, swapped))
            except OSError:
                known = False
        _CASE_INSENSITIVE[folder] = known
    return known


def _spelled_as_on_disk(folder: str, name: str) -> str:
    """``name`` as ``folder`` lists it, on a case-insensitive file system (else ``name`` unchanged)."""
    if not case_insensitive(folder):
        return name
    for refresh in (False, True):
        listing = _LISTINGS.get(folder)
        if listing is None or refresh:
            try:
                listing = _LISTINGS[folder] = {entry.casefold(): entry for entry in os.listdir(folder)}
            except OSError:
                return name
        if name.casefold() in listing:
            return listing[name.casefold()]
    return name


_LISTINGS: dict[str, dict[str, str]] = {}
