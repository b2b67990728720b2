"""Node inputs generated from the engine spec (``artimuse_core.describe_settings``): each setting's type,
default, bounds, choices and help are declared once in ``artimuse_core/spec.py``; the CLI makes its options
and this pack its inputs from the same declarations, so a new setting (``sixteen_bit``...) reaches every
front end without a second copy. Which settings the loader offers follows from their stage too (``LOADER``),
and their order from the released widget layouts (``web/widget_layouts.json``). Only the host's own
knowledge is added here: which devices and quantisations can work in this ComfyUI (``host``), the checkpoint
list (``models``), and the tooltips the nodes share.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from artimuse_core import ATTRIBUTES, default_of, describe_settings, setting_named, settings_at

#: The menu every ArtiMuse node is listed under, and the type of the loaded model between nodes.
CATEGORY = "ArtiMuse"
MODEL_TYPE = "ARTIMUSE_MODEL"
#: The critique choice that means every attribute, and the category choice that means the library's rule.
ALL_ATTRIBUTES = "all eight"
AUTO = "auto"
DEFAULT_MAX_NEW_TOKENS = default_of("max_new_tokens")
#: What ``INPUT_TYPES`` returns: ``{"required": {name: (type or choices, options)}, "optional": {...}}``.
InputTypes = dict[str, dict[str, Any]]
#: What a node function returns: ``{"ui": what the node shows, "result": its outputs}``.
NodeOutput = dict[str, Any]


def attributes_for(choice: str) -> list[str]:
    """The attributes a critique choice stands for: all eight, or the one named."""
    return list(ATTRIBUTES) if choice == ALL_ATTRIBUTES else [choice]


#: Every setting an engine is built with (stages weights, engine and image): the loader's inputs. The
#: settings of one call (``max_new_tokens``) are inputs of the nodes that write text.
LOADER = tuple(s.name for s in settings_at("weights", "engine", "image"))
#: Loader inputs the host fills with what it knows: the checkpoint list, this ComfyUI's devices and
#: quantisations (``nodes.ArtiMuseLoadModel``).
HOST_FILLED = ("model", "device", "quantize")
#: Loader inputs every workflow sets.
REQUIRED = ("dtype", "batch_size")
#: The widget layouts every released version of each node had (``web/widget_layouts.json``, oldest first).
LAYOUTS: dict[str, Any] = json.loads((Path(__file__).parent / "web" / "widget_layouts.json").read_text("utf-8"))


def released_order(node: str, names: Iterable[str]) -> tuple[str, ...]:
    """``names`` in the order of ``node``'s last released widgets, any others after them in declaration order.

    A saved UI workflow holds its widgets' values by position (``widgets_values``), so a new input is only ever
    APPENDED; ``tests/test_comfyui_contract.py`` fails until the new order is recorded in the layouts."""
    chosen = list(names)
    released = [n for n in LAYOUTS[node][-1]["widgets"] if n in chosen]
    return (*released, *(n for n in chosen if n not in released))


#: The loader's other inputs, with their declared defaults: optional widgets.
OPTIONAL = released_order("ArtiMuseLoadModel", (n for n in LOADER if n not in HOST_FILLED + REQUIRED))
_INT_MAX = 2**31 - 1
MODEL_TIP = "The loaded ArtiMuse model (from ArtiMuse Load Model)."
IMAGES_TIP = "Images to judge (an IMAGE batch, e.g. from VAE Decode or Load Image)."
TOKENS_TIP = (
    "Longest critique, in tokens (greedy decoding; most critiques end well before 512). "
    "Progress moves, and Cancel works, after every token."
)
DIMENSION_TIP = (
    "Which score goes to the scores output: iaa aesthetics (every model), iqa technical quality (blur, "
    "noise, exposure, compression) or ista structure and texture richness (UniPercept models)."
)


def setting_input(name: str, tooltip: str | None = None) -> tuple[Any, dict[str, Any]]:
    """One ComfyUI input declaration ``(type or choices, options)`` for the spec setting ``name``.

    Optional settings are written so that a widget can say "none": an empty string for text settings,
    0 for whole numbers (both mean the setting's automatic value, as its help says)."""
    (setting,) = describe_settings((name,))
    help_text = tooltip or setting["help"]
    default = setting["default"]
    if setting["type"] == "choice":
        choices = list(setting["choices"])
        if setting["optional"]:  # "auto" widget value = None (``Setting.parse``): e.g. family from the checkpoint
            choices, default = ["auto", *choices], default or "auto"
        return choices, {"default": default, "tooltip": help_text}
    if setting["type"] == "bool":
        return "BOOLEAN", {"default": default, "tooltip": help_text}
    if setting["type"] == "int":
        low = 0 if setting["optional"] else setting["min"] or 0
        note = " 0: automatic." if setting["optional"] else ""
        return "INT", {
            "default": default or 0,
            "min": low,
            "max": setting["max"] or _INT_MAX,
            "tooltip": help_text + note,
        }
    text = ",".join(map(str, default)) if isinstance(default, (tuple, list)) else (default or "")
    note = " Empty: none." if setting["optional"] else ""
    return "STRING", {"default": text, "tooltip": help_text + note}


def spec_values(values: dict[str, Any]) -> dict[str, Any]:
    """Widget values -> spec values: "" and 0 become None for optional settings, text is parsed by the
    setting's own rule (``Setting.parse``, so a bad value is the core's ``InvalidValue``)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        setting = setting_named(name)
        if setting.optional and value in ("", 0, None):
            out[name] = None
        elif isinstance(value, str):
            out[name] = setting.parse(value)
        else:
            out[name] = value
    return out


__all__ = [
    "DIMENSION_TIP",
    "HOST_FILLED",
    "IMAGES_TIP",
    "LAYOUTS",
    "LOADER",
    "MODEL_TIP",
    "OPTIONAL",
    "REQUIRED",
    "TOKENS_TIP",
    "released_order",
    "setting_input",
    "spec_values",
]
