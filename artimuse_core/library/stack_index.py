"""The library's index of perceptual hashes: an arriving picture meets only its candidates and joins (merging)
the stacks of those it links to, in the caller's transaction (the score's own, when the door records it).

Candidates are the rows whose 16-bit hash chunks (``part0``..``part3``, each indexed) lie within
``threshold // 4`` bits of its own (multi-index hashing: two hashes at most ``threshold`` bits apart share a
chunk at most that far apart; larger thresholds read every hash) and the pictures taken within the burst gap
(``images.captured_at``, indexed). Joining is an incremental union-find: the stack id is the smallest image id
of the merged members, so pictures arriving one by one, in any order, end in the stacks a regrouping of
everything gives (``stacks.grouping``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, or_, select, update

from ..stacks.grouping import group_stacks
from ..stacks.hashing import from_signed, hash_distance, to_signed
from ..stacks.settings import StackSettings
from .tables import images, perceptual_hashes

H, IMG = perceptual_hashes.c, images.c
_PARTS = (H.part0, H.part1, H.part2, H.part3)
#: Ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500
#: The largest per-chunk radius searched through the chunk indexes (137 values per chunk); beyond it, all rows.
_MAX_RADIUS = 2


def chunks(values: Sequence[Any]) -> Any:
    """``values`` in slices of ``CHUNK``."""
    for first in range(0, len(values), CHUNK):
        yield values[first : first + CHUNK]


def hash_parts(value: int) -> list[int]:
    """A hash's four 16-bit chunks, lowest first (``part0``..``part3``)."""
    return [(value >> (16 * i)) & 0xFFFF for i in range(4)]


def _variants(part: int, radius: int) -> list[int]:
    found = {part}
    for _ in range(radius):
        found |= {v ^ (1 << b) for v in found for b in range(16)}
    return sorted(found)


def join_stack(
    conn: Connection, image_id: int, value: int, captured_at: float | None, settings: StackSettings
) -> int | None:
    """Store one image's hash and merge it with the stacks of the pictures it links to; its stack id (None: alone)."""
    old = conn.execute(select(H.hash, H.stack_id).where(H.image_id == image_id)).first()
    if old is not None and from_signed(old.hash) == value and old.stack_id is not None:
        return int(old.stack_id)
    if old is not None:
        conn.execute(delete(perceptual_hashes).where(H.image_id == image_id))
        if old.stack_id is not None:
            _split(conn, old.stack_id, settings)  # new content: the rest of its old stack is grouped again
    parts = hash_parts(value)
    conn.execute(
        insert(perceptual_hashes).values(
            image_id=image_id, hash=to_signed(value), **{f"part{i}": p for i, p in enumerate(parts)}
        )
    )
    linked: dict[int, int] = {}  # image id -> its stack id (itself when alone)
    for row in _near_rows(conn, parts, settings.threshold):
        if row.image_id != image_id and hash_distance(value, from_signed(row.hash)) <= settings.threshold:
            linked[row.image_id] = row.stack_id or row.image_id
    if captured_at is not None and settings.gap > 0:
        window = and_(IMG.captured_at >= captured_at - settings.gap, IMG.captured_at <= captured_at + settings.gap)
        query = select(H.image_id, H.hash, H.stack_id).select_from(perceptual_hashes.join(images, IMG.id == H.image_id))
        for row in conn.execute(query.where(window)):
            if row.image_id != image_id and hash_distance(value, from_signed(row.hash)) <= settings.burst_threshold:
                linked[row.image_id] = row.stack_id or row.image_id
    if not linked:
        return None
    stack_ids = sorted(set(linked.values()))
    members = {image_id, *linked}
    for part in chunks(stack_ids):
        members.update(conn.scalars(select(H.image_id).where(H.stack_id.in_(part))))
    return set_stack(conn, sorted(members))


#: The candidates of one picture: rows with any chunk among the given values (one statement, compiled once and
#: cached; each call binds four expanding lists).
_NEAR = select(H.image_id, H.hash, H.stack_id).where(
    or_(*(column.in_(bindparam(f"near{i}", expanding=True)) for i, column in enumerate(_PARTS)))
)


def _near_rows(conn: Connection, parts: list[int], threshold: int) -> Any:
    radius = threshold // 4
    if radius > _MAX_RADIUS:
        return conn.execute(select(H.image_id, H.hash, H.stack_id))
    return conn.execute(_NEAR, {f"near{i}": _variants(p, radius) for i, p in enumerate(parts)})


def set_stack(conn: Connection, members: Sequence[int]) -> int:
    stack_id = min(members)
    for part in chunks(list(members)):
        conn.execute(update(perceptual_hashes).where(H.image_id.in_(part)).values(stack_id=stack_id))
    return stack_id


def _split(conn: Connection, stack_id: int, settings: StackSettings) -> None:
    """Group the remaining members of a stack again (one left: its member is alone)."""
    query = select(H.image_id, H.hash, IMG.captured_at).join(images, IMG.id == H.image_id).where(H.stack_id == stack_id)
    rows = conn.execute(query).all()
    conn.execute(update(perceptual_hashes).where(H.stack_id == stack_id).values(stack_id=None))
    found = group_stacks([from_signed(r.hash) for r in rows], [r.captured_at for r in rows], settings)
    for members in found:
        set_stack(conn, [rows[i].image_id for i in members])


__all__ = ["CHUNK", "chunks", "hash_parts", "join_stack", "set_stack"]
