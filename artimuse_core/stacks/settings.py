"""The stack settings, declared once: when two pictures are one stack and how the best of a stack is chosen.

Each ``Setting`` (the declaration type of the engine's ``spec.SETTINGS``) is an ``ARTIMUSE_<NAME>``
environment variable and a command-line option of ``artimuse stacks``, ``top --best-of-stack`` and ``select``;
``stack_settings`` resolves them (argument > environment > default) into the ``StackSettings`` that
grouping and the library read. Nothing else writes a default or a help text for them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidValue
from ..settings import Kind, Setting


def _stack(name: str, kind: Kind, default: Any, help: str, **extra: Any) -> Setting:
    return Setting(name, kind, default, help, stage="stacks", **extra)


STACK_SETTINGS: tuple[Setting, ...] = (
    _stack(
        "stack_threshold",
        "int",
        8,
        "Near-duplicates: two pictures whose 64-bit perceptual hashes differ in at most this many bits are one "
        "stack, whenever they were taken (a re-export, a resized copy, an AIGC batch's near-identical seeds).",
        min=0,
        max=24,
        metavar="BITS",
    ),
    _stack(
        "burst_gap",
        "float",
        2.0,
        "Bursts: pictures taken at most this many seconds apart (EXIF DateTimeOriginal + SubSecTimeOriginal) "
        "whose hashes differ in at most burst_threshold bits are one stack; 0 turns bursts off.",
        min=0,
        metavar="SECONDS",
    ),
    _stack(
        "burst_threshold",
        "int",
        18,
        "The looser hash distance (bits) for pictures of one burst: frames seconds apart (a drifting camera, "
        "a moving subject) differ more than copies do; unrelated pictures differ in about 32 of 64 bits.",
        min=0,
        max=32,
        metavar="BITS",
    ),
    _stack(
        "stack_k",
        "float",
        1.0,
        "The best of a stack has the highest lower bound, score - k x std: k = 0 trusts the mean score, larger k "
        "prefers pictures the model is sure of. Your own picks and stars always win over the model.",
        min=0,
        metavar="K",
    ),
)
_BY_NAME = {s.name: s for s in STACK_SETTINGS}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|min|m)?\s*$")


@dataclass(frozen=True)
class StackSettings:
    """Resolved stack settings: ``threshold`` and ``burst_threshold`` in bits, ``gap`` in seconds, ``k`` the
    lower bound's multiple of the std."""

    threshold: int = 8
    gap: float = 2.0
    burst_threshold: int = 18
    k: float = 1.0


def parse_gap(text: str) -> float:
    """A time gap as written on a command line (``2s``, ``500ms``, ``1.5``, ``1min``) -> seconds.

    Raises:
        InvalidValue: not a duration.
    """
    match = _DURATION.match(text)
    if not match:
        raise InvalidValue(f"burst_gap must be a duration such as 2s, 500ms or 1.5, not {text!r}")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value / 1000 if unit == "ms" else value * 60 if unit in ("min", "m") else value


def stack_settings(
    *,
    threshold: int | None = None,
    gap: float | None = None,
    burst_threshold: int | None = None,
    k: float | None = None,
    environ: dict[str, str] | None = None,
) -> StackSettings:
    """The stack settings: each given value, else its ``ARTIMUSE_<NAME>`` environment variable, else the default.

    Raises:
        InvalidValue: a value out of its declared bounds (the message names the setting).
    """
    env = os.environ if environ is None else environ
    given = {"stack_threshold": threshold, "burst_gap": gap, "burst_threshold": burst_threshold, "stack_k": k}
    values: dict[str, Any] = {}
    for name, value in given.items():
        setting = _BY_NAME[name]
        if value is None and setting.env_var in env:
            text = env[setting.env_var]
            value = parse_gap(text) if name == "burst_gap" else setting.parse(text)
        values[name] = setting.default if value is None else setting.check(value)
    return StackSettings(values["stack_threshold"], values["burst_gap"], values["burst_threshold"], values["stack_k"])


__all__ = ["STACK_SETTINGS", "StackSettings", "parse_gap", "stack_settings"]
