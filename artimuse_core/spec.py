"""One engine spec: every setting a model run needs, declared once with its default, bounds and help.

``EngineSpec`` is what ``create_engine`` takes; ``Config`` holds one (defaults < config file < environment
``ARTIMUSE_<SETTING>`` < explicit arguments); the CLI generates its options and ComfyUI its node inputs
from ``SETTINGS``. Nothing else writes a default, a choice list or a help text for these settings.

Why a frozen dataclass and not pydantic v2: pydantic would fit the job (typed fields, bounds,
environment settings), but importing it costs ~220 ms on this project's 2-core machine, a third of the
~600 ms that ``import click, sqlalchemy`` takes, and every command (``artimuse top`` included) validates
its configuration. The CLI's latency goal (within 2x of that baseline, ``bench/cli_latency.py``) does not
leave room for it. The validation needed here (types, choices, integer bounds, one RGB triple) is small.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .checkpoints import DEFAULT_MODEL, KNOWN_MODELS
from .errors import InvalidValue
from .families import FAMILIES

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_NONE = {"", "none", "auto", "null"}


@dataclass(frozen=True)
class Setting:
    """The declaration of one setting.

    ``kind`` is one of ``str``, ``choice``, ``int``, ``float``, ``floats`` (a tuple of numbers written
    ``20,40,60,80``), ``bool``, ``rgb`` (an (r, g, b) triple of 0-255); ``min``/``max`` bound numbers.
    ``optional`` settings also accept None (meaning "none" or "automatic", as ``help`` says).
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    min: int | None = None
    max: int | None = None
    optional: bool = False
    metavar: str | None = None

    @property
    def env_var(self) -> str:
        """The environment variable that overrides this setting: ``ARTIMUSE_<NAME>``."""
        return f"ARTIMUSE_{self.name.upper()}"

    def describe(self) -> dict[str, Any]:
        """(name, type, default, choices, min, max, help) as a dict: what a host needs to build an input."""
        return {
            "name": self.name,
            "type": self.kind,
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
            and value == value  # not NaN
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


def _setting(default: Any, help: str, kind: str = "str", **extra: Any) -> Any:
    """A dataclass field carrying its declaration; ``SETTINGS`` turns these into ``Setting`` objects."""
    return field(default=default, metadata={"setting": dict(kind=kind, default=default, help=help, **extra)})


@dataclass(frozen=True)
class EngineSpec:
    """Everything that decides how a model is loaded and how images become pixels, validated on creation.

    Build one with keywords (``EngineSpec(model="ArtiMuse_AVA", batch_size=16)``), from text with
    ``EngineSpec.from_strings``, or let ``Config`` resolve one from the config file and environment.

    Raises:
        InvalidValue: a value of the wrong type, outside its choices or bounds (the message names the setting).
    """

    model: str = _setting(
        DEFAULT_MODEL,
        "Checkpoint: a folder, a Hugging Face id or a short name (" + ", ".join(KNOWN_MODELS) + ").",
        metavar="NAME|PATH",
    )
    family: str | None = _setting(
        None,
        "Model family (prompts and dimensions): auto-detected from the checkpoint's name or config; "
        "ArtiMuse scores iaa, UniPercept iaa, iqa and ista.",
        kind="choice",
        choices=tuple(FAMILIES),
        optional=True,
        metavar="FAMILY",
    )
    device: str = _setting("auto", "auto (CUDA if present, else CPU), cpu, cuda, cuda:N or mps.", metavar="DEVICE")
    dtype: str = _setting(
        "auto",
        "Weights' precision; auto: bfloat16 on CUDA, float32 on CPU.",
        kind="choice",
        choices=("auto", "float32", "bfloat16", "float16"),
    )
    quantize: str = _setting(
        "none",
        "Load the language model in 8 or 4 bits (CUDA + bitsandbytes) for 8-16 GB GPUs.",
        kind="choice",
        choices=("none", "8bit", "4bit"),
    )
    attn: str = _setting(
        "auto",
        "Attention kernel; auto: flash_attention_2 on CUDA when installed, else sdpa.",
        kind="choice",
        choices=("auto", "sdpa", "eager", "flash_attention_2"),
    )
    batch_size: int = _setting(
        8, "Images per forward pass; halved automatically on out-of-memory.", kind="int", min=1, max=4096
    )
    max_new_tokens: int = _setting(512, "Longest critique, in tokens.", kind="int", min=1, max=8192)
    max_pixels: int = _setting(
        200_000_000,
        "Refuse images with more pixels than this (width x height): a decompression-bomb guard.",
        kind="int",
        min=1,
    )
    exif: bool = _setting(True, "Apply the EXIF orientation tag (the reference ignores it).", kind="bool")
    background: tuple[int, int, int] | None = _setting(
        None,
        "Composite transparency on this colour instead of dropping alpha like the reference.",
        kind="rgb",
        optional=True,
        metavar="R,G,B",
    )
    jpeg_draft: bool = _setting(
        False, "Decode large JPEGs at a reduced scale (at least 448 px): faster, scores move slightly.", kind="bool"
    )
    sixteen_bit: str = _setting(
        "reference",
        "16-bit images: reference converts them as the authors' code does (values over 255 clip to white; the "
        "result carries a warning saying how much clipped), scale maps 16 to 8 bits so they score as seen.",
        kind="choice",
        choices=("reference", "scale"),
    )
    adapter: str | None = _setting(
        None, "A fine-tuned adapter: its name in the adapters folder, or its folder.", optional=True, metavar="NAME"
    )
    decode_workers: int | None = _setting(
        None,
        "Threads decoding images while the model runs (default: one per CPU core, at most 8).",
        kind="int",
        min=1,
        max=256,
        optional=True,
        metavar="N",
    )

    def __post_init__(self) -> None:
        for setting in SETTINGS:
            value = setting.check(getattr(self, setting.name))
            if value is not getattr(self, setting.name):
                object.__setattr__(self, setting.name, value)

    # ------------------------------------------------------------------------------------ builders
    @classmethod
    def coerce(cls, spec_or_model: EngineSpec | str | os.PathLike | None = None, **overrides: Any) -> EngineSpec:
        """``None`` (the defaults), a spec, or a model name/folder; then ``overrides`` on top.

        Raises:
            InvalidValue: an unknown setting name or a bad value.
        """
        if spec_or_model is None:
            spec = cls()
        elif isinstance(spec_or_model, EngineSpec):
            spec = spec_or_model
        else:
            spec = cls(model=os.fspath(spec_or_model))
        return spec.replace(**overrides) if overrides else spec

    @classmethod
    def from_strings(cls, values: Mapping[str, str]) -> EngineSpec:
        """Settings written as text (environment variables, query strings) -> a spec."""
        return cls().replace(**{name: setting_named(name).parse(text) for name, text in values.items()})

    def replace(self, **changes: Any) -> EngineSpec:
        """A copy with ``changes`` applied and checked.

        Raises:
            InvalidValue: an unknown setting name (the message lists the known ones) or a bad value.
        """
        for name in changes:
            setting_named(name)
        return replace(self, **changes)

    # ------------------------------------------------------------------------------------ views
    def to_dict(self) -> dict[str, Any]:
        """{setting: value} in declaration order (``background`` as a list, as JSON writes it)."""
        return {s.name: (list(v) if isinstance(v := getattr(self, s.name), tuple) else v) for s in SETTINGS}

    def image_options(self) -> Any:
        """The decoding options (``images.ImageOptions``) this spec asks for."""
        from .images import ImageOptions

        return ImageOptions(
            max_pixels=self.max_pixels,
            exif_transpose=self.exif,
            background=self.background,
            jpeg_draft=self.jpeg_draft,
            sixteen_bit=self.sixteen_bit,
        )


SETTINGS: tuple[Setting, ...] = tuple(Setting(name=f.name, **f.metadata["setting"]) for f in fields(EngineSpec))
_BY_NAME = {s.name: s for s in SETTINGS}


def setting_named(name: str) -> Setting:
    """The declaration of one setting.

    Raises:
        InvalidValue: no setting has that name (the message lists them).
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InvalidValue(f"unknown setting {name!r} (known: {', '.join(_BY_NAME)})") from None


def describe_settings(names: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """What a host (ComfyUI) needs to generate one input per setting: name, type, default, choices,
    min, max, optional and help, in declaration order (only ``names`` when given)."""
    return [s.describe() for s in SETTINGS if names is None or s.name in names]


def default_of(name: str) -> Any:
    """The declared default of a setting."""
    return setting_named(name).default


def spec_value(engine: Any, name: str) -> Any:
    """A setting as an engine was built with it (``engine.spec``), else its declared default (fakes)."""
    spec = getattr(engine, "spec", None)
    return getattr(spec, name) if spec is not None else default_of(name)


def choices_of(name: str) -> tuple[str, ...]:
    """The declared choices of a ``choice`` setting (``dtype``, ``quantize``, ``attn``)."""
    return setting_named(name).choices or ()


__all__ = [
    "EngineSpec",
    "SETTINGS",
    "Setting",
    "choices_of",
    "default_of",
    "describe_settings",
    "setting_named",
    "spec_value",
]
