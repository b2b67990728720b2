// Shows each image's ArtiMuse score (or critique) on the ArtiMuse nodes after they run.
// Public extension API only (app.registerExtension, the node's onExecuted, node.addDOMWidget), no
// frontend internals, so it keeps working as the frontend moves.
import { app } from "../../scripts/app.js";

const RESULT = "artimuse_result";

function resultWidget(node) {
  const existing = node.widgets?.find((w) => w.name === RESULT);
  if (existing) return existing;
  const box = document.createElement("textarea");
  box.readOnly = true;
  box.rows = 4;
  box.style.cssText = "width:100%;opacity:0.85;font:12px monospace;resize:none;";
  return node.addDOMWidget(RESULT, "artimuse_text", box, {
    serialize: false,
    getValue: () => box.value,
    setValue: (value) => {
      box.value = value;
    },
  });
}

app.registerExtension({
  name: "ArtiMuse.ShowScores",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!nodeData.name.startsWith("ArtiMuse") || nodeData.name === "ArtiMuseLoadModel") return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      const lines = message?.text ?? [];
      if (!lines.length) return;
      resultWidget(this).value = lines.join("\n");
      this.setSize?.(this.computeSize());
      this.setDirtyCanvas?.(true, true);
    };
  },
});
