"""One engine spec: every setting a model run needs, declared once with its default, bounds and help.

``EngineSpec`` is what ``create_engine`` takes; ``Config`` holds one (defaults < config file < environment
``ARTIMUSE_<SETTING>`` < explicit arguments); the CLI generates its options and ComfyUI its node inputs
from ``SETTINGS``. Nothing else writes a default, a choice list or a help text for these settings, and
nothing else lists which settings belong together: each declares its ``stage`` (``settings.Stage``), and
``settings_at`` gives the settings of some stages (the weights' cache key, ``images.ImageOptions``, the
settings ``doctor`` takes, ComfyUI's loader inputs).

Why a frozen dataclass and not pydantic v2: pydantic would fit the job (typed fields, bounds,
environment settings), but importing it costs ~220 ms on this project's 2-core machine, a third of the
~600 ms that ``import click, sqlalchemy`` takes, and every command (``artimuse top`` included) validates
its configuration. The CLI's latency goal (within 2x of that baseline, ``bench/cli_latency.py``) does not
leave room for it. The validation needed here (types, choices, integer bounds, one RGB triple) is small.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from .checkpoints import DEFAULT_MODEL, KNOWN_MODELS
from .errors import InvalidValue
from .families import FAMILIES
from .settings import Kind, Setting, Stage

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def _setting(stage: Stage, default: Any, help: str, kind: Kind = "str", **extra: Any) -> Any:
    """A dataclass field carrying its declaration; ``SETTINGS`` turns these into ``Setting`` objects."""
    declaration = dict(kind=kind, default=default, help=help, stage=stage, **extra)
    return field(default=default, metadata={"setting": declaration})


@dataclass(frozen=True)
class EngineSpec:
    """Everything that decides how a model is loaded and how images become pixels, validated on creation.

    Build one with keywords (``EngineSpec(model="ArtiMuse_AVA", batch_size=16)``), from text with
    ``EngineSpec.from_strings``, or let ``Config`` resolve one from the config file and environment.

    Raises:
        InvalidValue: a value of the wrong type, outside its choices or bounds (the message names the setting).
    """

    model: str = _setting(
        "weights",
        DEFAULT_MODEL,
        "Checkpoint: a folder, a Hugging Face id or a short name (" + ", ".join(KNOWN_MODELS) + ").",
        metavar="NAME|PATH",
    )
    family: str | None = _setting(
        "engine",
        None,
        "Model family (prompts and dimensions): auto-detected from the checkpoint's name or config; "
        + ", ".join(f"{f.name} scores {' '.join(f.dimension_keys)}" for f in FAMILIES.values())
        + ".",
        kind="choice",
        choices=tuple(FAMILIES),
        optional=True,
        metavar="FAMILY",
    )
    device: str = _setting(
        "weights", "auto", "auto (CUDA if present, else CPU), cpu, cuda, cuda:N or mps.", metavar="DEVICE"
    )
    dtype: str = _setting(
        "weights",
        "auto",
        "Weights' precision; auto: bfloat16 on CUDA, float32 on CPU.",
        kind="choice",
        choices=("auto", "float32", "bfloat16", "float16"),
    )
    quantize: str = _setting(
        "weights",
        "none",
        "Load the language model in 8 or 4 bits (CUDA + bitsandbytes) for 8-16 GB GPUs.",
        kind="choice",
        choices=("none", "8bit", "4bit"),
    )
    attn: str = _setting(
        "weights",
        "auto",
        "Attention kernel; auto: flash_attention_2 on CUDA when installed, else sdpa.",
        kind="choice",
        choices=("auto", "sdpa", "eager", "flash_attention_2"),
    )
    batch_size: int = _setting(
        "engine", 8, "Images per forward pass; halved automatically on out-of-memory.", kind="int", min=1, max=4096
    )
    max_new_tokens: int = _setting("call", 512, "Longest critique, in tokens.", kind="int", min=1, max=8192)
    max_pixels: int = _setting(
        "image",
        200_000_000,
        "Refuse images with more pixels than this (width x height): a decompression-bomb guard.",
        kind="int",
        min=1,
    )
    exif: bool = _setting("image", True, "Apply the EXIF orientation tag (the reference ignores it).", kind="bool")
    background: tuple[int, int, int] | None = _setting(
        "image",
        None,
        "Composite transparency on this colour instead of dropping alpha like the reference.",
        kind="rgb",
        optional=True,
        metavar="R,G,B",
    )
    jpeg_draft: bool = _setting(
        "image",
        False,
        "Decode large JPEGs at a reduced scale (at least 448 px): faster, scores move slightly.",
        kind="bool",
    )
    sixteen_bit: str = _setting(
        "image",
        "reference",
        "16-bit images: reference converts them as the authors' code does (values over 255 clip to white; the "
        "result carries a warning saying how much clipped), scale maps 16 to 8 bits so they score as seen.",
        kind="choice",
        choices=("reference", "scale"),
    )
    adapter: str | None = _setting(
        "weights",
        None,
        "A fine-tuned adapter: its name in the adapters folder, or its folder.",
        optional=True,
        metavar="NAME",
    )
    decode_workers: int | None = _setting(
        "engine",
        None,
        "Threads decoding images while the model runs (default: one per CPU core, at most 8).",
        kind="int",
        min=1,
        max=256,
        optional=True,
        metavar="N",
    )

    def __post_init__(self) -> None:
        check_declared(self)

    # ------------------------------------------------------------------------------------ builders
    @classmethod
    def coerce(cls, spec_or_model: EngineSpec | str | os.PathLike[str] | None = None, **overrides: Any) -> EngineSpec:
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


def settings_at(*stages: Stage) -> tuple[Setting, ...]:
    """The engine settings of these stages, in declaration order: what groups settings (the weights' cache key,
    ``ImageOptions``, what ``doctor`` takes, ComfyUI's loader inputs) reads them from here."""
    return tuple(s for s in SETTINGS if s.stage in stages)


def check_declared(values: DataclassInstance) -> None:
    """Check and normalise every field of a frozen dataclass of settings (``EngineSpec``, ``ImageOptions``) by
    its declaration, in place.

    Raises:
        InvalidValue: a value of the wrong type, outside its choices or bounds (the message names the setting).
    """
    for f in fields(values):
        value = setting_named(f.name).check(getattr(values, f.name))
        if value is not getattr(values, f.name):
            object.__setattr__(values, f.name, value)


def describe_settings(names: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """What a host (ComfyUI) needs to generate one input per setting: name, type, default, choices,
    min, max, optional and help, in declaration order (only ``names`` when given)."""
    return [s.describe() for s in SETTINGS if names is None or s.name in names]


def default_of(name: str) -> Any:
    """The declared default of a setting."""
    return setting_named(name).default


def choices_of(name: str) -> tuple[str, ...]:
    """The declared choices of a ``choice`` setting (``dtype``, ``quantize``, ``attn``)."""
    return setting_named(name).choices or ()


__all__ = [
    "EngineSpec",
    "SETTINGS",
    "Setting",
    "check_declared",
    "choices_of",
    "default_of",
    "describe_settings",
    "setting_named",
    "settings_at",
]
