"""What ``artimuse batch`` was asked to score: folders, glob patterns, single files, manifests (Parquet, CSV
or JSONL with a ``path`` or ``uri`` column) and fsspec URIs (``s3://bucket/shots/*.jpg``).

Local folders and patterns go through the product's own walk (``artimuse_core.files.collect_images``), so a
batch run accounts for every file exactly as ``artimuse score`` does (passed over with the reason, missing
names failed). Remote URIs are expanded with fsspec (globs, folders walked) and filtered by the same image
name rule. Each input becomes a *key*: the local path's exact bytes (``os.fsencode``, so non-UTF-8 names
survive Arrow) or the URI's UTF-8 text.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from artimuse_core import InvalidValue, PassedOverFile, collect_images, is_image_name, name_label

#: Manifest file endings and the columns that may hold the inputs (the first present wins).
MANIFEST_SUFFIXES = (".parquet", ".csv", ".jsonl", ".ndjson")
MANIFEST_COLUMNS = ("path", "uri", "url", "file", "image")


@dataclass
class Inputs:
    """``keys``: inputs to decode and score, in order, each once; ``passed_over``: files seen and not
    scored, with the reason; ``problems``: (key, kind, message) of inputs that failed before decoding."""

    keys: list[bytes] = field(default_factory=list)
    passed_over: list[PassedOverFile] = field(default_factory=list)
    problems: list[tuple[bytes, str, str]] = field(default_factory=list)


def is_uri(text: str) -> bool:
    """True for ``scheme://...`` other than ``file://`` (those are read with fsspec)."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.isalnum() and scheme.lower() != "file"


def key_of(path: str | os.PathLike[str]) -> bytes:
    """The key of a local path (its exact bytes) or a URI (its UTF-8 text)."""
    return os.fsencode(path)


def name_of(key: bytes) -> str:
    """The path or URI a key stands for, as the OS gives it (``os.fsdecode``: lone surrogates kept)."""
    return os.fsdecode(key)


def collect_inputs(targets: list[str], manifest_column: str | None = None) -> Inputs:
    """Expand what the user named into keys. Never raises for a bad target: it becomes a problem.

    Raises:
        InvalidValue: a manifest without a path column (or without ``manifest_column`` when named).
    """
    inputs = Inputs()
    local: list[str] = []
    for target in targets:
        if target.lower().endswith(MANIFEST_SUFFIXES) and not is_image_name(target):
            for entry in read_manifest(target, manifest_column):
                (_expand_uri(entry, inputs) if is_uri(entry) else local.append(entry))
        elif is_uri(target):
            _expand_uri(target, inputs)
        else:
            local.append(target.removeprefix("file://"))
    collected = collect_images(local)
    inputs.keys += [key_of(p) for p in collected.files]
    inputs.problems += [(key_of(p), kind, message) for p, kind, message in collected.problems]
    inputs.passed_over += collected.passed_over
    inputs.keys = list(dict.fromkeys(inputs.keys))
    return inputs


def read_manifest(target: str, column: str | None = None) -> list[str]:
    """The entries of a Parquet, CSV or JSONL manifest (local or an fsspec URI), in order.

    Raises:
        InvalidValue: no usable column, or the file cannot be read as that format.
    """
    import fsspec

    suffix = Path(target.split("?")[0]).suffix.lower()
    try:
        with fsspec.open(target, "rb") as handle:
            if suffix == ".parquet":
                import pyarrow.parquet as pq

                table = pq.read_table(handle)
                rows = {name: table.column(name).to_pylist() for name in table.column_names}
            else:
                text = handle.read().decode("utf-8")
                records = (
                    list(csv.DictReader(text.splitlines()))
                    if suffix == ".csv"
                    else [json.loads(line) for line in text.splitlines() if line.strip()]
                )
                names = list(records[0]) if records else []
                rows = {name: [r.get(name) for r in records] for name in names}
    except (OSError, ValueError) as exc:
        raise InvalidValue(f"{target}: cannot read this manifest ({exc})") from exc
    wanted = [column] if column else [c for c in MANIFEST_COLUMNS if c in rows]
    if not wanted or wanted[0] not in rows:
        expected = column or " or ".join(MANIFEST_COLUMNS)
        raise InvalidValue(f"{target}: the manifest has no {expected} column (it has: {', '.join(rows) or 'none'})")
    base = os.path.dirname(target) if not is_uri(target) else ""
    entries = []
    for value in rows[wanted[0]]:
        if not value:
            continue
        text = os.fsdecode(value) if isinstance(value, bytes) else str(value)
        entries.append(text if is_uri(text) or os.path.isabs(text) else os.path.join(base, text))
    return entries


def _expand_uri(target: str, inputs: Inputs) -> None:
    """A remote file, folder (walked) or glob pattern, through fsspec."""
    import fsspec

    try:
        fs, _, paths = fsspec.get_fs_token_paths(target)
        found: list[str] = []
        for path in paths:
            found += sorted(fs.find(path)) if fs.isdir(path) else [path]
    except (OSError, ValueError, ImportError) as exc:
        inputs.problems.append((key_of(target), "missing", f"{target}: cannot list it ({exc})"))
        return
    if not found:
        inputs.problems.append((key_of(target), "missing", f"{target}: no such file, folder or match"))
    for path in found:
        uri = fs.unstrip_protocol(path)  # the file system's own spelling (s3://b/k, memory:///b/k)
        name = uri.rsplit("/", 1)[-1]
        if name.startswith("."):
            inputs.passed_over.append(PassedOverFile(uri, "hidden", "a hidden file", "hidden"))
        elif not is_image_name(uri):
            label = name_label(uri)
            inputs.passed_over.append(PassedOverFile(uri, "not_an_image_name", f"not an image name ({label})", label))
        else:
            inputs.keys.append(key_of(uri))
