// Workflows saved with earlier versions of the ArtiMuse nodes load with every value on the right widget.
//
// A saved UI workflow keeps a node's widget values by POSITION (widgets_values). New inputs are appended to
// a node, so an older list of values is the start of today's and lands where it belongs. Where an input was
// once put in the middle, the saved values would slide onto the wrong widgets: widget_layouts.json lists
// every order a released version of each node had, and a saved node whose values do not fit today's
// widgets (by kind: text, number, on/off) but fit an older order of the same length is put into today's
// order by name before the node takes them. A value saved as a checkpoint's short name ("ArtiMuse") or as
// its labelled entry ("ArtiMuse (download ~16 GB)") shows as whichever of the two the list offers today.
// Public extension API only (app.registerExtension, beforeRegisterNodeDef, the node's configure).
import { app } from "../../scripts/app.js";

const LAYOUTS = fetch(new URL("./widget_layouts.json", import.meta.url))
  .then((answer) => answer.json())
  .catch((error) => {
    console.warn("ArtiMuse: widget_layouts.json not loaded; older workflows load as saved", error);
    return {};
  });

const KINDS = {
  number: "number",
  slider: "number",
  knob: "number",
  toggle: "boolean",
  combo: "string",
  text: "string",
  customtext: "string",
  textarea: "string",
};

function fits(names, values, widgets) {
  if (values.length > names.length) return false;
  return values.every((value, i) => {
    const widget = widgets.get(names[i]);
    if (!widget) return false;
    const kind = KINDS[widget.type];
    return value === null || value === undefined || !kind || typeof value === kind;
  });
}

function inTodaysOrder(node, layouts, values) {
  const widgets = new Map((node.widgets ?? []).filter((w) => w.serialize !== false).map((w) => [w.name, w]));
  const today = [...widgets.keys()];
  if (fits(today, values, widgets)) return values;
  for (const { widgets: names } of [...layouts].reverse()) {
    if (names.length !== values.length || !fits(names, values, widgets)) continue;
    return today.map((name) => (names.includes(name) ? values[names.indexOf(name)] : widgets.get(name).value));
  }
  console.warn(`ArtiMuse: ${node.type} #${node.id}: saved values fit no known order of its widgets`, values);
  return values;
}

function sameChoice(widget) {
  const choices = widget.options?.values;
  if (widget.type !== "combo" || typeof widget.value !== "string" || !Array.isArray(choices)) return;
  if (choices.includes(widget.value)) return;
  const value = widget.value;
  const match = choices.find((c) => typeof c === "string" && (c.startsWith(`${value} (`) || value.startsWith(`${c} (`)));
  if (match !== undefined) widget.value = match;
}

app.registerExtension({
  name: "ArtiMuse.SavedWorkflows",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!nodeData.name.startsWith("ArtiMuse")) return;
    const layouts = (await LAYOUTS)[nodeData.name] ?? [];
    const configure = nodeType.prototype.configure;
    nodeType.prototype.configure = function (info) {
      if (Array.isArray(info?.widgets_values) && layouts.length) {
        info.widgets_values = inTodaysOrder(this, layouts, info.widgets_values);
      }
      const done = configure.apply(this, arguments);
      for (const widget of this.widgets ?? []) sameChoice(widget);
      return done;
    };
  },
});
