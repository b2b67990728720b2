"""Who the members of stacks are: each image's path, hash, capture time, current scores (the newest current
evaluation of the primary dimension, and the other dimensions of its model), its critiques and the user's
latest decision, read in chunks of ids (``stacks.best.StackMember``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from ..families import PRIMARY_DIMENSION
from ..stacks.best import StackMember
from ..stacks.hashing import from_signed, hash_hex
from .decisions import latest_decisions
from .stack_index import chunks
from .tables import critiques, evaluations, images, perceptual_hashes

H, IMG, E = perceptual_hashes.c, images.c, evaluations.c


def members(conn: Connection, image_ids: Sequence[int]) -> dict[int, StackMember]:
    """Each image's ``StackMember``: path, hash, capture time, current scores (the newest current primary
    evaluation and the other dimensions of its model), its critiques and the latest decision."""
    decision = latest_decisions()
    found: dict[int, StackMember] = {}
    for part in chunks(list(image_ids)):
        base = (
            select(IMG.id, IMG.path, IMG.captured_at, H.hash, decision.c.score, decision.c.stars)
            .add_columns(func.coalesce(decision.c.picked, False).label("picked"))
            .add_columns(func.coalesce(decision.c.rejected, False).label("rejected"))
            .select_from(
                images.outerjoin(perceptual_hashes, H.image_id == IMG.id).outerjoin(
                    decision, decision.c.image_id == IMG.id
                )
            )
            .where(IMG.id.in_(part))
        )
        scores = (
            select(E.id, E.image_id, E.score, E.std, E.dimension, E.model_fingerprint, E.created_at)
            .where(E.image_id.in_(part), E.current.is_(True))
            .order_by(E.created_at, E.id)
        )
        primary: dict[int, Any] = {}
        rows = conn.execute(scores).all()
        for r in rows:
            if r.dimension == PRIMARY_DIMENSION:
                primary[r.image_id] = r  # the newest wins
        dimensions: dict[int, dict[str, float]] = defaultdict(dict)
        for r in rows:
            chosen = primary.get(r.image_id)
            if chosen is not None and r.model_fingerprint == chosen.model_fingerprint:
                dimensions[r.image_id][r.dimension] = r.score
        texts: dict[int, dict[str, str]] = defaultdict(dict)
        by_evaluation = {r.id: image for image, r in primary.items()}
        if by_evaluation:
            query = select(critiques.c.evaluation_id, critiques.c.attribute, critiques.c.text)
            for c in conn.execute(
                query.where(critiques.c.evaluation_id.in_(list(by_evaluation))).order_by(critiques.c.id)
            ):
                texts[by_evaluation[c.evaluation_id]][c.attribute] = c.text
        for r in conn.execute(base):
            scored = primary.get(r.id)
            found[r.id] = StackMember(
                image_id=r.id,
                path=r.path,
                score=None if scored is None else scored.score,
                std=None if scored is None else scored.std,
                rating=None if r.rejected else r.score,
                stars=r.stars,
                picked=bool(r.picked),
                rejected=bool(r.rejected),
                captured_at=r.captured_at,
                hash=None if r.hash is None else hash_hex(from_signed(r.hash)),
                dimensions=dict(dimensions.get(r.id, {})) if len(dimensions.get(r.id, {})) > 1 else {},
                critiques=dict(texts.get(r.id, {})),
            )
    return found


__all__ = ["members"]
