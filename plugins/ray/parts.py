"""The output of ``artimuse batch``: a folder named like a Parquet file (``results.parquet/``) holding
``part-*.parquet`` files, which pandas, DuckDB, Polars, pyarrow and Ray read as one table.

Why parts and not Ray's ``write_parquet``: a part is written under a hidden temporary name and renamed into
place (``os.replace``, atomic on one file system) only once complete, so a job killed at any moment leaves
only whole parts; the parts present ARE the manifest of what is done. A re-run reads the ``key`` and
``model_key`` columns of every part and skips inputs already done with the same weights, so a killed job
loses at most the batches in flight and no input is ever written twice. Readers skip the hidden temporary
files (pyarrow ignores names starting with ``.`` or ``_``); ``clear_temporaries`` removes those a killed job
left. One run writes at a time: it holds the output's lease (``lease``: ``.lease.json`` beside the parts),
and each part is moved into place only while it still does.

One row per input: ``key`` (the exact path bytes or URI), ``path`` (printable), ``status`` (the
``ScoreResult`` statuses), ``content_hash`` (SHA-256 of the bytes scored), ``score`` (0-100), ``std``
(score points), ``distribution`` (101 probabilities, ``distribution[i]`` = P(score = i)), ``width`` /
``height`` (pixels), ``category`` / ``category_probability`` (when asked), ``critiques`` (JSON object,
attribute -> text, when asked), ``decoder``, ``warnings``, ``error_kind`` / ``error`` (failed or passed
over), provenance (``model``, ``fingerprint``, ``adapter``, ``dtype``, ``device``, ``prompt_hash``,
``engine_version``), ``model_key`` (the weights' identity resume compares) and ``scored_at`` (UTC).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from artimuse_core import InvalidValue, Provenance, ScoreResult, display_path, utc_timestamp

from .lease import GUARD_NAME, LEASE_NAME, Lease, unwritable

PROVENANCE_COLUMNS = ("model", "fingerprint", "adapter", "dtype", "device", "prompt_hash", "engine_version")
SCHEMA = pa.schema(
    [
        ("key", pa.binary()),
        ("path", pa.string()),
        ("status", pa.string()),
        ("content_hash", pa.string()),
        ("score", pa.float64()),
        ("std", pa.float64()),
        ("distribution", pa.list_(pa.float32())),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("category", pa.string()),
        ("category_probability", pa.float64()),
        ("critiques", pa.string()),
        ("decoder", pa.string()),
        ("warnings", pa.list_(pa.string())),
        ("error_kind", pa.string()),
        ("error", pa.string()),
        *[(name, pa.string()) for name in PROVENANCE_COLUMNS],
        ("model_key", pa.string()),
        ("scored_at", pa.string()),
    ]
)
_TMP_PREFIX = ".tmp-part-"


def row_of(result: ScoreResult, key: bytes, model_key: str, content_hash: str | None = None) -> dict[str, Any]:
    """One output row from one ``ScoreResult`` (``key``: the input's exact bytes; ``model_key``: see
    ``model_key_of``)."""
    provenance = asdict(result.provenance) if result.provenance else {}
    return {
        "key": key,
        "path": display_path(os.fsdecode(key)),
        "status": result.status,
        "content_hash": content_hash,
        "score": result.score,
        "std": result.std,
        "distribution": result.distribution,
        "width": result.width,
        "height": result.height,
        "category": result.category,
        "category_probability": result.category_probability,
        "critiques": json.dumps(result.critiques, ensure_ascii=False) if result.critiques else None,
        "decoder": result.decoder,
        "warnings": list(result.warnings),
        "error_kind": result.error_kind,
        "error": result.error,
        **{name: provenance.get(name) for name in PROVENANCE_COLUMNS},
        "model_key": model_key,
        "scored_at": utc_timestamp(),
    }


def result_of(row: dict[str, Any]) -> ScoreResult:
    """The ``ScoreResult`` a row holds (``path`` as the OS gives it, from the key)."""
    provenance = Provenance.from_flat(row) if row.get("fingerprint") else None
    return ScoreResult(
        path=os.fsdecode(row["key"]),
        score=row.get("score"),
        std=row.get("std"),
        distribution=row.get("distribution"),
        width=row.get("width"),
        height=row.get("height"),
        error=row.get("error"),
        error_kind=row.get("error_kind"),
        provenance=provenance,
        category=row.get("category"),
        category_probability=row.get("category_probability"),
        critiques=json.loads(row["critiques"]) if row.get("critiques") else {},
        decoder=row.get("decoder"),
        warnings=list(row.get("warnings") or ()),
        status=row.get("status") or "",
    )


def model_key_of(fingerprint: str, adapter: str | None) -> str:
    """What resume compares: the weights' fingerprint, plus the adapter setting when one is applied."""
    return fingerprint + (f"+{adapter}" if adapter else "")


def table_of(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def prepare(folder: str | os.PathLike[str]) -> Path:
    """Create the output folder, or check that an existing one is a batch output (resume). Temporary parts a
    killed run left are removed by ``clear_temporaries``, once this run holds the lease (never while
    another run may be writing one).

    Raises:
        InvalidValue: the output exists and is not such a folder (a plain file, or a folder of other things).
        OutputUnwritable: the folder cannot be created.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InvalidValue(f"{display_path(folder)}: exists and is a file; the output is a folder of Parquet parts")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        names = [p.name for p in folder.iterdir()]
    except OSError as exc:
        raise unwritable(folder, exc) from exc
    others = [name for name in names if not name.startswith((_TMP_PREFIX, "part-", LEASE_NAME, GUARD_NAME))]
    if others:
        raise InvalidValue(
            f"{display_path(folder)}: holds other files ({', '.join(sorted(others)[:3])}); "
            "name a new output or an earlier batch output"
        )
    return folder


def clear_temporaries(folder: Path) -> None:
    """Remove the half-written parts a killed run left (hidden; readers never saw them)."""
    for stale in folder.glob(f"{_TMP_PREFIX}*"):
        stale.unlink(missing_ok=True)


def write_part(folder: Path, table: pa.Table, lease: Lease | None = None) -> Path:
    """Write ``table`` as one new part, atomically: a temporary hidden file, flushed to disk, then renamed
    into place while this run still holds ``lease``.

    Raises:
        OutputUnwritable: the part cannot be written (permissions, disk full). LeaseLost: another run took
        the lease over (the part is not moved into place).
    """
    name = f"{utc_timestamp().replace(':', '')}-{uuid.uuid4().hex[:12]}.parquet"
    temporary, final = folder / f"{_TMP_PREFIX}{name}", folder / f"part-{name}"
    _write_file(temporary, table)
    _move_into_place(temporary, final, lease)
    return final


def retire(folder: Path, keys: set[bytes], model_key: str, lease: Lease | None = None) -> int:
    """Remove the rows of ``keys`` written with ``model_key`` (``--retry-failed``: those inputs are scored
    again), each part rewritten atomically in place (renamed over itself). Returns the rows removed.

    A run killed half-way leaves each part either whole or without those rows: the inputs removed are simply
    not done yet, and the next run scores them; no row is ever left twice.
    """
    removed = 0
    for part in part_files(folder):
        table = pq.read_table(part, schema=SCHEMA)
        drop = [k in keys and m == model_key for k, m in zip(table["key"].to_pylist(), table["model_key"].to_pylist())]
        if not any(drop):
            continue
        kept = table.filter(pa.array([not d for d in drop]))
        removed += table.num_rows - kept.num_rows
        if kept.num_rows:
            temporary = folder / f"{_TMP_PREFIX}{part.name}"
            _write_file(temporary, kept)
            _move_into_place(temporary, part, lease)
        else:
            _move_into_place(None, part, lease)
    return removed


def _write_file(path: Path, table: pa.Table) -> None:
    try:
        with open(path, "wb") as handle:
            pq.write_table(table.cast(SCHEMA), handle)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise unwritable(path.parent, exc) from exc


def _move_into_place(temporary: Path | None, final: Path, lease: Lease | None) -> None:
    """``temporary`` renamed to ``final`` (None: ``final`` removed), under the lease when there is one; a
    lost lease leaves nothing behind."""
    try:
        with lease.holds() if lease is not None else contextlib.nullcontext():
            if temporary is None:
                final.unlink()
            else:
                os.replace(temporary, final)
    except OSError as exc:
        raise unwritable(final.parent, exc) from exc
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def part_files(folder: str | os.PathLike[str]) -> list[Path]:
    folder = Path(folder)
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []


def done_keys(folder: str | os.PathLike[str], model_key: str) -> dict[bytes, str]:
    """Inputs a previous run already wrote with the same weights, key -> status (scored, failed or passed
    over; each input is written once)."""
    done: dict[bytes, str] = {}
    for part in part_files(folder):
        table = pq.read_table(part, columns=["key", "model_key", "status"])
        for key, key_model, status in zip(*(table.column(c).to_pylist() for c in ("key", "model_key", "status"))):
            if key_model == model_key:
                done[key] = status
    return done


def iter_rows(folder: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Every row of every part, part by part."""
    for part in part_files(folder):
        yield from pq.read_table(part, schema=SCHEMA).to_pylist()
