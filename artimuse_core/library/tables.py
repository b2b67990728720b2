"""The library's tables (SQLAlchemy Core). Alembic migrations (``migrations/``) create them; these
declarations are what the queries are written against.

Images are files (identified by path, followed across moves and renames by content hash); an evaluation
is one score of one image by one model (+ adapter); ``current`` marks the latest evaluation of each
(image, model fingerprint, adapter), which is what rankings read. Core, not the ORM: every command reads
and writes a handful of rows, and importing ``sqlalchemy.orm`` cost more than the queries (``bench/
cli_latency.py``).
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
    true,
)

from ..families import PRIMARY_DIMENSION


def utcnow() -> datetime:
    """Now in UTC, naive (as SQLite stores it: every time column holds UTC)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def iso_utc(moment: datetime) -> str:
    """A stored time (naive UTC) as an aware ISO 8601 string: ``2026-11-30T05:12:00+00:00``."""
    return moment.replace(tzinfo=timezone.utc).isoformat() if moment.tzinfo is None else moment.isoformat()


#: PostgreSQL's text holds valid UTF-8 only: there, each byte of a path that is not UTF-8 is stored as one
#: character of the last private-use block, U+10FF80-U+10FFFF for bytes 0x80-0xFF (a path's own characters
#: from that block are stored as their bytes, so the mapping is one to one).
_BYTE_ESCAPES = 0x10FF00
_ESCAPED = re.compile("[\udc80-\udcff\U0010ff80-\U0010ffff]")


def path_as_text(path: str) -> str:
    """A path (``os.fsdecode``'s ``str``, lone surrogates for bytes that are not UTF-8) as valid UTF-8 text:
    unchanged when it is valid UTF-8 without characters of U+10FF80-U+10FFFF (every real path), else each
    byte of it that is not UTF-8 (and each byte of such a character) as U+10FF00 + the byte. A folder's text
    is a prefix of the text of every path inside it, as with the bytes."""
    if not _ESCAPED.search(path):
        return path
    escaped: list[str] = []
    for char in path:
        if _ESCAPED.match(char):
            escaped.extend(chr(_BYTE_ESCAPES + byte) for byte in os.fsencode(char))
        else:
            escaped.append(char)
    return "".join(escaped)


def path_from_text(text: str) -> str:
    """The path ``path_as_text`` stored (the inverse)."""
    if not _ESCAPED.search(text):
        return text
    raw = b"".join(bytes([ord(c) - _BYTE_ESCAPES]) if ord(c) >= 0x10FF80 else c.encode("utf-8") for c in text)
    return os.fsdecode(raw)


class StoredPath(TypeDecorator):
    """A file path exactly as the OS gives it, whatever its bytes (a name that is not valid UTF-8,
    ``caf\\xe9.png``, comes from ``os.fsdecode`` as a ``str`` with lone surrogates, which UTF-8 text cannot
    hold). Valid UTF-8 paths are stored as text, as always (no migration). On SQLite any other path is stored
    as its raw bytes (a BLOB in the same column: SQLite columns hold any type); on other databases, whose
    text columns hold text only, as ``path_as_text``. Both read back through ``os.fsdecode``, so equality and
    folder-prefix queries (``session.under``) match it and it round-trips exactly.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, str):
            if dialect.name != "sqlite":
                return path_as_text(value)
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return os.fsencode(value)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, bytes):
            return os.fsdecode(value)
        return path_from_text(value) if isinstance(value, str) and dialect.name != "sqlite" else value


metadata = MetaData()

#: Image files, by absolute path; ``category_source`` is option, config, predicted or user.
images = Table(
    "images",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", StoredPath, nullable=False, unique=True),
    Column("content_hash", String(64), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime", Float, nullable=False),
    Column("width", Integer),
    Column("height", Integer),
    Column("category", String(32), index=True),
    Column("category_source", String(16)),
    Column("category_confidence", Float),
    Column("first_seen", DateTime, nullable=False, default=utcnow),
    Column("last_seen", DateTime, nullable=False, default=utcnow),
    Column("missing", Boolean, nullable=False, default=False, server_default=false()),
    # When the picture was taken (seconds since the epoch, UTC): EXIF DateTimeOriginal + SubSecTimeOriginal
    # (+ OffsetTimeOriginal), read when the file is scored; NULL when it has none (sorts fall back to mtime).
    Column("captured_at", Float),
    Index("ix_images_captured_at", "captured_at"),  # the burst window of stacks (migration 0014)
)

#: One score of one image by one model + adapter on one perceptual ``dimension`` (``iaa`` aesthetics, ``iqa``
#: technical quality, ``ista`` structure and texture; ``families.py``): score 0-100, std in score points, the
#: 101-way distribution, its provenance, and a copy of the image's category (kept in step) so rankings read
#: one index. A UniPercept evaluation writes one row per dimension in one transaction, the primary one first.
evaluations = Table(
    "evaluations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("image_id", Integer, ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    Column("model_name", Text, nullable=False),  # VARCHAR(200) before 0011 (SQLite never enforced it)
    Column("model_fingerprint", String(32), nullable=False),
    Column("adapter", String(200)),
    Column("score", Float, nullable=False),
    Column("std", Float, nullable=False),
    Column("distribution", JSON, nullable=False),
    Column("prompt_hash", String(64), nullable=False),
    Column("engine_version", String(32), nullable=False),
    Column("device", String(32), nullable=False),
    Column("dtype", String(32), nullable=False),
    Column("created_at", DateTime, nullable=False, default=utcnow, index=True),
    Column("current", Boolean, nullable=False, default=True, server_default=true()),
    Column("category", String(32)),
    Column("dimension", String(16), nullable=False, default=PRIMARY_DIMENSION, server_default=PRIMARY_DIMENSION),
    Index("ix_evaluations_current_score", "current", "score"),
    Index("ix_evaluations_image_model", "image_id", "model_fingerprint", "adapter"),
    Index("ix_evaluations_current_category_score", "current", "category", "score"),
    Index("ix_evaluations_current_dimension_category_score", "current", "dimension", "category", "score"),
    Index("ix_evaluations_current_dimension_score", "current", "dimension", "score"),
    Index("ix_evaluations_current_dimension_fingerprint_score", "current", "dimension", "model_fingerprint", "score"),
)

#: One attribute's critique text, attached to the evaluation it describes (indexed for search, SQLite FTS5).
critiques = Table(
    "critiques",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("evaluation_id", Integer, ForeignKey("evaluations.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("attribute", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime, nullable=False, default=utcnow),
)

#: The user's own decisions, appended (the latest row of an image is its state): score 0-100 and stars when
#: given as stars (NULL score: no stars, as after a pick of an unrated image or a clear); ``source`` ``user``
#: (``artimuse rate``, the gallery) or where ``ratings import`` read it (``xmp:lightroom``, ``xmp:darktable``,
#: ``xmp:embedded``, ``exif``); ``rejected``: a reject (score 0), kept but never trained on; ``picked``: a pick
#: flag, beside the stars (written to XMP as the pick label).
ratings = Table(
    "ratings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("image_id", Integer, ForeignKey("images.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("score", Float),
    Column("stars", Float),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("source", String(64), nullable=False, default="user", server_default="user", index=True),
    Column("rejected", Boolean, nullable=False, default=False, server_default=false()),
    Column("picked", Boolean, nullable=False, default=False, server_default=false()),
)

#: Files that could not be scored: a kind tag and a one-line message; open until ``resolved_at``.
errors = Table(
    "errors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", StoredPath, nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", DateTime, nullable=False, default=utcnow, index=True),
    Column("resolved_at", DateTime),  # set when the same file later succeeds (migration 0008)
    Index("ix_errors_open_path", "resolved_at", "path"),
)

#: The watcher's durable queue: a job is pending until its results commit, in the same transaction.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("path", StoredPath, nullable=False, index=True),
    Column("size", BigInteger),
    Column("mtime", Float),
    Column("status", String(16), nullable=False, default="pending"),
    Column("options", JSON),
    Column("evaluation_id", Integer, ForeignKey("evaluations.id", ondelete="SET NULL")),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("error", Text),
    Column("enqueued_at", DateTime, nullable=False, default=utcnow),
    Column("updated_at", DateTime, nullable=False, default=utcnow),
    Index("ix_jobs_status_kind", "status", "kind", "id"),
)

#: LoRA adapters fine-tuned on the user's ratings (their files live under the home).
adapters = Table(
    "adapters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("path", StoredPath, nullable=False),
    Column("base_model", Text, nullable=False),
    Column("base_fingerprint", String(32), nullable=False),
    Column("train_size", Integer, nullable=False),
    Column("val_size", Integer, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("hyperparameters", JSON, nullable=False),
    Column("created_at", DateTime, nullable=False, default=utcnow),
)

#: Each image's 64-bit perceptual hash (signed; ``stacks.hashing``), its four 16-bit chunks (indexed: the
#: multi-index search of ``library.stacks``) and its stack: the smallest image id among the members (NULL:
#: alone). Keyed by image id, so stacks follow moves and renames.
perceptual_hashes = Table(
    "perceptual_hashes",
    metadata,
    Column("image_id", Integer, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("hash", BigInteger, nullable=False),
    Column("part0", Integer, nullable=False, index=True),
    Column("part1", Integer, nullable=False, index=True),
    Column("part2", Integer, nullable=False, index=True),
    Column("part3", Integer, nullable=False, index=True),
    Column("stack_id", Integer, index=True),
)
