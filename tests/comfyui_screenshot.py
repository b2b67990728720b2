"""A screenshot of the node pack in ComfyUI's web UI, for people to look at (not a test).

Starts the real ComfyUI server of the test harness with a tiny checkpoint, opens its page in headless
Chromium (Debian's `chromium`), builds a small graph in the canvas through the frontend's public API
(Load Image x2 -> Image Batch -> ArtiMuse Load Model / Score / Select Best / Save Image), queues it from
the page so that the scores appear on the nodes, and saves a PNG::

    python -m tests.comfyui_screenshot bench/out/comfyui_artimuse.png
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from tests import chromium
from tests.comfyui_server import ComfyUI, ensure_venv, free_port

GRAPH = """
(async () => {
  const app = window.comfyAPI?.app?.app ?? window.app;
  app.graph.clear();
  const add = (type, pos, size, values = {}) => {
    const node = LiteGraph.createNode(type);
    node.pos = pos;
    app.graph.add(node);
    for (const [name, value] of Object.entries(values)) {
      const widget = node.widgets?.find((w) => w.name === name);
      if (widget) widget.value = value;
    }
    if (size) node.size = size;
    return node;
  };
  const a = add("LoadImage", [20, 20], [300, 330], {image: "%A%"});
  const b = add("LoadImage", [20, 380], [300, 330], {image: "%B%"});
  const batch = add("ImageBatch", [350, 20]);
  const loader = add("ArtiMuseLoadModel", [350, 160], [330, 200], {model: "tiny-a"});
  const score = add("ArtiMuseScore", [720, 20], [320, 170]);
  const best = add("ArtiMuseSelectBest", [720, 260], [320, 230], {top_k: 1});
  const save = add("ArtiMuseSaveImage", [1080, 20], [380, 520], {filename_prefix: "ArtiMuse/screenshot"});
  a.connect(0, batch, 0); b.connect(0, batch, 1);
  loader.connect(0, score, 0); batch.connect(0, score, 1);
  loader.connect(0, best, 0); batch.connect(0, best, 1);
  best.connect(0, save, 0); loader.connect(0, save, 1);
  app.canvas.ds.offset = [10, 60]; app.canvas.ds.scale = 0.95;
  app.graph.setDirtyCanvas(true, true);
  await app.queuePrompt(0, 1);
  return "queued";
})()
"""


class DevTools:
    """The few Chrome DevTools Protocol calls a screenshot needs, over websocket-client."""

    def __init__(self, port: int):
        import websocket

        pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=10).read())
        page = next(p for p in pages if p.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=120)
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            answer = json.loads(self.ws.recv())
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(json.dumps(result["exceptionDetails"])[:2000])
        return result["result"].get("value")


def main(out: Path) -> int:
    from artimuse_core.synthetic import build_checkpoint

    work = Path(tempfile.mkdtemp(prefix="artimuse-shot-"))
    server = ComfyUI.unpack(work / "ComfyUI", ensure_venv(log=print))
    server.link_pack()
    build_checkpoint(server.models / "artimuse" / "tiny-a", seed=1)
    server.env["ARTIMUSE_HOME"] = str(work / "home")
    names = []
    rng = np.random.default_rng(4)
    for i in range(2):
        path = work / f"photo{i}.png"
        ramp = np.linspace(0, 255, 512)[None, :, None] * rng.uniform(0.3, 1.0, 3)
        Image.fromarray(np.clip(ramp + rng.normal(0, 25 * (i + 1), (384, 512, 3)), 0, 255).astype(np.uint8)).save(path)
        names.append(path)
    server.start()
    port = free_port()
    browser = None
    try:
        uploaded = [server.upload_image(p) for p in names]
        for setting in ("Comfy.TutorialCompleted",):  # no first-run template dialog over the canvas
            server.request(f"/settings/{setting}", data=b"true", headers={"Content-Type": "application/json"})
        browser = subprocess.Popen(
            [
                str(chromium.CHROMIUM),
                *chromium.FLAGS,
                f"--user-data-dir={work / 'chrome'}",
                f"--remote-debugging-port={port}",
                "--remote-allow-origins=*",
                "--window-size=1600,1000",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(60):
            try:
                tools = DevTools(port)
                break
            except OSError:
                time.sleep(0.5)
        tools.call("Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1, mobile=False)
        tools.call("Page.navigate", url=server.url)
        for _ in range(120):
            time.sleep(1)
            if tools.evaluate(
                "!!(window.comfyAPI?.app?.app?.graph ?? window.app?.graph) && "
                "!!window.LiteGraph?.registered_node_types?.ArtiMuseScore"
            ):
                break
        time.sleep(3)
        tools.evaluate("document.querySelectorAll('.p-dialog-close-button').forEach((b) => b.click())")
        print(tools.evaluate(GRAPH.replace("%A%", uploaded[0]).replace("%B%", uploaded[1])))
        for _ in range(180):
            time.sleep(1)
            history = server.get("/history")
            if history and all(
                e["status"].get("completed") or e["status"].get("status_str") == "error" for e in history.values()
            ):
                break
        time.sleep(3)
        shot = tools.call("Page.captureScreenshot", format="png")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(shot["data"]))
        print(f"saved {out}; history: {json.dumps(server.get('/history'))[:400]}")
    finally:
        if browser is not None:
            browser.terminate()
            browser.wait(30)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out/comfyui_artimuse.png")))
