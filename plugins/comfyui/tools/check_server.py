"""Check the pack inside a real, running ComfyUI: nodes in /object_info with the right inputs and outputs,
and a workflow (load an image, score it, select the best, save) submitted to /prompt runs to completion.

    python check_server.py --server http://127.0.0.1:8188 --image example.png --model ArtiMuse

The image must be in ComfyUI's input folder; the model a folder name under models/artimuse or a published
checkpoint name. Exits 0 when everything checks out, 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
import uuid

EXPECTED = {
    "ArtiMuseLoadModel": (["model", "device", "dtype", "quantize", "batch_size"], ["ARTIMUSE_MODEL"]),
    "ArtiMuseScore": (["artimuse_model", "images"], ["FLOAT", "STRING"]),
    "ArtiMuseCritique": (["artimuse_model", "images", "attribute", "max_new_tokens"], ["STRING"]),
    "ArtiMuseSelectBest": (["artimuse_model", "images", "top_k", "threshold"], ["IMAGE", "FLOAT", "INT"]),
    "ArtiMuseSaveImage": (["images", "artimuse_model", "filename_prefix", "critique", "save_to_library"], []),
}


def call(server: str, path: str, payload: dict | None = None) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(server + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="http://127.0.0.1:8188")
    parser.add_argument("--image", required=True)
    parser.add_argument("--model", default="ArtiMuse")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    info = call(args.server, "/object_info")
    for name, (inputs, outputs) in EXPECTED.items():
        if name not in info:
            print(f"FAIL: {name} missing from /object_info (did the pack import? see ComfyUI's log)")
            return 1
        required = list(info[name]["input"]["required"])
        if required != inputs or list(info[name]["output"]) != outputs:
            print(f"FAIL: {name}: inputs {required}, outputs {info[name]['output']}")
            return 1
    print("object_info: all five ArtiMuse nodes with the expected inputs and outputs")
    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": args.image}},
        "2": {"class_type": "ArtiMuseLoadModel", "inputs": {"model": args.model, "device": "auto", "dtype": "auto",
                                                            "quantize": "none", "batch_size": 8}},
        "3": {"class_type": "ArtiMuseScore", "inputs": {"artimuse_model": ["2", 0], "images": ["1", 0]}},
        "4": {"class_type": "ArtiMuseSelectBest", "inputs": {"artimuse_model": ["2", 0], "images": ["1", 0],
                                                             "top_k": 1, "threshold": 0.0}},
        "5": {"class_type": "ArtiMuseSaveImage", "inputs": {"images": ["4", 0], "artimuse_model": ["2", 0],
                                                            "filename_prefix": "artimuse_check", "critique": "none",
                                                            "save_to_library": False}},
    }
    prompt_id = call(args.server, "/prompt", {"prompt": workflow, "client_id": str(uuid.uuid4())})["prompt_id"]
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        history = call(args.server, f"/history/{prompt_id}")
        if prompt_id in history:
            entry = history[prompt_id]
            status = entry.get("status", {})
            if status.get("status_str") == "success" or status.get("completed"):
                print("prompt ran:", json.dumps(entry["outputs"].get("3", {}).get("text")))
                return 0
            print("FAIL:", json.dumps(status)[:2000])
            return 1
        time.sleep(1)
    print("FAIL: the prompt did not finish in time")
    return 1


if __name__ == "__main__":
    sys.exit(main())
