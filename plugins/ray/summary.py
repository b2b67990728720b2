"""What a batch run did, for the one line on stderr and the ``--json`` object (no Ray here)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class BatchSummary:
    """What a run did: counts by status (scored, failed, passed_over, gone) of the rows it wrote; inputs
    ``skipped`` because the output already held them for these weights (``skipped_failed`` of them as
    failed rows, kept unless ``--retry-failed``); ``retried``: failed rows removed to be scored again;
    ``duplicates_dropped``: rows Ray delivered twice and not written twice (0 unless Ray retried a task);
    ``took_over``: why an earlier run's lease was stale, when it was; ``ray``: where it ran; ``seconds``:
    of the Ray pipeline, from the first task to the last row written."""

    statuses: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    skipped_failed: int = 0
    retried: int = 0
    duplicates_dropped: int = 0
    seconds: float = 0.0
    output: str = ""
    parts_written: int = 0
    took_over: str | None = None
    ray: str | None = None
    placement: str | None = None

    @property
    def written(self) -> int:
        return sum(self.statuses.values())

    @property
    def images_per_second(self) -> float:
        done = self.statuses["scored"] + self.statuses["failed"]
        return done / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """``"180 scored, 3 failed, 2 passed over, 15 skipped (already in results.parquet); 12.3 images/s"``,
        saying how many skipped rows are failures that ``--retry-failed`` would score again."""
        counts = [f"{self.statuses['scored']} scored", f"{self.statuses['failed']} failed"]
        others = sorted((k, n) for k, n in self.statuses.items() if k not in ("scored", "failed"))
        counts += [f"{n} {k.replace('_', ' ')}" for k, n in others]
        failed = (
            f"; {self.skipped_failed} of them failed: --retry-failed scores them again" if self.skipped_failed else ""
        )
        counts.append(f"{self.skipped} skipped (already in {self.output}{failed})")
        if self.retried:
            counts.append(f"{self.retried} failed row(s) scored again")
        if self.duplicates_dropped:
            counts.append(f"{self.duplicates_dropped} duplicate row(s) from Ray not written")
        return ", ".join(counts) + f"; {self.images_per_second:.1f} images/s"

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: self.statuses[k] for k in ("scored", "failed", "passed_over", "gone")},
            "skipped": self.skipped,
            "skipped_failed": self.skipped_failed,
            "retried": self.retried,
            "duplicates_dropped": self.duplicates_dropped,
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 3),
            "output": self.output,
            "parts_written": self.parts_written,
            "took_over": self.took_over,
            "ray": self.ray,
            "placement": self.placement,
        }
