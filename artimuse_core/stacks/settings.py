"""The stack settings, declared once: when two pictures are one stack and how the best of a stack is chosen.

Each ``Setting`` (the declaration type of the engine's ``spec.SETTINGS``) is a key of ``config.toml``, an
``ARTIMUSE_<NAME>`` environment variable and a command-line option of ``artimuse stacks`` and ``select``;
``Config.stacks`` holds the resolved values and ``stack_settings`` turns them into the ``StackSettings`` that
grouping and the library read. Nothing else writes a default or a help text for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
STACK_SETTING_NAMES = tuple(_BY_NAME)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|min|m)?\s*$")
#: ``stack_settings``' keywords -> the settings they set.
_KEYWORDS = {"threshold": "stack_threshold", "gap": "burst_gap", "burst_threshold": "burst_threshold", "k": "stack_k"}


@dataclass(frozen=True)
class StackSettings:
    """Resolved stack settings: ``threshold`` and ``burst_threshold`` in bits, ``gap`` in seconds, ``k`` the
    lower bound's multiple of the std."""

    threshold: int = 8
    gap: float = 2.0
    burst_threshold: int = 18
    k: float = 1.0


def stack_setting_named(name: str) -> Setting:
    """The declaration of one stack setting.

    Raises:
        InvalidValue: no stack setting has that name.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InvalidValue(f"unknown setting {name!r} (known: {', '.join(_BY_NAME)})") from None


def checked_stack_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The declared defaults with ``values`` (setting name -> value) on top, each checked by its declaration.

    Raises:
        InvalidValue: an unknown setting or a bad value (the message names the setting).
    """
    merged = {s.name: s.default for s in STACK_SETTINGS}
    for name, value in values.items():
        merged[name] = stack_setting_named(name).check(value)
    return merged


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
    values: Mapping[str, Any] | None = None,
    *,
    threshold: int | None = None,
    gap: float | None = None,
    burst_threshold: int | None = None,
    k: float | None = None,
) -> StackSettings:
    """The ``StackSettings`` of ``values`` (setting name -> value: ``Config.stacks``, as the config file and
    the ``ARTIMUSE_<NAME>`` variables resolved them; None: the defaults) with the keywords given on top.

    Raises:
        InvalidValue: an unknown setting or a value out of its declared bounds (the message names it).
    """
    given = {"threshold": threshold, "gap": gap, "burst_threshold": burst_threshold, "k": k}
    chosen = {**(values or {}), **{_KEYWORDS[key]: v for key, v in given.items() if v is not None}}
    v = checked_stack_values(chosen)
    return StackSettings(v["stack_threshold"], v["burst_gap"], v["burst_threshold"], v["stack_k"])


__all__ = [
    "STACK_SETTINGS",
    "STACK_SETTING_NAMES",
    "StackSettings",
    "checked_stack_values",
    "parse_gap",
    "stack_setting_named",
    "stack_settings",
]
