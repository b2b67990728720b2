// Shows each image's ArtiMuse score (or critique) on the ArtiMuse nodes after they run.
import { app } from "../../scripts/app.js";
import { ComfyWidgets } from "../../scripts/widgets.js";

app.registerExtension({
  name: "ArtiMuse.ShowScores",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!nodeData.name.startsWith("ArtiMuse") || nodeData.name === "ArtiMuseLoadModel") return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      const text = (message?.text ?? []).join("\n");
      let widget = this.widgets?.find((w) => w.name === "artimuse_result");
      if (!widget) {
        widget = ComfyWidgets["STRING"](this, "artimuse_result", ["STRING", { multiline: true }], app).widget;
        widget.inputEl.readOnly = true;
        widget.inputEl.style.opacity = 0.85;
        widget.serialize = false;
      }
      widget.value = text;
      requestAnimationFrame(() => this.setSize?.(this.computeSize()));
    };
  },
});
