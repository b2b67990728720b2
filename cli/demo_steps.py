"""The parts of `artimuse demo` that are not one command: its private home and checkpoint, the watcher as
its own process with a file dropped into its folder, and the gallery fetched by the demo itself.

Everything happens inside the demo folder (``Demo.root``): its own ARTIMUSE_HOME (config, library,
thumbnails), a copy of the sample images, the tiny checkpoint, the watched folder. The user's own home,
library and settings are never read or written: every ``ARTIMUSE_*`` variable is set aside meanwhile.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LABEL = "demo weights: scores are noise"
#: The checkpoint's folder name is its model name: every table, sidecar and gallery page shows it.
MODEL_NAME = "demo-weights-scores-are-noise"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class Demo:
    """The demo folder's parts."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def checkpoint(self) -> Path:
        return self.root / MODEL_NAME


def find_samples(given: str | None) -> Path | None:
    """The images to run on: ``given``, else the repository's ``samples/`` (beside this package in a clone
    or an editable install), else ``./samples``; None when there is none."""
    candidates = [Path(given)] if given else [Path(__file__).resolve().parents[1] / "samples", Path("samples")]
    for folder in candidates:
        if folder.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir()):
            return folder
    return None


@contextmanager
def demo_environment(demo: Demo) -> Iterator[dict[str, str]]:
    """Run the enclosed block with ``demo.home`` as ARTIMUSE_HOME, no other ``ARTIMUSE_*`` variable (the
    user's model, database URL... stay out) and Hugging Face offline; yields that environment. Restores
    the user's environment afterwards."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("ARTIMUSE_")]:
        del os.environ[key]
    os.environ.update(ARTIMUSE_HOME=str(demo.home), HF_HUB_OFFLINE="1", NO_COLOR="1")
    try:
        yield dict(os.environ)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def prepare(demo: Demo, samples: Path) -> dict[str, Any]:
    """Copy the samples (the originals are never written to), build the tiny checkpoint with the project's
    synthetic builder (seeded, published chat layout, no download) and write the demo home's config."""
    from artimuse_core import build_checkpoint

    demo.samples.mkdir(parents=True)
    copied = [
        shutil.copy2(p, demo.samples / p.name) for p in sorted(samples.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    demo.inbox.mkdir()
    demo.home.mkdir()
    build_checkpoint(demo.checkpoint, seed=0)
    (demo.home / "config.toml").write_text(
        f"# artimuse demo: {LABEL}\nmodel = {str(demo.checkpoint)!r}\nmax_new_tokens = 16\n", encoding="utf-8"
    )
    size = sum(f.stat().st_size for f in demo.checkpoint.iterdir())
    return {"checkpoint": str(demo.checkpoint), "layout": "chat", "bytes": size, "samples": len(copied)}


def parameters(checkpoint: Path) -> int:
    """Parameters of a checkpoint, from its safetensors headers."""
    from artimuse_core import estimate_memory, inspect_checkpoint

    return estimate_memory(inspect_checkpoint(checkpoint), "cpu", "float32", available=(None, "")).parameters


def dropped_image(demo: Demo) -> Path:
    """A new picture (a sample mirrored: content no model has scored yet) written into the watched folder
    the way an export lands: a temporary name, then a rename."""
    from PIL import Image

    source = sorted(demo.samples.iterdir())[0]
    target = demo.inbox / f"dropped-{source.stem}.jpg"
    partial = demo.inbox / f"{target.name}.part"
    with Image.open(source) as image:
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).convert("RGB").save(partial, "JPEG", quality=90)
    partial.rename(target)
    return target


def watch_once(demo: Demo, env: dict[str, str], timeout_s: float = 180.0) -> dict[str, Any]:
    """`artimuse watch` on the demo inbox, as its own process: wait until it runs, drop a new image, wait
    for the library to hold its score, stop the watcher with SIGINT (as Ctrl+C would) and report.

    Raises:
        RuntimeError: the watcher exited, or did not score the file within ``timeout_s`` (with its log).
    """
    from artimuse_core.library import Library
    from artimuse_watcher.heartbeat import read_heartbeat

    log_file = demo.root / "watch.log"
    command = [sys.executable, "-m", "artimuse_cli", "watch", str(demo.inbox), "--debounce", "0.3"]
    deadline = time.monotonic() + timeout_s
    with open(log_file, "w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        status_file = demo.home / "run" / "watcher.json"
        while read_heartbeat(status_file).get("state") != "running":
            _still_running(process, deadline, log_file, "start")
            time.sleep(0.2)
        dropped = dropped_image(demo)
        library = Library.at(demo.home / "library.db")
        try:
            while not (found := [r for r in library.history(limit=20) if Path(r.path).name == dropped.name]):
                _still_running(process, deadline, log_file, f"score {dropped.name}")
                time.sleep(0.2)
        finally:
            library.close()
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    record = found[0]
    lines = [line for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    return {
        "command": ["artimuse", *command[3:]],
        "dropped": str(dropped),
        "score": round(record.score, 2),
        "std": round(record.std, 2),
        "model": record.model,
        "exit_code": code,
        "log": lines,
    }


def _still_running(process: subprocess.Popen[bytes], deadline: float, log_file: Path, waiting_to: str) -> None:
    if process.poll() is not None or time.monotonic() > deadline:
        why = f"exited with code {process.returncode}" if process.poll() is not None else "timed out"
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-10:])
        raise RuntimeError(f"the watcher {why} waiting to {waiting_to}:\n{tail}")


def fetch(url: str) -> tuple[int, str, bytes]:
    """GET ``url`` (a loopback address): status, content type, body."""
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - our own 127.0.0.1 server
        return response.status, response.headers.get("content-type", ""), response.read()


def check_gallery(url: str, names: list[str]) -> dict[str, Any]:
    """Fetch the gallery page and one thumbnail from it: proof it serves what the library holds.

    Raises:
        RuntimeError: a page that is not 200, without the demo label, or missing one of ``names``.
    """
    status, _, body = fetch(url)
    page = body.decode("utf-8", errors="replace")
    missing = [n for n in names if n not in page]
    if status != 200 or LABEL not in page or missing:
        raise RuntimeError(f"the gallery page answered {status}; label shown: {LABEL in page}; missing: {missing}")
    pictures = re.findall(r'src="(/picture/\d+/s)"', page)
    if not pictures:
        raise RuntimeError("the gallery page shows no pictures")
    status, kind, data = fetch(url.rstrip("/") + pictures[0])
    if status != 200 or not kind.startswith("image/"):
        raise RuntimeError(f"the gallery's thumbnail {pictures[0]} answered {status} {kind}")
    return {"url": url, "tiles": len(pictures), "thumbnail": f"{pictures[0]}: {kind}, {len(data)} bytes"}


def sidecar_lines(sidecar: Path) -> list[str]:
    """The properties of an XMP sidecar a reader looks for first (score, model, rating), as written."""
    text = sidecar.read_text(encoding="utf-8", errors="replace")
    wanted = ("artimuse:Score", "artimuse:Std", "artimuse:Model", "xmp:Rating", "artimuse:Category")
    found = []
    for name in wanted:
        match = re.search(rf'{name}="([^"]*)"|<{name}>([^<]*)</{name}>', text)
        if match:
            found.append(f"{name} = {match.group(1) if match.group(1) is not None else match.group(2)}")
    return found
