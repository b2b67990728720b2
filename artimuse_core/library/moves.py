"""Following files on disk: a rename or move keeps the image's row and history (``move``; ``adopt_moved``
when the library did not see it happen), a deleted file leaves the rankings (``mark_missing``)."""

from __future__ import annotations

import os

from sqlalchemy import Connection, select, update

from ..paths import path_key
from .records import FileFacts
from .session import LibrarySession, same_adapter, under
from .tables import evaluations, images, utcnow


class Moves(LibrarySession):
    """Following files (part of ``Library``): every write is one transaction."""

    def adopt_moved(self, facts: FileFacts, fingerprint: str, adapter: str | None) -> bool:
        """A file renamed or moved outside the watcher (``mv a.png b.png``): when an image with this exact
        content is missing from its old path and has a current evaluation by this model (+ adapter), its row
        and history follow the file to ``facts.path`` (so the door answers "cached"
        instead of running the model). False when there is no such image, or another image holds the path."""
        new_path = str(facts.path)
        scored = (
            select(evaluations.c.id)
            .where(
                evaluations.c.image_id == images.c.id,
                evaluations.c.current.is_(True),
                evaluations.c.model_fingerprint == fingerprint,
                same_adapter(adapter),
            )
            .exists()
        )

        def find(conn: Connection) -> int | None:
            if conn.scalar(select(images.c.id).where(images.c.path == new_path)) is not None:
                return None
            candidates = conn.execute(
                select(images.c.id, images.c.path, images.c.missing).where(
                    images.c.content_hash == facts.content_hash, scored
                )
            ).all()
            for candidate in candidates:
                if candidate.missing or not os.path.lexists(candidate.path):
                    return int(candidate.id)
            return None

        found = self._run(find, write=False)  # most new files have no twin: no write lock taken for them
        if found is None:
            return False

        def write(conn: Connection) -> bool:
            if conn.scalar(select(images.c.id).where(images.c.path == new_path)) is not None:
                return False
            values = {
                "path": new_path,
                "size": facts.size,
                "mtime": facts.mtime,
                "missing": False,
                "last_seen": utcnow(),
            }
            return conn.execute(update(images).where(images.c.id == found).values(**values)).rowcount > 0

        return self._run(write)

    def move(self, source: str | os.PathLike, destination: str | os.PathLike) -> bool:
        """Follow a rename/move: the image keeps its row and history under its new path."""
        old, new = path_key(source), path_key(destination)

        def write(conn: Connection) -> bool:
            taken = conn.scalar(select(images.c.id).where(images.c.path == new))
            if taken:
                return False
            return conn.execute(update(images).where(images.c.path == old).values(path=new)).rowcount > 0

        return self._run(write)

    def mark_missing_under(self, folder: str | os.PathLike) -> int:
        """Mark every image under ``folder`` missing (it leaves the rankings; history stays)."""
        return self._run(lambda c: c.execute(update(images).where(under(folder)).values(missing=True)).rowcount)

    def mark_missing(self, path: str | os.PathLike) -> bool:
        """Mark one image missing (deleted, or moved out of view); False when it is not in the library."""
        where = path_key(path)
        return self._run(
            lambda c: c.execute(update(images).where(images.c.path == where).values(missing=True)).rowcount > 0
        )
