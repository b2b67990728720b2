"""Reading the library's lists: errors (open ones once per file), ratings (what fine-tuning learns from)
and adapters. Every method returns typed records (``records``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, literal, select

from ..categories import normalise_category
from .records import AdapterRecord, ErrorEntry, RatingRecord
from .session import LibrarySession, under
from .tables import adapters, errors, images, iso_utc, ratings

IMG = images.c


class Listings(LibrarySession):
    """Errors, ratings and adapters (mixed into ``Library``)."""

    def errors(self, *, limit: int = 100, since: datetime | None = None, everything: bool = False) -> list[ErrorEntry]:
        """Files that could not be scored, newest first: the open errors once per file, with how many times
        it failed and its latest reason; ``everything``: every error ever recorded, each
        with when it was resolved (None while open)."""
        X = errors.c
        if everything:
            query = select(errors, literal(1).label("times")).order_by(X.created_at.desc(), X.id.desc())
        else:
            per_file = (
                select(func.max(X.id).label("last_id"), func.count().label("times"))
                .where(X.resolved_at.is_(None))
                .group_by(X.path)
                .subquery()
            )
            query = (
                select(errors, per_file.c.times)
                .join(per_file, per_file.c.last_id == X.id)
                .order_by(X.created_at.desc(), X.id.desc())
            )
        if since:
            query = query.where(X.created_at >= since)

        def read(conn: Connection) -> list[ErrorEntry]:
            return [
                ErrorEntry(
                    e.path,
                    e.kind,
                    e.message,
                    iso_utc(e.created_at),
                    count=e.times,
                    resolved_at=iso_utc(e.resolved_at) if e.resolved_at else None,
                )
                for e in conn.execute(query.limit(limit))
            ]

        return self._run(read, write=False)

    def open_errors(self) -> int:
        """How many files have an open error (what ``status`` and ``stats`` count)."""
        query = select(func.count(func.distinct(errors.c.path))).where(errors.c.resolved_at.is_(None))
        return self._run(lambda c: c.scalar(query) or 0, write=False)

    def adapters(self) -> list[AdapterRecord]:
        """Every registered adapter, oldest first."""
        query = select(adapters).order_by(adapters.c.created_at)
        return self._run(lambda c: [adapter_record(a) for a in c.execute(query)], write=False)

    def adapter(self, name: str) -> AdapterRecord | None:
        """One adapter's record by name (None when there is none)."""
        row = self._run(lambda c: c.execute(select(adapters).where(adapters.c.name == name)).first(), write=False)
        return adapter_record(row) if row else None

    def ratings(
        self,
        *,
        category: str | None = None,
        folder: str | os.PathLike | None = None,
        sources: Iterable[str] | None = None,
        include_rejected: bool = False,
    ) -> list[RatingRecord]:
        """The latest rating of each image that still exists and has stars or a score: what fine-tuning
        learns from. ``sources``: only ratings from these (``user``, ``xmp:lightroom``...); a reject (the
        latest rating being one) is left out unless ``include_rejected``."""
        R = ratings.c
        latest = select(R.image_id, func.max(R.id).label("rid")).group_by(R.image_id)
        if sources is not None:
            latest = latest.where(R.source.in_(list(sources)))
        chosen = latest.subquery()
        query = (
            select(IMG.path, R.score, R.stars, R.created_at, IMG.category, R.source, R.rejected, R.picked)
            .select_from(ratings.join(chosen, chosen.c.rid == R.id).join(images, IMG.id == R.image_id))
            .where(IMG.missing.is_(False), R.score.is_not(None))  # a pick without stars, a clear: no grade
        )
        if not include_rejected:
            query = query.where(R.rejected.is_(False))
        if category:
            query = query.where(IMG.category == normalise_category(category))
        if folder:
            query = query.where(under(folder))
        return self._run(
            lambda c: [
                RatingRecord(
                    r.path, r.score, r.stars, iso_utc(r.created_at), r.category, r.source, r.rejected, r.picked
                )
                for r in c.execute(query.order_by(IMG.id))
            ],
            write=False,
        )


def adapter_record(a: Any) -> AdapterRecord:
    """An ``AdapterRecord`` from a row of the adapters table."""
    return AdapterRecord(
        a.name,
        a.path,
        a.base_model,
        a.base_fingerprint,
        a.train_size,
        a.val_size,
        a.metrics,
        a.hyperparameters,
        iso_utc(a.created_at),
    )
