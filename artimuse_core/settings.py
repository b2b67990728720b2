"""The declaration type of one setting: its kind, stage, default, bounds and help, and how a value written as
text or given as Python is checked against it.

Engine settings (``spec.SETTINGS``, declared on ``EngineSpec``) and the XMP settings (``xmp.settings``) are
``Setting``s; the CLI's options, ComfyUI's inputs, the config file and the environment read them. A setting's
``stage`` says which part of the work reads it, so that what groups settings (the weights' cache key, the
decoding options, the loader's inputs, what ``doctor`` takes) is derived from the declarations instead of
written as a list beside them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import InvalidValue

#: How a setting's value is written: ``str``, ``choice`` (one of ``choices``), ``int``, ``float``, ``floats`` (a
#: tuple of numbers written ``20,40,60,80``), ``bool``, ``rgb`` (an (r, g, b) triple of 0-255).
Kind = Literal["str", "choice", "int", "float", "floats", "bool", "rgb"]
#: Which part of the work reads a setting. ``weights``: which weights are loaded and where (one copy per
#: process per value: ``engine_cache``'s key); ``engine``: an engine over loaded weights (prompts and
#: dimensions, images per forward, decode threads; a change never loads a second copy); ``image``: how a
#: file becomes pixels (``images.ImageOptions``); ``call``: one call's work (the longest critique);
#: ``xmp``: what XMP sidecars hold; ``stacks``: how near-duplicates and bursts are grouped and the best is picked.
Stage = Literal["weights", "engine", "image", "call", "xmp", "stacks"]
STAGES: tuple[Stage, ...] = ("weights", "engine", "image", "call", "xmp", "stacks")

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_NONE = {"", "none", "auto", "null"}


@dataclass(frozen=True)
class Setting:
    """The declaration of one setting.

    ``kind`` is one of ``Kind``; ``stage`` one of ``Stage`` (which part of the work reads it); ``min``/``max``
    bound numbers. ``optional`` settings also accept None (meaning "none" or "automatic", as ``help`` says).
    """

    name: str
    kind: Kind
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    min: int | None = None
    max: int | None = None
    optional: bool = False
    metavar: str | None = None
    stage: Stage = field(kw_only=True)

    @property
    def env_var(self) -> str:
        """The environment variable that overrides this setting: ``ARTIMUSE_<NAME>``."""
        return f"ARTIMUSE_{self.name.upper()}"

    def describe(self) -> dict[str, Any]:
        """(name, type, stage, default, choices, min, max, help) as a dict: what a host needs to build an input."""
        return {
            "name": self.name,
            "type": self.kind,
            "stage": self.stage,
            "default": self.default,
            "choices": self.choices,
            "min": self.min,
            "max": self.max,
            "optional": self.optional,
            "help": self.help,
        }

    def parse(self, text: str) -> Any:
        """A value written as text (environment, command line, TOML string) -> a checked value.

        Raises:
            InvalidValue: the text is not a valid value of this setting (the message names the setting).
        """
        raw = text.strip()
        if self.optional and raw.lower() in _NONE:
            return None
        if self.kind == "int":
            try:
                return self.check(int(raw))
            except ValueError:
                raise InvalidValue(f"{self.name} must be {self._expected()}, not {text!r}") from None
        if self.kind == "bool":
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            raise InvalidValue(f"{self.name} must be true or false, not {text!r}")
        if self.kind in ("float", "floats"):
            try:
                numbers = tuple(float(v) for v in raw.split(","))
                return self.check(numbers[0] if self.kind == "float" and len(numbers) == 1 else numbers)
            except ValueError:
                raise InvalidValue(f"{self.name} must be {self._expected()}, not {text!r}") from None
        if self.kind == "rgb":
            try:
                return self.check(tuple(int(v) for v in raw.split(",")))
            except ValueError:
                raise InvalidValue(f"{self.name} must be {self._expected()}, not {text!r}") from None
        return self.check(raw)

    def check(self, value: Any) -> Any:
        """Validate a typed value (as Python or TOML gives it) and return it normalised.

        Raises:
            InvalidValue: wrong type, not one of the choices, or out of bounds.
        """
        if value is None:
            if self.optional:
                return None
            raise InvalidValue(f"{self.name} must be {self._expected()}, not None")
        if self.kind in ("str", "choice"):
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            if not isinstance(value, str) or not value:
                raise InvalidValue(f"{self.name} must be {self._expected()}, not {value!r}")
            if self.choices and value not in self.choices:
                raise InvalidValue(f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}")
            if self.name == "device" and not _DEVICE.match(value):
                raise InvalidValue(f"device must be auto, cpu, cuda, cuda:N or mps, not {value!r}")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise InvalidValue(f"{self.name} must be true or false, not {value!r}")
            return value
        if self.kind == "int":
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or (self.min is not None and value < self.min)
                or (self.max is not None and value > self.max)
            ):
                raise InvalidValue(f"{self.name} must be {self._expected()}, not {value!r}")
            return value
        if self.kind in ("float", "floats"):
            if isinstance(value, str):
                return self.parse(value)
            numbers = (value,) if self.kind == "float" else tuple(value) if isinstance(value, (list, tuple)) else ()
            if not numbers or not all(self._in_bounds(v) for v in numbers):
                raise InvalidValue(f"{self.name} must be {self._expected()}, not {value!r}")
            return float(value) if self.kind == "float" else tuple(float(v) for v in numbers)
        if self.kind == "rgb":
            if isinstance(value, str):
                return self.parse(value)
            try:
                rgb = tuple(value)
            except TypeError:
                rgb = ()
            if len(rgb) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in rgb):
                raise InvalidValue(f"{self.name} must be {self._expected()}, not {value!r}")
            return rgb
        raise AssertionError(f"unknown setting kind {self.kind}")  # pragma: no cover - a declaration bug

    def _in_bounds(self, value: Any) -> bool:
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)  # not NaN, not infinite (a JSON number, a usable bound)
            and (self.min is None or value >= self.min)
            and (self.max is None or value <= self.max)
        )

    def _expected(self) -> str:
        if self.kind in ("float", "floats"):
            bounds = f" from {self.min} to {self.max}" if self.min is not None and self.max is not None else ""
            text = ("a number" if self.kind == "float" else "numbers separated by commas") + bounds
        elif self.kind == "int":
            low = f"from {self.min}" if self.min is not None else ""
            high = f" to {self.max}" if self.max is not None else ""
            text = f"a whole number {low}{high}".rstrip()
        elif self.kind == "rgb":
            text = "three numbers 0-255 like 255,255,255"
        elif self.kind == "choice":
            text = "one of " + ", ".join(self.choices or ())
        else:
            text = "a non-empty string"
        return text + (" (or none)" if self.optional else "")


def named_in(declared: Mapping[str, Setting], name: str) -> Setting:
    """The declaration called ``name`` among ``declared`` (name -> setting: one group, such as the XMP ones).

    Raises:
        InvalidValue: none has that name (the message lists the known ones).
    """
    try:
        return declared[name]
    except KeyError:
        raise InvalidValue(f"unknown setting {name!r} (known: {', '.join(declared)})") from None


def checked_values(declared: Mapping[str, Setting], values: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults of ``declared`` (name -> setting) with ``values`` on top, each checked by its declaration.

    Raises:
        InvalidValue: an unknown setting or a bad value (the message names the setting).
    """
    merged = {name: setting.default for name, setting in declared.items()}
    for name, value in values.items():
        merged[name] = named_in(declared, name).check(value)
    return merged


__all__ = ["Kind", "STAGES", "Setting", "Stage", "checked_values", "named_in"]
