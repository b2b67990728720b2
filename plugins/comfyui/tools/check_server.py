"""Check the ArtiMuse pack inside a real, running ComfyUI, over HTTP only:

1. /object_info lists the five nodes with their inputs and outputs (so the pack imported);
2. a workflow (your image -> Load Model -> Score -> Select Best -> Save Image) runs to completion;
3. the saved PNG carries the `artimuse` and `artimuse_score` text chunks beside ComfyUI's `prompt`;
4. with --checkpoint, its score equals `artimuse score` on that saved PNG within 1e-4 (this loads the model
   a second time, in this Python);
5. Select Best with nothing over its threshold blocks every output (nothing downstream runs);
6. POST /interrupt ends a 2048-token critique within 10 s (sent 8 s into it, once tokens are being generated).

    python check_server.py --server http://127.0.0.1:8188 --image photo.jpg --model my-checkpoint \\
        --checkpoint /path/to/ComfyUI/models/artimuse/my-checkpoint

--model is a folder name under ComfyUI/models/artimuse (default: the first one there). The check never picks
a published "(download ~16 GB)" entry. Exits 0 when everything checks out, 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

EXPECTED = {
    "ArtiMuseLoadModel": (["model", "device", "dtype", "quantize", "batch_size"], ["ARTIMUSE_MODEL"]),
    "ArtiMuseScore": (["artimuse_model", "images"], ["FLOAT", "STRING"]),
    "ArtiMuseCritique": (["artimuse_model", "images", "attribute", "max_new_tokens"], ["STRING"]),
    "ArtiMuseSelectBest": (
        ["artimuse_model", "images", "top_k", "threshold"],
        ["IMAGE", "FLOAT", "INT", "IMAGE", "IMAGE"],  # images, scores, indices, pass, rest
    ),
    "ArtiMuseSaveImage": (["images", "artimuse_model", "filename_prefix", "critique", "save_to_library"], []),
}


class CheckFailed(Exception):
    pass


class Server:
    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def call(
        self,
        path: str,
        payload: dict[str, Any] | None = None,
        *,
        data: bytes | None = None,
        headers: dict[str, Any] | None = None,
        raw: bool = False,
    ) -> Any:
        if payload is not None:
            data, headers = json.dumps(payload).encode(), {"Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
        return body if raw else (json.loads(body) if body else None)

    def upload(self, path: Path) -> str:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{path.name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + path.read_bytes()
            + (
                f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="overwrite"\r\n\r\ntrue\r\n'
                f"--{boundary}--\r\n"
            ).encode()
        )
        answer = self.call(
            "/upload/image", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        return f"{answer['subfolder']}/{answer['name']}" if answer.get("subfolder") else answer["name"]

    def queue(self, workflow: dict[str, Any]) -> str:
        try:
            return str(self.call("/prompt", {"prompt": workflow, "client_id": uuid.uuid4().hex})["prompt_id"])
        except urllib.error.HTTPError as exc:
            raise CheckFailed(f"/prompt refused the workflow: {exc.read().decode()[:2000]}") from exc

    def wait(self, prompt_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry: dict[str, Any] | None = self.call(f"/history/{prompt_id}").get(prompt_id)
            if entry and (entry["status"].get("completed") or entry["status"].get("status_str") == "error"):
                return entry
            time.sleep(0.2)
        raise CheckFailed(f"prompt {prompt_id} did not finish within {timeout:.0f} s")

    def run(self, workflow: dict[str, Any], timeout: float) -> dict[str, Any]:
        entry = self.wait(self.queue(workflow), timeout)
        for kind, data in entry["status"].get("messages", []):
            if kind == "execution_error":
                raise CheckFailed(f"{data['node_type']}: {data['exception_type']}: {data['exception_message']}")
        return entry

    def running(self, prompt_id: str) -> bool:
        return any(item[1] == prompt_id for item in self.call("/queue").get("queue_running", []))


def check_nodes(server: Server, model: str | None) -> str:
    info = server.call("/object_info")
    for name, (inputs, outputs) in EXPECTED.items():
        if name not in info:
            raise CheckFailed(f"{name} missing from /object_info (did the pack import? see ComfyUI's log)")
        required = list(info[name]["input"]["required"])
        if required != inputs or list(info[name]["output"]) != outputs:
            raise CheckFailed(f"{name}: inputs {required}, outputs {info[name]['output']}")
    choices = info["ArtiMuseLoadModel"]["input"]["required"]["model"][0]
    local = [c for c in choices if "(download" not in c]
    if model is None:
        if not local:
            raise CheckFailed("no checkpoint folder in ComfyUI/models/artimuse; put one there or pass --model")
        model = local[0]
    elif model not in local:
        raise CheckFailed(f"--model {model!r} is not a checkpoint folder ComfyUI lists: {local}")
    print(f"object_info: all five ArtiMuse nodes with the expected inputs and outputs; model {model}")
    return model


def loader(model: str) -> dict[str, Any]:
    return {
        "class_type": "ArtiMuseLoadModel",
        "inputs": {"model": model, "device": "auto", "dtype": "auto", "quantize": "none", "batch_size": 8},
    }


def check_workflow(server: Server, image: str, model: str, checkpoint: Path | None, timeout: float) -> None:
    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": loader(model),
        "3": {"class_type": "ArtiMuseScore", "inputs": {"artimuse_model": ["2", 0], "images": ["1", 0]}},
        "4": {
            "class_type": "ArtiMuseSelectBest",
            "inputs": {"artimuse_model": ["2", 0], "images": ["1", 0], "top_k": 1, "threshold": 0.0},
        },
        "5": {
            "class_type": "ArtiMuseSaveImage",
            "inputs": {
                "images": ["4", 0],
                "artimuse_model": ["2", 0],
                "filename_prefix": "artimuse_check/check",
                "critique": "none",
                "max_new_tokens": 64,
                "category": "auto",
                "save_to_library": False,
            },
        },
    }
    entry = server.run(workflow, timeout)
    node_score = entry["outputs"]["3"]["scores"][0]
    print(f"workflow: load, score, select, save ran; score {node_score:.4f}")
    saved = entry["outputs"]["5"]["images"][0]
    query = urllib.parse.urlencode({"filename": saved["filename"], "subfolder": saved["subfolder"], "type": "output"})
    png = server.call(f"/view?{query}", raw=True)
    from PIL import Image

    with Image.open(io.BytesIO(png)) as picture:
        text = dict(picture.text)
    missing = [k for k in ("artimuse", "artimuse_score", "prompt") if k not in text]
    if missing:
        raise CheckFailed(f"saved PNG {saved['filename']} lacks text chunks {missing}")
    chunk = float(text["artimuse_score"])
    if abs(chunk - node_score) > 1e-4:
        raise CheckFailed(f"artimuse_score chunk {chunk} differs from the node's score {node_score}")
    print(f"chunks: artimuse, artimuse_score ({chunk:.4f}) and prompt are in {saved['filename']}")
    if checkpoint is None:
        print("equal: not compared (pass --checkpoint to compare with `artimuse score` on the saved PNG)")
        return
    import tempfile

    from artimuse_core import create_engine

    with tempfile.TemporaryDirectory() as folder:  # the file itself, read as `artimuse score` reads it
        copy = Path(folder) / saved["filename"]
        copy.write_bytes(png)
        here = create_engine(checkpoint).score([copy])[0]
    if not here.ok or abs(here.score - node_score) > 1e-4:
        raise CheckFailed(f"node score {node_score} differs from `artimuse score` {here.score} ({here.error})")
    print(
        f"equal: node {node_score:.6f} vs `artimuse score` {here.score:.6f} on the saved PNG "
        f"(|diff| {abs(here.score - node_score):.1e})"
    )


def check_gate(server: Server, image: str, model: str, timeout: float) -> None:
    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": loader(model),
        "3": {
            "class_type": "ArtiMuseSelectBest",
            "inputs": {"artimuse_model": ["2", 0], "images": ["1", 0], "top_k": 1, "threshold": 100.0},
        },
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
        "5": {
            "class_type": "ImageScaleBy",
            "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact", "scale_by": ["3", 1]},
        },
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}},
        "7": {"class_type": "ImageFromBatch", "inputs": {"image": ["1", 0], "batch_index": ["3", 2], "length": 1}},
        "8": {"class_type": "PreviewImage", "inputs": {"images": ["7", 0]}},
    }
    ran = {"4", "6", "8"} & set(server.run(workflow, timeout)["outputs"])
    if ran:
        raise CheckFailed(f"Select Best let nodes {sorted(ran)} run with nothing over the threshold")
    print("gate: nothing over the threshold, and nothing downstream of images, scores or indices ran")


def check_interrupt(server: Server, image: str, model: str, timeout: float) -> None:
    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": loader(model),
        "3": {
            "class_type": "ArtiMuseCritique",
            "inputs": {
                "artimuse_model": ["2", 0],
                "images": ["1", 0],
                "attribute": "Overall Gestalt",
                "max_new_tokens": 2048,
            },
        },
    }
    prompt_id = server.queue(workflow)
    deadline = time.monotonic() + timeout
    while not server.running(prompt_id):
        if time.monotonic() > deadline:
            raise CheckFailed("the critique never started")
        time.sleep(0.2)
    time.sleep(8)  # past the image and prompt pass, into token-by-token generation
    asked = time.monotonic()
    server.call("/interrupt", {})
    entry = server.wait(prompt_id, timeout)
    took = time.monotonic() - asked
    kinds = [kind for kind, _ in entry["status"].get("messages", [])]
    if "execution_interrupted" not in kinds:
        raise CheckFailed(f"the 2048-token critique was not interrupted (it ended with {kinds[-1:]})")
    if took > 10:
        raise CheckFailed(f"/interrupt took {took:.1f} s to end the critique (more than 10 s)")
    print(f"interrupt: a 2048-token critique ended {took:.1f} s after /interrupt")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="http://127.0.0.1:8188", help="ComfyUI's address")
    parser.add_argument("--image", required=True, type=Path, help="an image file on this machine (uploaded)")
    parser.add_argument("--model", help="a checkpoint folder name under ComfyUI/models/artimuse")
    parser.add_argument("--checkpoint", type=Path, help="that folder's path, to compare with `artimuse score`")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per workflow")
    args = parser.parse_args()
    server = Server(args.server)
    try:
        model = check_nodes(server, args.model)
        image = server.upload(args.image)
        check_workflow(server, image, model, args.checkpoint, args.timeout)
        check_gate(server, image, model, args.timeout)
        check_interrupt(server, image, model, args.timeout)
    except (CheckFailed, OSError) as exc:
        print(f"FAIL: {exc}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
