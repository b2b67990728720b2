"""Pictures for the gallery: which library files may be shown, and their JPEG renditions cached by content.

A page only ever names an image by its library id; the file is the one the library recorded for that id,
and it is shown only when it still is that file: present, a regular file whose real path (symlinks
followed) stays inside its own folder or a watched folder, with the size the library recorded and, when a
rendition is first made, the SHA-256 the library recorded. Anything else is ``Unservable`` with the reason,
which the page shows on a placeholder. Renditions live under the ArtiMuse home (``thumbnails/``), named by
content hash and size, never next to the user's photos. They are drawn by the same decoders as scoring
(``artimuse_core.previews``): every file ``score`` accepts shows; a format whose optional decoder is missing
shows a placeholder naming what to install. Placeholders name the file, never its full path.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from artimuse_core import ImageError, display_path, preview_reason, render_preview
from artimuse_core.library import ImageFile

#: Rendition sizes (longest side, pixels): grid tiles, the image page / compare view, and the loupe at 100 %
#: (the full picture: None).
SIZES: dict[str, int | None] = {"s": 480, "l": 2048, "f": None}


class Unservable(Exception):
    """A library image that cannot be shown now; ``reason`` is one line for the placeholder."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def check_file(file: ImageFile, roots: Iterable[Path] = ()) -> Path:
    """The path to read for this library image, after the checks in the module docstring.

    Raises:
        Unservable: missing, moved, changed, not a regular file, or a symlink out of its folders.
    """
    path = Path(file.path)
    name = display_path(path.name)
    try:
        status = path.lstat()
    except OSError:
        reason = "marked missing by the library" if file.missing else "not found"
        raise Unservable(f"{reason}: moved or deleted since it was scored ({name})") from None
    try:
        real = path.resolve(strict=True)
        status = real.stat()
    except (OSError, RuntimeError):
        raise Unservable(f"a broken or looping link: {name}") from None
    allowed = [path.parent.resolve(), *(Path(r).resolve() for r in roots)]
    if not any(real.is_relative_to(root) for root in allowed):
        raise Unservable(f"a link out of its folder and the watched folders: {name}")
    if not stat.S_ISREG(status.st_mode):
        raise Unservable(f"not a regular file: {name}")
    if status.st_size != file.size:
        raise Unservable(f"changed since it was scored ({status.st_size} bytes, was {file.size}): rescore it")
    return real


class Renditions:
    """JPEG renditions of library images, cached in ``folder`` by content hash (``<hash>-<px>.jpg``)."""

    def __init__(self, folder: str | os.PathLike[str], roots: Iterable[Path] = ()):
        self.folder = Path(folder)
        self.roots = tuple(roots)

    def cached(self, file: ImageFile, size: str) -> Path:
        """Where this image's rendition of ``size`` (one of ``SIZES``) is kept."""
        return self.folder / file.content_hash[:2] / f"{file.content_hash}-{SIZES[size] or 'full'}.jpg"

    def get(self, file: ImageFile, size: str = "s") -> Path:
        """The rendition file, made now when not cached.

        Raises:
            Unservable: see ``check_file``; the content is not what was scored; no decoder for it.
        """
        real = check_file(file, self.roots)
        target = self.cached(file, size)
        if target.exists():
            return target
        data = real.read_bytes()
        if hashlib.sha256(data).hexdigest() != file.content_hash:
            raise Unservable("changed since it was scored (different content): rescore it")
        target.parent.mkdir(parents=True, exist_ok=True)
        jpeg = render(data, SIZES[size], os.fsdecode(real))
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
        with os.fdopen(handle, "wb") as out:
            out.write(jpeg)
        os.replace(temporary, target)  # another request making the same rendition at once writes the same bytes
        return target


def render(data: bytes, longest: int | None, name: str) -> bytes:
    """A JPEG (quality 85, sRGB, upright) at most ``longest`` pixels on its longest side (None: full size),
    through the decoders ``score`` uses.

    Raises:
        Unservable: no decoder for it (the reason names the extra to install), a corrupt or hostile file.
    """
    try:
        return render_preview(data, longest, name=name)
    except ImageError as exc:  # a user file's problem is a reason on a placeholder, never a 500
        raise Unservable(preview_reason(exc)) from None


def placeholder_svg(reason: str, width: int = 480, height: int = 360) -> str:
    """A dark placeholder picture that says why the image cannot be shown."""
    from html import escape

    words, lines, line = reason.split(), [], ""
    for word in words:
        if len(line) + len(word) > 38:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    lines.append(line)
    text = "".join(
        f'<text x="50%" y="{50 + 8 * (2 * i - len(lines) + 1)}%" text-anchor="middle">{escape(t)}</text>'
        for i, t in enumerate(lines[:6])
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        '<rect width="100%" height="100%" fill="#26272b"/>'
        f'<g fill="#a6a8ad" font-family="system-ui,sans-serif" font-size="15">{text}</g></svg>'
    )
