"""The best of a stack, and why: the user's own pick and stars win over the model; among the rest, the
highest lower bound (score - k x std, the score the model is fairly sure of: ``settings.stack_k``); ties go to
the higher score, then the smaller image id, so the choice never depends on the order rows were read in.

``StackMember`` and ``StackRecord`` are what the library's stack methods return; ``to_dict()`` is the JSON
of ``artimuse stacks --json``: ``members`` (paths, best first), ``best`` (a path), ``reason`` and ``details``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..paths import display_path


@dataclass(frozen=True)
class StackMember:
    """One picture of a stack: its image id and path; the model's current score and std (score points,
    None: not scored) and ``lower_bound`` (score - k x std); the user's latest decision (``rating`` 0-100,
    ``stars``, ``picked``, ``rejected``); ``captured_at`` (seconds since the epoch, None: unknown);
    ``hash`` (16 hex digits); ``dimensions`` (dimension -> score, UniPercept's three) and ``critiques``
    (attribute -> text) of the current evaluation."""

    image_id: int
    path: str
    score: float | None = None
    std: float | None = None
    lower_bound: float | None = None
    rating: float | None = None
    stars: float | None = None
    picked: bool = False
    rejected: bool = False
    captured_at: float | None = None
    hash: str | None = None
    dimensions: Mapping[str, float] = field(default_factory=dict)
    critiques: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class StackRecord:
    """One stack: ``id`` (the smallest image id among its members: stable across moves and renames),
    ``members`` best first, ``best`` (the best member's path), ``best_id`` and ``reason`` (one line: why)."""

    id: int
    members: tuple[StackMember, ...]
    best: str
    best_id: int
    reason: str

    @property
    def size(self) -> int:
        """How many pictures the stack holds."""
        return len(self.members)

    @property
    def rest(self) -> tuple[StackMember, ...]:
        """Every member but the best."""
        return tuple(m for m in self.members if m.image_id != self.best_id)

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "size", "members": [paths, best first], "best": path, "reason", "details": [members]}``."""
        return {
            "id": self.id,
            "size": self.size,
            "members": [m.path for m in self.members],
            "best": self.best,
            "reason": self.reason,
            "details": [m.to_dict() for m in self.members],
        }


def with_bound(member: StackMember, k: float) -> StackMember:
    """The member with its ``lower_bound`` for this k."""
    if member.score is None or member.std is None:
        return replace(member, lower_bound=None)
    return replace(member, lower_bound=member.score - k * member.std)


def _rank(m: StackMember) -> tuple[Any, ...]:
    """Sort key, best first: picked, not rejected, the user's rating, the lower bound, the score, the id."""
    missing = float("inf")
    return (
        not m.picked,
        m.rejected,
        -m.rating if m.rating is not None else missing,
        -m.lower_bound if m.lower_bound is not None else missing,
        -m.score if m.score is not None else missing,
        m.image_id,
    )


def ranked(members: Sequence[StackMember], k: float) -> list[StackMember]:
    """Members with their lower bounds, best first (see the module's rule)."""
    return sorted((with_bound(m, k) for m in members), key=_rank)


def make_stack(members: Sequence[StackMember], k: float) -> StackRecord:
    """The ``StackRecord`` of these members: ranked, with the best and the reason.

    Raises:
        ValueError: no members (a caller's bug).
    """
    if not members:
        raise ValueError("a stack has members")
    order = ranked(members, k)
    best = order[0]
    return StackRecord(min(m.image_id for m in order), tuple(order), best.path, best.image_id, reason(order, k))


def _name(member: StackMember) -> str:
    """The file name as a reason prints it: undecodable bytes as ``\\xNN`` (the reason is UTF-8 text)."""
    return display_path(Path(member.path).name)


def _scored(m: StackMember, k: float) -> str:
    if m.score is None or m.std is None or m.lower_bound is None:
        return f"{_name(m)} is not scored"
    return f"{_name(m)}: lower bound {m.lower_bound:.1f} = score {m.score:.1f} - {k:g} x std {m.std:.1f}"


def reason(order: Sequence[StackMember], k: float) -> str:
    """Why the first of ``order`` (ranked) is the best, in one line."""
    best = order[0]
    if len(order) == 1:
        return f"{_name(best)} is alone"
    runner = order[1]
    if best.picked and not runner.picked:
        why = f"your pick ({_name(best)})"
    elif best.rating is not None and not best.rejected and (runner.rating is None or best.rating > runner.rating):
        stars = f"{best.stars:g} stars" if best.stars is not None else f"{best.rating:g}"
        why = f"your rating, {stars}, is the highest ({_name(best)})"
    elif best.lower_bound is None:
        why = f"no member is scored: {_name(best)} by the smallest image id"
    elif runner.lower_bound is not None and best.lower_bound == runner.lower_bound:
        why = f"highest lower bound, tied: {_scored(best, k)}; {_scored(runner, k)}; the tie by score, then id"
    else:
        why = f"highest lower bound: {_scored(best, k)}; next {_scored(runner, k)}"
    strongest = strongest_dimension(best, runner)
    return f"{why}{'; ' + strongest if strongest else ''}"


def strongest_dimension(best: StackMember, runner: StackMember) -> str | None:
    """Where the best leads the runner-up most: the dimension (UniPercept's aesthetics, quality, structure)
    of the largest lead and, when the best has a critique, its first sentence on the attribute it covers
    (None when neither is known)."""
    parts = []
    shared = [d for d in best.dimensions if d in runner.dimensions and len(best.dimensions) > 1]
    if shared:
        lead = max(shared, key=lambda d: (best.dimensions[d] - runner.dimensions[d], d))
        parts.append(f"strongest in {lead} (+{best.dimensions[lead] - runner.dimensions[lead]:.1f})")
    if best.critiques:
        attribute = sorted(best.critiques)[0]
        sentence = best.critiques[attribute].strip().split(". ")[0].rstrip(".")
        if sentence:
            parts.append(f"critique on {attribute}: {sentence[:160]}")
    return "; ".join(parts) or None


__all__ = ["StackMember", "StackRecord", "make_stack", "ranked", "reason", "with_bound"]
