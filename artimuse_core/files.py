"""Turn what the user named (files, folders, glob patterns) into files to score, never leaving those folders.

Every file a walk sees ends up in exactly one place: ``Collected.files`` (to decode and score),
``Collected.problems`` (failed before decoding: a symlink loop, a broken link, an unreadable folder, a
name that does not exist) or ``Collected.passed_over`` (deliberately not scored, with the reason: RAW
without its decoder, ``.txt``/``.xmp`` and other non-image names, hidden files, FIFOs/sockets/devices,
symlinks out of the folder). Nothing is opened here: ``lstat``/``stat`` only, so a FIFO cannot hang a walk.

Folders are walked recursively without following symlinked folders; a symlinked file is taken only when
it resolves inside the folder named. Glob patterns (``d/*.jpg``, ``d/**/*.png``) are matched by the same
walk from the pattern's literal folder, so they follow the same rules (``glob.glob`` would follow
symlinked folders out of it). Paths stay as the OS gives them (``str`` from ``os.fsdecode``, lone
surrogates for non-UTF-8 bytes); messages use ``paths.display_path``.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from . import decoders
from .errors import PASSED_OVER_KINDS
from .images import is_image_name
from .opening import file_type
from .paths import display_path
from .results import status_for


@dataclass(frozen=True)
class PassedOverFile:
    """A file seen but deliberately not scored. ``kind``: hidden, not_an_image_name, special, outside,
    symlinked_folder, no_decoder (or, from decoding, thumbnail_only); ``label`` groups it in summaries
    ("RAW", ".txt", "hidden", "FIFO"...); ``reason`` is one line, without the path."""

    path: str
    kind: str
    reason: str
    label: str

    @property
    def message(self) -> str:
        return f"{display_path(self.path)}: {self.reason}"

    def to_dict(self) -> dict:
        """A row in the results' shape (status ``passed_over``), with the printable path."""
        return {
            "path": display_path(self.path),
            "status": "passed_over",
            "score": None,
            "std": None,
            "error": self.message,
            "error_kind": self.kind,
            "label": self.label,
        }


@dataclass
class Collected:
    files: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (path, kind, message): failed
    passed_over: list[PassedOverFile] = field(default_factory=list)

    def passed_over_counts(self) -> Counter:
        """How many files were passed over, by label (``Counter({"RAW": 38, ".txt": 2})``)."""
        return Counter(p.label for p in self.passed_over)

    def _fail(self, path: str, kind: str, reason: str) -> None:
        self.problems.append((path, kind, f"{display_path(path)}: {reason}"))

    def _pass(self, path: str, kind: str, reason: str, label: str) -> None:
        self.passed_over.append(PassedOverFile(path, kind, reason, label))


def inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """True when ``path`` (symlinks resolved) lies within ``root``. False for a symlink loop or any path
    that cannot be resolved (``Path.resolve`` raises RuntimeError on a loop in Python 3.11; this never
    raises)."""
    try:
        real = os.path.realpath(path)
        base = os.path.realpath(root)
        return os.path.commonpath([real, base]) == base
    except (ValueError, OSError, RuntimeError):
        return False


def name_label(path: str | os.PathLike) -> str:
    """The summary label of a non-image name: its ending in lower case (".txt"), or "no extension"."""
    suffix = os.path.splitext(os.fsdecode(path))[1].lower()
    return suffix or "no extension"


def passed_over_label(kind: str, path: str | os.PathLike) -> str:
    """The summary label of a file passed over while decoding (``ImageError.kind`` in PASSED_OVER_KINDS)."""
    if kind == "no_decoder":
        family = decoders.family_of_name(path)
        return family.label if family else "no decoder"
    if kind == "thumbnail_only":
        return "RAW thumbnail only"
    if kind == "special":
        return "special file"
    return kind


class _Pattern:
    """A glob pattern split into its literal folder and the components to match below it (``**`` is any
    number of folders; ``*`` and ``?`` do not match a leading dot, as in ``glob``)."""

    def __init__(self, text: str):
        parts = Path(os.path.expanduser(text)).parts
        first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
        self.root = Path(*parts[:first]) if first else Path(".")
        self.parts = parts[first:]

    @staticmethod
    def _one(name: str, pattern: str) -> bool:
        if name.startswith(".") and not pattern.startswith("."):
            return False
        return fnmatchcase(name, pattern)

    def matches(self, rel: Sequence[str], pats: Sequence[str] | None = None) -> bool:
        pats = self.parts if pats is None else pats
        if not pats:
            return not rel
        if pats[0] == "**":
            for i in range(len(rel) + 1):
                if self.matches(rel[i:], pats[1:]):
                    return True
                if i < len(rel) and rel[i].startswith("."):
                    return False
            return False
        return bool(rel) and self._one(rel[0], pats[0]) and self.matches(rel[1:], pats[1:])

    def may_hold(self, rel: Sequence[str], pats: Sequence[str] | None = None) -> bool:
        """Could a file below the folder ``rel`` match?"""
        pats = self.parts if pats is None else pats
        if not rel:
            return True
        if not pats:
            return False
        if pats[0] == "**":
            return not rel[0].startswith(".") or any(p.startswith(".") for p in pats)
        return self._one(rel[0], pats[0]) and self.may_hold(rel[1:], pats[1:])


def walk_images(root: Path, collected: Collected, pattern: _Pattern | None = None) -> int:
    """Walk ``root`` (sorted: a folder's files, then its subfolders) into ``collected``; with ``pattern``,
    only what it matches is seen. Returns how many entries were seen."""
    root_text = os.fspath(root)
    seen = 0

    def visit(folder: str, rel: tuple[str, ...]) -> None:
        nonlocal seen
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            seen += 1
            collected._fail(
                folder, "unreadable", f"cannot list this folder ({exc.strerror or exc}); its files were not scored"
            )
            return
        folders = []
        for entry in entries:
            here = rel + (entry.name,)
            path = entry.name if folder == "." else os.path.join(folder, entry.name)  # 'a.jpg' for '*.jpg'
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if pattern is not None:
                wanted = pattern.may_hold(here) if is_dir else pattern.matches(here)
                if not wanted:
                    continue
            elif entry.name.startswith("."):
                seen += 1
                collected._pass(path, "hidden", "hidden folder; not walked" if is_dir else "hidden file", "hidden")
                continue
            if is_dir:
                folders.append((path, here))
                continue
            seen += 1
            _classify(path, entry.is_symlink(), root_text, collected)
        for path, here in folders:
            visit(path, here)

    visit(root_text, ())
    return seen


def _classify(path: str, is_link: bool, root: str, collected: Collected) -> None:
    """Put one directory entry (not a real folder) in files, problems or passed_over."""
    try:
        st = os.stat(path) if is_link else os.lstat(path)
    except OSError as exc:
        _stat_problem(path, exc, collected, is_link)
        return
    if is_link and not inside(path, root):
        collected._pass(
            path, "outside", f"symlink pointing outside {display_path(root)}; not followed", "symlink outside"
        )
        return
    if stat.S_ISDIR(st.st_mode):
        collected._pass(
            path,
            "symlinked_folder",
            "symlinked folder; not followed (its files are scored where they really are)",
            "symlinked folder",
        )
        return
    kind = file_type(st.st_mode)
    if kind:
        collected._pass(path, "special", f"a {kind}, not a regular file; not opened", kind)
        return
    family = decoders.family_of_name(path)
    if family and not decoders.available(family.name):
        collected._pass(
            path, "no_decoder", f"{family.label} file passed over: {decoders.install_hint(family.name)}", family.label
        )
    elif is_image_name(path):
        collected.files.append(Path(path))
    else:
        collected._pass(path, "not_an_image_name", f"not an image name ({name_label(path)})", name_label(path))


def _stat_problem(path: str, exc: OSError, collected: Collected, is_link: bool) -> None:
    if exc.errno == errno.ELOOP:
        collected._fail(path, "symlink_loop", "symbolic link loop (the link leads back to itself); not followed")
    elif is_link and isinstance(exc, FileNotFoundError):
        collected._fail(path, "broken_symlink", "symbolic link to a file that does not exist")
    elif isinstance(exc, FileNotFoundError):
        collected._fail(path, "gone", "no longer exists (deleted or renamed while the folder was read)")
    else:
        collected._fail(path, "unreadable", exc.strerror or str(exc))


def collect_images(targets: Iterable[str | os.PathLike]) -> Collected:
    """Files as given (any extension: decoding decides; FIFOs and other special files are passed over),
    folders walked, glob patterns matched by the same walk. Never raises for a bad target: each becomes
    a problem (``missing``, ``symlink_loop``, ``broken_symlink``, ``unreadable``)."""
    collected = Collected()
    for target in targets:
        text = os.path.expanduser(os.fsdecode(target))
        try:
            st = os.stat(text)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR) and glob.has_magic(text):
                pattern = _Pattern(text)
                if not os.path.isdir(pattern.root) or not walk_images(pattern.root, collected, pattern):
                    collected._fail(text, "missing", "the pattern matches no file")
            elif exc.errno in (errno.ENOENT, errno.ENOTDIR) and not os.path.islink(text):
                collected._fail(text, "missing", "no such file or folder")
            else:
                _stat_problem(text, exc, collected, os.path.islink(text))
            continue
        if stat.S_ISDIR(st.st_mode):
            walk_images(Path(text), collected)
        elif special := file_type(st.st_mode):
            collected._pass(text, "special", f"a {special}, not a regular file; not opened", special)
        else:
            collected.files.append(Path(text))
    collected.files = list(dict.fromkeys(collected.files))  # each file once, in the order first met
    return collected


# ------------------------------------------------------------------------------------------ summaries
def outcome_status(ok: bool, error_kind: str | None) -> str:
    """A result's status from its error: scored, passed_over (a kind in PASSED_OVER_KINDS), gone or failed
    (``results.status_for``, the one rule)."""
    return "scored" if ok else status_for(error_kind)


_STATUS_ORDER = ("scored", "cached", "failed", "gone")


def summary_line(statuses: Mapping[str, int], passed_over: Mapping[str, int] | None = None) -> str:
    """One line a person reads at the end of a run, from counts by status and passed-over counts by label:
    ``"12 scored, 3 cached, 2 failed, 40 passed over: 38 RAW, 2 .txt"``. A run with nothing to score says
    so: ``"nothing to score: no files found"``, ``"nothing to score: 2 passed over: 2 RAW"``."""
    passed_over = {k: n for k, n in (passed_over or {}).items() if n}
    attempted = {k: n for k, n in statuses.items() if n and k != "passed_over"}
    parts = []
    if attempted:
        parts.append(f"{attempted.get('scored', 0)} scored")
        parts += [f"{attempted[k]} {k}" for k in _STATUS_ORDER[1:] if k in attempted]
        parts += [f"{n} {k}" for k, n in sorted(attempted.items()) if k not in _STATUS_ORDER]
    total = sum(passed_over.values())
    if total:
        groups = sorted(passed_over.items(), key=lambda item: (-item[1], item[0]))
        parts.append(f"{total} passed over: " + ", ".join(f"{n} {label}" for label, n in groups))
    if not attempted:
        return "nothing to score: " + (", ".join(parts) if parts else "no files found")
    return ", ".join(parts)


def run_summary(collected: Collected, results: Iterable[Mapping]) -> str:
    """``summary_line`` for a whole run: what collecting passed over plus result rows (mappings with
    ``status``, ``error_kind`` and ``path``, as ``ScoreResult.to_dict()`` plus a status). A row whose
    ``error_kind`` is a passed-over kind counts as passed over whatever its status says."""
    statuses: Counter = Counter()
    labels = collected.passed_over_counts()
    for row in results:
        kind = row.get("error_kind")
        if kind in PASSED_OVER_KINDS:
            labels[passed_over_label(kind, row.get("path") or "")] += 1
        else:
            statuses[row.get("status") or outcome_status(not row.get("error"), kind)] += 1
    return summary_line(statuses, labels)
