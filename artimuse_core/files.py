"""Turn what the user named (files, folders, globs) into a list of image files, never leaving those folders.

Folders are walked recursively without following symlinked folders; a symlinked file is taken only when
it resolves inside the folder named. What is passed over is reported, never silently dropped.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from .images import is_image_name


@dataclass
class Collected:
    files: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (path, kind, message)


def inside(path: Path, root: Path) -> bool:
    """True when ``path`` (symlinks resolved) lies within ``root``."""
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError):
        return False


def walk_images(root: Path, collected: Collected) -> None:
    """Image files under ``root``, sorted, hidden files and folders left out, symlinks kept inside."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not is_image_name(name):
                continue
            path = Path(dirpath) / name
            if path.is_symlink() and not inside(path, root):
                collected.problems.append((str(path), "outside", f"{path}: symlink points outside {root}; not followed"))
                continue
            collected.files.append(path)


def collect_images(targets: list[str]) -> Collected:
    """Files as given (any extension: decoding decides), folders walked, glob patterns expanded."""
    collected = Collected()
    for target in targets:
        path = Path(target).expanduser()
        if path.is_dir():
            walk_images(path, collected)
        elif path.exists():
            collected.files.append(path)
        elif glob.has_magic(target):
            matches = sorted(glob.glob(os.path.expanduser(target), recursive=True))
            images = [Path(m) for m in matches if Path(m).is_file() and is_image_name(m)]
            if not images:
                collected.problems.append((target, "missing", f"{target}: the pattern matches no image file"))
            collected.files.extend(images)
        else:
            collected.problems.append((target, "missing", f"{target}: no such file or folder"))
    seen: set[Path] = set()
    collected.files = [p for p in collected.files if not (p in seen or seen.add(p))]
    return collected
