"""Stacks in the library: each image's perceptual hash and stack (``tables.perceptual_hashes``), kept up to
date as files arrive, and the stacks read back with the best of each (``stacks.best``).

A scored file joins its stack in its score's own transaction (``Writes.record_scores`` with the hash the door
computed); a file scored before stacks existed joins when the door next meets it (``record_hashes``). The
search and the merge are ``stack_index``'s. Stacks are kept for the settings in force when the pictures
arrived (``stacks.settings``); listing with other settings groups the stored hashes again in memory
(``stacks.grouping``), without writing; ``regroup_stacks`` rewrites them all.
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, or_, select, update

from ..errors import InvalidValue, LibraryError
from ..families import PRIMARY_DIMENSION
from ..paths import path_key
from ..stacks.best import StackMember, StackRecord, make_stack, ranked
from ..stacks.grouping import group_stacks
from ..stacks.hashing import file_hashes, from_signed
from ..stacks.settings import StackSettings
from .records import ScoredFile
from .session import LibrarySession, under
from .stack_index import chunks, join_stack, set_stack
from .stack_members import members as _members
from .tables import evaluations, images, perceptual_hashes

H, IMG, E = perceptual_hashes.c, images.c, evaluations.c


@dataclass(frozen=True)
class RejectOutcome:
    """What ``reject_rest_of_stack`` did: ``kept`` (the path kept), ``rejected`` (paths now rejected),
    ``already`` (paths that were rejected before), ``gone`` (members whose file is no longer on disk: passed
    over, nothing to decide), ``stack_id`` (None: the picture is in no stack)."""

    kept: str
    rejected: tuple[str, ...] = ()
    already: tuple[str, ...] = ()
    stack_id: int | None = None
    gone: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


class Stacks(LibrarySession):
    """The library's stacks (part of ``Library``)."""

    def unhashed(self, paths: Iterable[str | os.PathLike[str]]) -> list[str]:
        """Those of ``paths`` (any spelling) that are library images without a perceptual hash yet."""
        keys = [path_key(p) for p in paths]

        def read(conn: Connection) -> list[str]:
            found: list[str] = []
            for part in chunks(keys):
                query = (
                    select(IMG.path)
                    .select_from(images.outerjoin(perceptual_hashes, H.image_id == IMG.id))
                    .where(IMG.path.in_(part), H.image_id.is_(None))
                )
                found.extend(conn.scalars(query))
            return found

        return self._run(read, write=False) if keys else []

    def record_hashes(self, hashed: Mapping[str, int], settings: StackSettings | None = None) -> int:
        """Store the perceptual hash of each path (a library image; others are left out) and join it to its
        stack, in one transaction; returns how many of them are now in a stack of two or more."""
        chosen = settings or self.config.stack_settings()
        keyed = {path_key(p): h for p, h in hashed.items()}

        def write(conn: Connection) -> int:
            stacked = 0
            for path, value in keyed.items():
                row = conn.execute(select(IMG.id, IMG.captured_at).where(IMG.path == path)).first()
                if row is not None and join_stack(conn, row.id, value, row.captured_at, chosen) is not None:
                    stacked += 1
            return stacked

        return self._run(write) if keyed else 0

    def regroup_stacks(self, settings: StackSettings | None = None) -> int:
        """Group every stored hash again (after a change of the stack settings); returns the number of stacks."""
        chosen = settings or self.config.stack_settings()

        def write(conn: Connection) -> int:
            ids, hashes, times = _hashed(conn, ())
            conn.execute(update(perceptual_hashes).values(stack_id=None))
            found = group_stacks(hashes, times, chosen)
            for members in found:
                set_stack(conn, [ids[i] for i in members])
            return len(found)

        return self._run(write)

    def stacks(
        self,
        folders: Sequence[str | os.PathLike[str]] = (),
        *,
        settings: StackSettings | None = None,
        include_missing: bool = False,
    ) -> list[StackRecord]:
        """The stacks of two or more pictures (of their members inside ``folders``, when given), each with its
        best and the reason, the largest first (then by id). ``settings`` None: the stored stacks, ranked by
        the resolved ``stack_k``; other settings group the stored hashes again in memory."""
        chosen = settings or self.config.stack_settings()

        def read(conn: Connection) -> list[StackRecord]:
            if settings is None or _grouping(settings) == _grouping(self.config.stack_settings()):
                groups = _stored_groups(conn, folders, include_missing)
            else:
                ids, hashes, times = _hashed(conn, folders, include_missing)
                groups = [[ids[i] for i in members] for members in group_stacks(hashes, times, chosen)]
            members = _members(conn, [i for g in groups for i in g])
            found = [make_stack([members[i] for i in g], chosen.k) for g in groups]
            return sorted(found, key=lambda s: (-s.size, s.id))

        return self._run(read, write=False)

    def stack_of(self, path: str | os.PathLike[str], settings: StackSettings | None = None) -> StackRecord | None:
        """The stored stack of the picture at ``path`` (None: it is alone, or not in the library)."""
        return self.stacks_of([path], settings).get(path_key(path))

    def stacks_of(
        self, paths: Iterable[str | os.PathLike[str]], settings: StackSettings | None = None
    ) -> dict[str, StackRecord]:
        """The stored stack of each picture at ``paths`` that is in one, keyed by the library's spelling of its
        path (``path_key``): what a page of the gallery shows, in one read (three queries however many stacks
        the page meets) where ``stack_of`` for each would read once per picture."""
        chosen = settings or self.config.stack_settings()
        keys = list(dict.fromkeys(path_key(p) for p in paths))

        def read(conn: Connection) -> dict[str, StackRecord]:
            stack_of: dict[str, int] = {}
            for part in chunks(keys):
                query = (
                    select(IMG.path, H.stack_id)
                    .select_from(perceptual_hashes.join(images, IMG.id == H.image_id))
                    .where(IMG.path.in_(part), H.stack_id.is_not(None))
                )
                stack_of.update((path, stack_id) for path, stack_id in conn.execute(query))
            groups: dict[int, list[int]] = defaultdict(list)
            for part in chunks(sorted(set(stack_of.values()))):
                query = select(H.stack_id, H.image_id).where(H.stack_id.in_(part)).order_by(H.image_id)
                for stack_id, image_id in conn.execute(query):
                    groups[stack_id].append(image_id)
            members = _members(conn, [i for ids in groups.values() for i in ids])
            records = {sid: make_stack([members[i] for i in ids], chosen.k) for sid, ids in groups.items()}
            return {path: records[sid] for path, sid in stack_of.items() if sid in records}

        return self._run(read, write=False) if keys else {}

    def select(
        self,
        folder: str | os.PathLike[str],
        count: int,
        *,
        distinct: bool = False,
        settings: StackSettings | None = None,
    ) -> list[StackMember]:
        """The best ``count`` scored pictures inside ``folder`` by the best-of-stack rule (``stacks.best``:
        picks, stars, then the highest lower bound), rejects left out; ``distinct``: at most one per stack
        (the stored stacks, or ``settings``' grouping when it differs)."""
        chosen = settings or self.config.stack_settings()

        def read(conn: Connection) -> list[int]:
            scored = select(E.image_id).where(E.current.is_(True), E.dimension == PRIMARY_DIMENSION)
            query = select(IMG.id).where(IMG.id.in_(scored), *_folder_filter([folder], False)).order_by(IMG.id)
            return list(conn.scalars(query))

        ids = self._run(read, write=False)
        members = self._run(lambda conn: _members(conn, ids), write=False)
        order = [m for m in ranked(list(members.values()), chosen.k) if not m.rejected]
        if not distinct:
            return order[:count]
        stack_of = {m.image_id: s.id for s in self.stacks([folder], settings=settings) for m in s.members}
        picked: list[StackMember] = []
        seen: set[int] = set()
        for member in order:
            key = stack_of.get(member.image_id, member.image_id)  # a stack's id is one of its members' ids
            if key not in seen:
                seen.add(key)
                picked.append(member)
            if len(picked) == count:
                break
        return picked

    def reject_rest_of_stack(
        self, path: str | os.PathLike[str], keep: Iterable[str | os.PathLike[str]] = ()
    ) -> RejectOutcome:
        """Reject every other member of the stack of ``path`` (kept as it is, as is every picture in ``keep``:
        the others the user named at the same time); each reject is a decision like ``rate --reject``
        (appended, so it can be undone with a clear or new stars). A member whose file is gone is passed over.

        Raises:
            InvalidValue: the picture is not in the library.
        """
        key = path_key(path)
        if self.image_id(key) is None:  # type: ignore[attr-defined]
            raise InvalidValue(f"{key} is not in the library: score it first")
        stack = self.stack_of(key)
        if stack is None:
            return RejectOutcome(kept=key)
        kept = {key, *(path_key(p) for p in keep)}
        rejected, already, gone = [], [], []
        for member in stack.members:
            if member.path in kept:
                continue
            if member.rejected:
                already.append(member.path)
                continue
            try:
                if not os.path.lexists(member.path):
                    raise FileNotFoundError(member.path)
                self.rate_image(member.image_id, rejected=True)  # type: ignore[attr-defined]
            except FileNotFoundError:  # deleted since it was scored (or while this ran)
                gone.append(member.path)
            else:
                rejected.append(member.path)
        return RejectOutcome(key, tuple(rejected), tuple(already), stack.id, tuple(gone))


def stack_files(library: Stacks, paths: Sequence[str]) -> None:
    """Hash recorded files (``stacks.hashing.file_hashes``) and join each to its stack: what the door does
    for every file it records. A failure to write leaves them unstacked (their scores are saved, and the next
    run that meets them, cached, stacks them): grouping never fails a score."""
    if not paths:
        return
    with contextlib.suppress(LibraryError):
        library.record_hashes(file_hashes(paths))


def hash_scored(items: Sequence[ScoredFile]) -> None:
    """Set each scored file's ``perceptual_hash`` (files that cannot be decoded keep None: no stack)."""
    hashes = file_hashes([item.result.path for item in items])
    for item in items:
        item.perceptual_hash = hashes.get(item.result.path)


def _grouping(settings: StackSettings) -> tuple[int, float, int]:
    return settings.threshold, settings.gap, settings.burst_threshold


def _folder_filter(folders: Sequence[str | os.PathLike[str]], include_missing: bool) -> list[Any]:
    conditions: list[Any] = [] if include_missing else [IMG.missing.is_(False)]
    if folders:
        conditions.append(or_(*(under(f) for f in folders)))
    return conditions


def _hashed(
    conn: Connection, folders: Sequence[str | os.PathLike[str]], include_missing: bool = True
) -> tuple[list[int], list[int], list[float | None]]:
    """(image ids, hashes, capture times) of every hashed image (inside ``folders``), by image id."""
    query = (
        select(H.image_id, H.hash, IMG.captured_at)
        .join(images, IMG.id == H.image_id)
        .where(*_folder_filter(folders, include_missing))
        .order_by(H.image_id)
    )
    rows = conn.execute(query).all()
    return [r.image_id for r in rows], [from_signed(r.hash) for r in rows], [r.captured_at for r in rows]


def _stored_groups(
    conn: Connection, folders: Sequence[str | os.PathLike[str]], include_missing: bool
) -> list[list[int]]:
    query = (
        select(H.stack_id, H.image_id)
        .join(images, IMG.id == H.image_id)
        .where(H.stack_id.is_not(None), *_folder_filter(folders, include_missing))
        .order_by(H.stack_id, H.image_id)
    )
    groups: dict[int, list[int]] = defaultdict(list)
    for row in conn.execute(query):
        groups[row.stack_id].append(row.image_id)
    return [g for g in groups.values() if len(g) > 1]


__all__ = ["RejectOutcome", "Stacks", "hash_scored", "stack_files"]
