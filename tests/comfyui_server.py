"""A real ComfyUI server for integration tests: unpack the source archive, build (or reuse) its own virtual
environment, link the node pack, start ``main.py --cpu`` on a free 127.0.0.1 port, drive it over HTTP and
stop it by its PID.

The archive is ``../shared/comfyui/ComfyUI-<version>.tar.gz`` (see its README for what is known to work on
these machines). The environment is what a ComfyUI user has: torch first (never replaced), ComfyUI's own
requirements without torch/torchvision/torchaudio, then this project installed with the version RANGES of
its package metadata (not the lock), so the tests also prove that the ranges resolve beside ComfyUI.
torchvision cannot be installed beside the CPU torch wheel, so ``tests/comfyui_standin`` is put on the
server's PYTHONPATH.

Build the environment ahead of the tests (CI does, to show the time it takes)::

    python -m tests.comfyui_server build-venv
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from tests.processes import dies_with_parent

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
COMFYUI_VERSION = "0.3.64"
ARCHIVE = SHARED / "comfyui" / f"ComfyUI-{COMFYUI_VERSION}.tar.gz"
STANDIN = Path(__file__).resolve().parent / "comfyui_standin"
TORCH = "torch==2.13.0"
# Not installable beside the CPU torch (torchvision/torchaudio), or pulling torchvision in (spandrel, which
# is then installed without its dependencies, as ComfyUI's upscale nodes want it importable).
LEFT_OUT = {"torch", "torchvision", "torchaudio", "spandrel"}
HARNESS_VERSION = "1"  # bump to force a rebuild of cached environments


def missing_reason() -> str | None:
    """Why the real-server tests cannot run here, or None when they can."""
    if not ARCHIVE.is_file():
        return f"real ComfyUI not available: {ARCHIVE} is absent (../shared/comfyui holds it on project machines)"
    return None


# ------------------------------------------------------------------------------------------ environment
def _requirements(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.lstrip("./") == "requirements.txt")
        text = tar.extractfile(member).read().decode()
    keep = []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        name = line.split("=")[0].split(">")[0].split("<")[0].split("~")[0].strip().lower()
        if line and name not in LEFT_OUT:
            keep.append(line)
    return keep


def _project_dependencies() -> list[str]:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]


def venv_dir(archive: Path = ARCHIVE) -> Path:
    """ARTIMUSE_COMFYUI_VENV, or a cache folder keyed on everything that goes into the environment."""
    if os.environ.get("ARTIMUSE_COMFYUI_VENV"):
        return Path(os.environ["ARTIMUSE_COMFYUI_VENV"])
    key = hashlib.sha256(
        "\n".join([HARNESS_VERSION, TORCH, sys.version, *_requirements(archive), *_project_dependencies()]).encode()
    ).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "artimuse-studio" / f"comfyui-{COMFYUI_VERSION}-venv-{key}"


def _run(cmd: list, log, **kwargs) -> None:
    log("$ " + " ".join(map(str, cmd)))
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def ensure_venv(archive: Path = ARCHIVE, log=lambda _: None) -> Path:
    """The ComfyUI environment's python, built once (about 3 minutes) and reused while nothing changed."""
    import fcntl

    folder = venv_dir(archive)
    python = folder / "bin" / "python"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs never build the same folder at once
        if not (folder / ".complete").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            started = time.monotonic()
            _run([sys.executable, "-m", "venv", str(folder)], log)
            pip = [str(python), "-m", "pip", "--disable-pip-version-check", "install", "--quiet"]
            _run(pip + ["--upgrade", "pip", "setuptools>=75", "wheel"], log)
            _run(pip + [TORCH], log)  # first, and pinned: nothing later may replace it
            pin = folder / "torch-pin.txt"
            pin.write_text(TORCH + "\n")
            _run(pip + ["-c", str(pin), *_requirements(archive), "requests"], log)
            _run(pip + ["--no-deps", "spandrel"], log)
            # The project's dependencies, resolved from its ranges beside ComfyUI's (never the lock).
            _run(pip + ["-c", str(pin), str(REPO)], log)
            _check_torch(python)
            (folder / ".complete").write_text(f"built in {time.monotonic() - started:.0f} s\n")
    _install_project(python, log)
    return python


def _check_torch(python: Path) -> None:
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('torch'))"], capture_output=True, text=True
    ).stdout.strip()
    if not version.startswith(TORCH.split("==")[1]):
        raise RuntimeError(f"pip replaced torch in the ComfyUI environment ({version}); see {python}")


def _install_project(python: Path, log) -> None:
    """This checkout, installed editable (fast, no dependency changes) unless it already is.

    The probe runs outside the checkout (from the checkout, ``python -c`` would import its source tree and
    look installed) and asks for the migrations, which only the install maps into the package
    (``package-dir``: the top-level ``migrations/`` is ``artimuse_core.library.migrations``)."""
    probe = "import artimuse_core.library.migrations as m, os; print(os.path.realpath(m.__file__))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with tempfile.TemporaryDirectory() as elsewhere:
        found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd=elsewhere, env=env)
    if found.stdout.strip().startswith(str((REPO / "migrations").resolve()) + os.sep):
        return
    _run(
        [
            str(python),
            "-m",
            "pip",
            "--disable-pip-version-check",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-e",
            str(REPO),
        ],
        log,
    )
    _check_torch(python)


# ------------------------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyUIError(RuntimeError):
    pass


class ComfyUI:
    """One unpacked ComfyUI tree and (at most) one server process running from it."""

    def __init__(self, root: Path, python: Path, env: dict[str, str] | None = None):
        self.root = Path(root)
        self.python = python
        self.env = dict(env or {})
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.log_path = self.root / "server.log"
        self.extra_args: list[str] = []

    @classmethod
    def unpack(cls, folder: Path, python: Path, archive: Path = ARCHIVE) -> ComfyUI:
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
        return cls(folder, python)

    # ---- layout
    def link_pack(self, pack: Path = REPO / "plugins" / "comfyui", name: str = "ComfyUI-ArtiMuse") -> Path:
        target = self.root / "custom_nodes" / name
        target.symlink_to(pack, target_is_directory=True)
        return target

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def output(self) -> Path:
        return self.root / "output"

    # ---- process
    def start(self, timeout: float = 240) -> None:
        """Start main.py and wait until /system_stats answers; raise with the log's tail if it dies."""
        if self.process is not None:
            raise ComfyUIError("already running")
        self.port = free_port()
        env = dict(os.environ)
        env.pop("PYTHONHOME", None)
        env.update(
            {
                "PYTHONPATH": str(STANDIN),
                "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
                "TOKENIZERS_PARALLELISM": "false",
            }
        )
        env.update(self.env)
        cmd = [
            str(self.python),
            "main.py",
            "--cpu",
            "--listen",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--disable-api-nodes",
            *self.extra_args,
        ]
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(  # ended with its fixture; by the kernel when the test run is killed
            cmd,
            cwd=self.root,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=dies_with_parent(signal.SIGTERM),
        )
        self.started = time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ComfyUIError(f"ComfyUI exited ({self.process.returncode}) during start-up:\n{self.log_tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                if self.get("/system_stats") is not None:
                    self.ready_after = time.monotonic() - self.started
                    return
            time.sleep(0.5)
        self.stop()
        raise ComfyUIError(f"ComfyUI did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Terminate the server by its PID and wait for it to exit."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        self.process = None
        self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]

    def rss(self) -> int:
        """Resident memory of the server process, bytes."""
        import psutil

        return psutil.Process(self.process.pid).memory_info().rss

    # ---- HTTP
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        path: str,
        payload: dict | None = None,
        *,
        data: bytes | None = None,
        headers: dict | None = None,
        timeout: float = 60,
    ):
        if payload is not None:
            data = json.dumps(payload).encode()
            headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(
            self.url + path, data=data, headers=headers or {}, method="POST" if data is not None else "GET"
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def get(self, path: str):
        return self.request(path)

    def object_info(self, node: str | None = None) -> dict:
        info = self.get("/object_info" + (f"/{node}" if node else ""))
        return info[node] if node else info

    def upload_image(self, path: Path, name: str | None = None) -> str:
        """POST /upload/image (multipart); returns the name to give LoadImage."""
        boundary = uuid.uuid4().hex
        name = name or Path(path).name
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + Path(path).read_bytes()
            + (
                f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="overwrite"\r\n\r\ntrue'
                f"\r\n--{boundary}--\r\n"
            ).encode()
        )
        answer = self.request(
            "/upload/image", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        return answer["name"] if not answer.get("subfolder") else f"{answer['subfolder']}/{answer['name']}"

    def queue(self, workflow: dict, client_id: str | None = None) -> str:
        """POST /prompt; raise ComfyUIError with ComfyUI's validation errors when it refuses the prompt."""
        try:
            answer = self.request("/prompt", {"prompt": workflow, "client_id": client_id or uuid.uuid4().hex})
        except urllib.error.HTTPError as exc:
            raise ComfyUIError(f"/prompt refused the workflow: {exc.read().decode()[:3000]}") from exc
        return answer["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 300) -> dict:
        """Poll /history/<id> until the prompt completed or failed; return its history entry."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.get(f"/history/{urllib.parse.quote(prompt_id)}").get(prompt_id)
            if entry is not None:
                status = entry.get("status", {})
                if status.get("completed") or status.get("status_str") == "error":
                    return entry
            if self.process.poll() is not None:
                raise ComfyUIError(f"ComfyUI died while running {prompt_id}:\n{self.log_tail()}")
            time.sleep(0.2)
        raise ComfyUIError(f"prompt {prompt_id} did not finish within {timeout:.0f} s:\n{self.log_tail()}")

    def run(self, workflow: dict, timeout: float = 300) -> dict:
        """Queue and wait; raise with ComfyUI's own error (type, message, traceback) when the prompt failed."""
        entry = self.wait(self.queue(workflow), timeout)
        error = failure(entry)
        if error:
            raise ComfyUIError(error)
        return entry

    def interrupt(self) -> None:
        self.request("/interrupt", {})

    def free(self, unload_models: bool = True, free_memory: bool = True) -> None:
        self.request("/free", {"unload_models": unload_models, "free_memory": free_memory})


#: Imported by the server's Python at start-up (``sitecustomize`` on its path): this checkout's top-level
#: ``migrations/`` as ``artimuse_core.library.migrations``, the name the package's install maps it to. With
#: the core imported from the checkout itself, nothing else would find it (a fresh environment has a plain
#: install), or the editable install of whichever checkout last ran would supply its migrations instead.
SITECUSTOMIZE = """import importlib.abc, importlib.util, sys

MIGRATIONS = {folder!r}


class ThisCheckoutsMigrations(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "artimuse_core.library.migrations":
            return None
        init = MIGRATIONS + "/__init__.py"
        return importlib.util.spec_from_file_location(name, init, submodule_search_locations=[MIGRATIONS])


sys.meta_path.insert(0, ThisCheckoutsMigrations())
"""


def with_pack(root: Path, python: Path, pack: Path = REPO / "plugins" / "comfyui") -> ComfyUI:
    """ComfyUI unpacked under ``root`` with the pack linked into custom_nodes, its own ARTIMUSE_HOME and
    HF_HOME under ``root``, and this checkout's core first on its path, its migrations included
    (``SITECUSTOMIZE``: the cached environment is shared by every checkout on the machine, and its install
    may be a plain one or an editable one of another checkout); not started."""
    server = ComfyUI.unpack(root / "ComfyUI", python)
    server.link_pack(pack)
    site = root / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(folder=str(REPO / "migrations")))
    server.env["ARTIMUSE_HOME"] = str(root / "artimuse_home")
    server.env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO), str(STANDIN)])
    server.env["HF_HOME"] = str(root / "hf_home")
    return server


def failure(entry: dict) -> str | None:
    """ComfyUI's execution_error of a history entry, as one readable text, or None."""
    for kind, data in entry.get("status", {}).get("messages", []):
        if kind == "execution_error":
            return (
                f"{data.get('node_type')} (node {data.get('node_id')}): {data.get('exception_type')}: "
                f"{data.get('exception_message')}\n" + "".join(data.get("traceback") or [])[-3000:]
            )
    return None


def message(entry: dict, kind: str) -> dict | None:
    return next((data for k, data in entry.get("status", {}).get("messages", []) if k == kind), None)


def main(argv: list[str]) -> int:
    if argv[:1] != ["build-venv"]:
        print(__doc__)
        return 2
    reason = missing_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    started = time.monotonic()
    python = ensure_venv(log=print)
    print(
        f"ComfyUI {COMFYUI_VERSION} environment ready: {python.parent.parent} "
        f"({time.monotonic() - started:.0f} s this time; {(python.parent.parent / '.complete').read_text().strip()})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
