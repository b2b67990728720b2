"""ComfyUI workflow files as the real host reads them, for the tests: which format a file is in, where each
saved widget value of a UI workflow lands (the frontend's own rule), a widget-by-widget check against
``/object_info``, the API prompt the frontend would queue for it, and the swap of a workflow's diffusion
part for uploaded images (no diffusion checkpoint exists on the test machines).

The frontend's rule (ComfyUI frontend 1.27, shipped with ComfyUI 0.3.64): a node's widgets are its widget
inputs (INT, FLOAT, BOOLEAN, STRING, combo; not ``forceInput`` ones) in ``input_order``, required then
optional; an INT with ``control_after_generate`` (or named seed / noise_seed) and a combo with
``control_after_generate`` are followed by a "control_after_generate" combo that is saved too; the saved
values fill those widgets in order. The pack's ``web/saved_workflows.js`` first puts values saved in an older
order (``web/widget_layouts.json``) into today's; ``place`` does the same, and the browser test holds the two
equal on every workflow.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACK = REPO / "plugins" / "comfyui"
SHIPPED = PACK / "workflows"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "comfyui_workflows"
LAYOUTS = json.loads((PACK / "web" / "widget_layouts.json").read_text())
CONTROL = "control_after_generate"
CONTROL_CHOICES = ["fixed", "increment", "decrement", "randomize"]
SEEDS = ("seed", "noise_seed")
KINDS = {"INT": "number", "FLOAT": "number", "BOOLEAN": "boolean", "STRING": "string", "COMBO": "string"}


def workflow_files() -> list[Path]:
    """Every shipped workflow and every kept earlier version of one (tests/fixtures/comfyui_workflows)."""
    return sorted(SHIPPED.glob("*.json")) + sorted(FIXTURES.glob("*/*.json"))


def label(path: Path) -> str:
    return str(path.relative_to(REPO))


def kind_of(data) -> str:
    """'ui' (nodes + links, what the editor saves), 'api' (what /prompt takes), else ValueError."""
    if isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data:
        return "ui"
    if isinstance(data, dict) and data and all(isinstance(n, dict) and "class_type" in n for n in data.values()):
        return "api"
    raise ValueError("neither a UI workflow (nodes, links) nor an API prompt (class_type per node)")


# ------------------------------------------------------------------------------------------- the widgets
def _type(spec):
    return "COMBO" if isinstance(spec[0], list) else spec[0]


def _options(spec) -> dict:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def choices(spec) -> list | None:
    if isinstance(spec[0], list):
        return spec[0]
    return _options(spec).get("options") if spec[0] == "COMBO" else None


def widgets(info: dict) -> list[tuple[str, tuple]]:
    """(name, input spec) of each saved widget of a node, in the frontend's order (see the module doc)."""
    order = info.get("input_order") or {k: list(v) for k, v in info["input"].items()}
    found = []
    for section in ("required", "optional"):
        for name in order.get(section, []):
            spec = info["input"][section][name]
            kind = _type(spec)
            if kind not in KINDS or _options(spec).get("forceInput"):
                continue
            found.append((name, spec))
            control = _options(spec).get(CONTROL)
            if (kind == "INT" and (control or (control is None and name in SEEDS))) or (kind == "COMBO" and control):
                found.append((CONTROL, ([*CONTROL_CHOICES], {})))
    return found


def _fits(names: list[str], values: list, specs: dict) -> bool:
    if len(values) > len(names):
        return False
    for name, value in zip(names, values):
        if name not in specs:
            return False
        kind = KINDS[_type(specs[name])]
        if value is not None and not (
            isinstance(value, bool)
            if kind == "boolean"
            else isinstance(value, str)
            if kind == "string"
            else isinstance(value, (int, float)) and not isinstance(value, bool)
        ):
            return False
    return True


def place(node_type: str, info: dict, values: list) -> dict:
    """widgets_values -> {widget name: value} as the frontend (with the pack's saved_workflows.js) sets them;
    widgets the values do not reach keep their defaults. ValueError when they fit no known order."""
    found = widgets(info)
    specs = dict(found)
    today = [name for name, _ in found]
    defaults = {name: _options(spec).get("default", (choices(spec) or [None])[0]) for name, spec in found}
    if _fits(today, values, specs):
        return {**defaults, **dict(zip(today, values))}
    for layout in reversed(LAYOUTS.get(node_type, [])):
        names = layout["widgets"]
        if len(names) == len(values) and _fits(names, values, specs):
            return {**defaults, **dict(zip(names, values))}
    raise ValueError(f"{len(values)} saved values {values!r} fit none of the known orders of {today}")


def same_choice(value, options: list):
    """The labelled twin of a combo value among today's choices ("ArtiMuse" <-> "ArtiMuse (download ...)"),
    as saved_workflows.js shows it; the value itself when it is a choice or has no twin."""
    if not isinstance(value, str) or value in options:
        return value
    twin = [c for c in options if isinstance(c, str) and (c.startswith(f"{value} (") or value.startswith(f"{c} ("))]
    return twin[0] if twin else value


def hooked_inputs(node_type: str) -> set[str]:
    """Inputs whose value the node checks itself (VALIDATE_INPUTS names them): ComfyUI skips its list check."""
    from artimuse_comfyui import NODE_CLASS_MAPPINGS

    hook = getattr(NODE_CLASS_MAPPINGS.get(node_type), "VALIDATE_INPUTS", None)
    return set(inspect.signature(hook).parameters) if hook else set()


def problems(workflow: dict, object_info: dict) -> list[str]:
    """Widget by widget: every node type known to the server, every saved value on a widget of its kind,
    within bounds, every combo value among today's choices (or its labelled twin, or left to the node's own
    validation hook, which queueing the workflow then proves). [] when the workflow is sound."""
    found = []
    for node in workflow["nodes"]:
        where = f"{node['type']} #{node['id']}"
        info = object_info.get(node["type"])
        if info is None:
            found.append(f"{where}: no such node in this ComfyUI (it would load red)")
            continue
        try:
            placed = place(node["type"], info, node.get("widgets_values") or [])
        except ValueError as exc:
            found.append(f"{where}: {exc}")
            continue
        specs = dict(widgets(info))
        for name, value in placed.items():
            found += [f"{where}.{name}: {p}" for p in _value_problems(node["type"], name, specs[name], value)]
    return found


def _value_problems(node_type: str, name: str, spec, value) -> list[str]:
    options, kind = _options(spec), _type(spec)
    listed = choices(spec)
    if listed is not None:
        if same_choice(value, listed) in listed or name in hooked_inputs(node_type):
            return []
        return [f"{value!r} is not among the choices {listed[:8]}"]
    if kind in ("INT", "FLOAT"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind == "INT" and value != int(value)):
            return [f"{value!r} is not a {kind}"]
        low, high = options.get("min"), options.get("max")
        return (
            [f"{value} is outside [{low}, {high}]"]
            if (low is not None and value < low) or (high is not None and value > high)
            else []
        )
    wanted = bool if kind == "BOOLEAN" else str
    return [] if isinstance(value, wanted) else [f"{value!r} is not a {kind}"]


# ------------------------------------------------------------------------------------------- API prompts
def to_prompt(workflow: dict, object_info: dict) -> dict:
    """The API prompt the frontend queues for a UI workflow (graphToPrompt): each node's widget values by
    name (control widgets are not sent; the pack's combos as saved_workflows.js shows them), links as
    [origin id, origin slot]."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node.get("mode", 0) != 0:
            raise ValueError(f"{node['type']} #{node['id']} is muted or bypassed; not handled here")
        info = object_info[node["type"]]
        placed = place(node["type"], info, node.get("widgets_values") or [])
        specs = dict(widgets(info))
        inputs = {
            name: same_choice(value, choices(specs[name]) or []) if ours(node["type"]) else value
            for name, value in placed.items()
            if name != CONTROL
        }
        for slot in node.get("inputs") or []:
            if slot.get("link") is not None:
                link = links[slot["link"]]
                inputs[slot["name"]] = [str(link[1]), link[2]]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


def ours(class_type: str) -> bool:
    return class_type.startswith("ArtiMuse")


def swap_generation(prompt: dict, object_info: dict, images: list[str], first: int = 900) -> dict:
    """The prompt with every node that is not the pack's (the diffusion part) replaced by LoadImage nodes of
    ``images`` chained through ImageBatch; links from removed nodes must be IMAGEs (else ValueError)."""
    kept = {k: json.loads(json.dumps(n)) for k, n in prompt.items() if ours(n["class_type"])}
    nodes: dict = {}
    batch = None
    for i, name in enumerate(images):
        nodes[str(first + 2 * i)] = {"class_type": "LoadImage", "inputs": {"image": name}}
        loaded = [str(first + 2 * i), 0]
        if batch is not None:
            nodes[str(first + 2 * i + 1)] = {"class_type": "ImageBatch", "inputs": {"image1": batch, "image2": loaded}}
            loaded = [str(first + 2 * i + 1), 0]
        batch = loaded
    for key, node in kept.items():
        for name, value in node["inputs"].items():
            if isinstance(value, list) and value[0] not in kept:
                source = prompt[value[0]]["class_type"]
                made = object_info[source]["output"][value[1]]
                if made != "IMAGE":
                    raise ValueError(f"{node['class_type']} #{key}.{name} takes {made} from {source}: cannot swap")
                node["inputs"][name] = batch
    return {**kept, **nodes}


def node_info(cls, name: str) -> dict:
    """What /object_info says of a V1 node class (server.py's node_info, the parts the frontend orders by)."""
    spec = cls.INPUT_TYPES()
    return {
        "input": spec,
        "input_order": {k: list(v) for k, v in spec.items()},
        "output": list(cls.RETURN_TYPES),
        "name": name,
    }
