"""Where sidecars live, and how a file is replaced without losing what another program wrote meanwhile.

Naming styles: ``lightroom`` (Lightroom Classic, Capture One, Photo Mechanic): ``IMG_0001.CR2`` ->
``IMG_0001.xmp``; ``darktable`` (darktable, digiKam): ``IMG_0001.CR2`` -> ``IMG_0001.CR2.xmp``.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidValue, SidecarConflict, SidecarWriteError

STYLES = ("lightroom", "darktable")
#: Files that are renderings, not RAWs: in a RAW + JPEG pair the shared sidecar belongs to the RAW.
RENDERED = {
    ".jpg",
    ".jpeg",
    ".jpe",
    ".png",
    ".tif",
    ".tiff",
    ".heic",
    ".heif",
    ".webp",
    ".avif",
    ".gif",
    ".bmp",
    ".psd",
}


@dataclass(frozen=True)
class Sidecar:
    style: str  # "lightroom" | "darktable"
    path: Path


def sidecar_path(image: str | os.PathLike, naming: str = "darktable") -> Path:
    """The sidecar name ``naming`` gives ``image`` (whether or not it exists)."""
    image = Path(image)
    if naming == "lightroom":
        return image.with_suffix(".xmp")
    if naming == "darktable":
        return image.with_name(image.name + ".xmp")
    raise InvalidValue(f"xmp naming must be one of {', '.join(STYLES)}, not {naming!r}")


def find_sidecars(image: str | os.PathLike, prefer: str = "darktable") -> list[Sidecar]:
    """The sidecars of ``image`` that exist, the ``prefer`` style first (``.xmp`` or ``.XMP``)."""
    order = [prefer] + [style for style in STYLES if style != prefer]
    found = []
    for style in order:
        base = sidecar_path(image, style)
        for candidate in (base, base.with_suffix(".XMP")):
            if candidate.is_file() and candidate != Path(image):
                found.append(Sidecar(style, candidate))
                break
    return found


def choose_sidecar(image: str | os.PathLike, naming: str = "darktable") -> Sidecar:
    """The sidecar to write: an existing one, since the user's photo manager already chose (``naming``'s
    style first; a Lightroom-style one under ``darktable`` naming only when it is this image's alone or
    this is the RAW of a RAW + JPEG pair),
    else a new one named in ``naming``'s style."""
    for sidecar in find_sidecars(image, prefer=naming):
        if sidecar.style == naming or sidecar.style == "darktable" or owns_stem_sidecar(image):
            return sidecar
    return Sidecar(naming, sidecar_path(image, naming))


def owns_stem_sidecar(image: str | os.PathLike) -> bool:
    """Whether a Lightroom-style ``IMG_0001.xmp`` is this image's: no other file shares the stem, or this is
    the RAW of a RAW + JPEG pair (Lightroom files the pair under the RAW and its sidecar)."""
    image = Path(image)
    siblings = [
        other
        for other in image.parent.glob(glob.escape(image.stem) + ".*")
        if other.name != image.name and other.suffix.lower() != ".xmp"
    ]
    rendered = lambda path: path.suffix.lower() in RENDERED  # noqa: E731
    return not siblings or (not rendered(image) and all(rendered(other) for other in siblings))


# ------------------------------------------------------------------------------------ safe replace
def _signature(path: Path) -> tuple | None:
    """The file's own identity (``lstat``: a link is never followed), None when there is none."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns, stat.S_IFMT(st.st_mode))


def refuse_links(path: Path) -> None:
    """Files are written only as regular files inside their own folder: a symbolic link (whatever it points
    at, dangling included) is refused with where it leads, never written through to its target.

    Raises:
        SidecarWriteError: ``path`` is a link, or something other than a regular file.
    """
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SidecarWriteError(path, f"cannot look at it: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(path)
        raise SidecarWriteError(
            path,
            f"is a symbolic link (to {target}); artimuse writes only regular files inside the image's folder, "
            "never through a link: replace the link with a copy of the file to have it updated (nothing was "
            "changed)",
        )
    if not stat.S_ISREG(st.st_mode):
        raise SidecarWriteError(path, "exists but is not a regular file")


def _read(path: Path, with_content: bool) -> tuple[bytes | None, tuple | None]:
    refuse_links(path)
    try:
        signature = _signature(path)
        if signature is None or not with_content:
            return None if signature is None else b"", signature
        return path.read_bytes(), signature
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise SidecarWriteError(path, f"cannot read it: {exc.strerror or exc}") from None


def _temp_copy(path: Path, data: bytes, mode: int) -> Path:
    """``data`` in a hidden temporary file beside ``path`` (same file system, so the rename is atomic)."""
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".artimuse-tmp", dir=path.parent)
    except OSError as exc:
        reason = "the folder is read-only" if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else exc.strerror
        raise SidecarWriteError(path, f"cannot write in {path.parent}: {reason} (nothing was changed)") from None
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(name, mode)
    except OSError as exc:
        Path(name).unlink(missing_ok=True)
        raise SidecarWriteError(path, f"cannot write {name}: {exc.strerror or exc} (nothing was changed)") from None
    return Path(name)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_file(
    path: str | os.PathLike,
    edit: Callable[[bytes | None], bytes | None],
    *,
    retries: int = 5,
    new_mode: int = 0o644,
    compare_content: bool = True,
    expect_existing: bool = False,
) -> tuple[str, int]:
    """Rewrite ``path`` as ``edit(current bytes or None) -> new bytes (None: no change)``, atomically.

    Compare-and-swap: the new content goes to a temporary file beside ``path``; just before the rename the
    file is checked again (stat, and content when ``compare_content``) and if another program changed it
    meanwhile, ``edit`` runs again on the new content, up to ``retries`` times; a file that appears while we
    create one is not overwritten (hard link, which fails if the name exists). The window left is the few
    microseconds between the last check and the rename. ``path`` is written only as a regular file
    (``refuse_links``: a link, swapped in meanwhile or not, is refused). Returns
    (``"created"|"updated"|"unchanged"``, retries used). Raises ``SidecarWriteError`` (read-only folder,
    permissions, disk full, a symbolic link or not a regular file; nothing changed), ``SidecarConflict`` after
    ``retries`` lost races, and whatever ``edit`` raises.
    """
    path = Path(path)
    for attempt in range(retries + 1):
        data, signature = _read(path, with_content=True)
        if expect_existing and data is None:
            raise SidecarWriteError(path, "it vanished while we wrote it")
        new = edit(data)
        if new is None or new == data:
            return "unchanged", attempt
        mode = new_mode if signature is None else stat.S_IMODE(path.stat().st_mode)
        temp = _temp_copy(path, new, mode)
        try:
            now = _signature(path)
            if now != signature or (compare_content and now is not None and path.read_bytes() != data):
                continue  # someone wrote it meanwhile (a link swapped in included): read it again
            if signature is None:
                if not _create_exclusive(temp, path):
                    continue
            else:
                os.replace(temp, path)
        except OSError as exc:
            raise SidecarWriteError(path, f"cannot replace it: {exc.strerror or exc} (nothing was changed)") from None
        finally:
            temp.unlink(missing_ok=True)
        _sync_folder(path.parent)
        return ("created" if signature is None else "updated"), attempt
    raise SidecarConflict(
        path,
        f"another program changed it {retries + 1} times while we merged into it; left it as that program wrote it",
    )


def _create_exclusive(temp: Path, path: Path) -> bool:
    """Give ``temp`` the name ``path`` only if nothing has that name; False when something appeared."""
    try:
        os.link(temp, path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
    if path.exists():  # no hard links here (FAT, exFAT, some network shares): check, then rename
        return False
    os.replace(temp, path)
    return True
