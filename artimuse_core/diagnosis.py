"""What `artimuse doctor` reports, as data: the facts found, the blockers (each ``Problem`` with its fix),
the notes, and the speed to expect. ``doctor`` fills one ``Diagnosis``; ``fitting`` adds the memory verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .machine import SpeedEstimate

GB = 1e9


@dataclass(frozen=True)
class Problem:
    """A blocker: what is wrong, in one line, and what to do about it."""

    problem: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"problem": self.problem, "fix": self.fix}


@dataclass
class Diagnosis:
    """Everything `artimuse doctor` found: ``facts`` (versions, device, checkpoint, memory...), ``problems``
    (the blockers, each with its fix), ``notes`` (what loading would say) and the speed to expect."""

    facts: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    speed: SpeedEstimate | None = None

    @property
    def ready(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.facts,
            "speed": self.speed.describe() if self.speed else None,
            "speed_estimate": self.speed.to_dict() if self.speed else None,
            "notes": list(self.notes),
            "problems": [p.to_dict() for p in self.problems],
            "ready": self.ready,
        }


__all__ = ["GB", "Diagnosis", "Problem"]
