"""`artimuse doctor` tells the truth on each kind of machine: the machine's facts and the hub's answer are
injected (``AppContext(machine_facts=..., hub_probe=...)``), so every verdict is checked on the machine it is
about, not on the one the tests happen to run on. The figures it quotes are derived from the checkpoint's
shape (``sizing``) and the speed table (``machine.SPEED_FIGURES``), so the tests derive them the same way."""

from __future__ import annotations

import http.server
import json
import re
import threading

import pytest
from click.testing import CliRunner

from artimuse_cli.main import AppContext, cli
from artimuse_core.machine import SPEED_FIGURES, Gpu, Machine, estimate_speed
from artimuse_core.resources import estimate_memory
from artimuse_core.sizing import shape_of
from artimuse_core.testing import FakeEngine

GB = 1e9
UNREACHABLE = "ConnectError: [Errno -2] Name or service not known"


def machine(ram_gb: float = 24, flags: tuple[str, ...] = (), gpus: tuple[Gpu, ...] = (), disk_gb: float = 500):
    return Machine(
        "Test CPU",
        2,
        frozenset(flags),
        int(ram_gb * GB),
        int(ram_gb * GB),
        "injected",
        gpus,
        free_disk=lambda path: int(disk_gb * GB),
    )


def doctor(facts: Machine, *args: object, hub: str | None = None):
    """`artimuse doctor ARGS --json` judged on ``facts``; ``hub``: what the hub probe answers (None: it
    answers). Returns (result, report, the repos the hub was asked about)."""
    asked: list[str] = []

    def probe(repo_id: str) -> str | None:
        asked.append(repo_id)
        return hub

    context = AppContext(engine_factory=FakeEngine, machine_facts=lambda: facts, hub_probe=probe)
    result = CliRunner().invoke(cli, ["doctor", *map(str, args), "--json"], obj=context)
    return result, json.loads(result.stdout), asked


@pytest.fixture()
def online(monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture(scope="module")
def published():
    return shape_of("InternVL3-8B", "ArtiMuse")


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    from artimuse_core.synthetic import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("doctor") / "small", seed=0)


def test_offline_and_not_cached_is_a_problem_and_nothing_is_asked(home):
    result, report, asked = doctor(machine(ram_gb=64, flags=("amx_tile", "amx_bf16")))
    assert result.exit_code == 1 and report["ready"] is False and asked == []  # no network when downloads are off
    (problem,) = report["problems"]
    assert "not in the local Hugging Face cache" in problem["problem"] and "downloads are off" in problem["problem"]
    assert "hf download Thunderbolt215215/ArtiMuse" in problem["fix"] and "--model" in problem["fix"]
    assert report["memory"].startswith("needs ~") and "7.94B parameters" in report["memory"]  # sized before download
    text = CliRunner().invoke(cli, ["doctor"], obj=AppContext(machine_facts=lambda: machine(ram_gb=64)))
    assert text.exit_code == 1 and "problem:" in text.stdout and "fix:" in text.stdout
    assert "artimuse demo" in text.stdout and "ready" not in text.stdout


def test_a_hub_that_cannot_be_reached_is_a_problem(home, online):
    result, report, asked = doctor(machine(ram_gb=64, flags=("amx_tile", "amx_bf16")), hub=UNREACHABLE)
    assert result.exit_code == 1 and asked == ["Thunderbolt215215/ArtiMuse"]
    (problem,) = report["problems"]
    assert (
        "cannot be downloaded from https://huggingface.co" in problem["problem"] and UNREACHABLE in problem["problem"]
    )
    assert "hf download Thunderbolt215215/ArtiMuse" in problem["fix"] and report["downloads"] is True


def test_a_download_that_does_not_fit_the_disk_is_a_problem(home, online, published):
    result, report, _ = doctor(machine(ram_gb=64, flags=("amx_tile", "amx_bf16"), disk_gb=5))
    assert result.exit_code == 1
    (problem,) = report["problems"]
    assert f"needs {published.download_bytes / GB:.1f} GB" in problem["problem"] and "5.0 GB free" in problem["problem"]
    assert "HF_HOME" in problem["fix"]


def test_reachable_with_room_and_memory_is_ready(home, online, published):
    result, report, asked = doctor(machine(ram_gb=64, flags=("amx_tile", "amx_bf16")))
    assert result.exit_code == 0 and report["ready"] and report["problems"] == [] and asked
    assert f"downloads on first use ({published.download_bytes / GB:.1f} GB" in report["checkpoint_note"]
    assert report["speed_estimate"]["class"] == "amx-cpu" and report["speed_estimate"]["seconds_per_image"] == 12.7


def test_too_little_memory_on_a_cpu_without_bf16_instructions(home, online, published):
    """The machine of a new user: 24 GB, 2 cores, no AMX or AVX512-BF16. float32 does not fit; bfloat16 would,
    but runs over 100x slower there: a problem, with what would fit here and elsewhere."""
    result, report, _ = doctor(machine(ram_gb=24))
    assert result.exit_code == 1
    (problem,) = report["problems"]
    fp32 = estimate_memory(published, "cpu", "float32", batch_size=8, available=(None, ""))
    assert f"float32 needs {fp32.total_bytes / GB:.1f} GB, this machine has 24.0 GB available" in problem["problem"]
    assert "no bf16 instructions" in problem["problem"]
    assert re.search(r"~[\d.]+ (min|h) per image", problem["problem"])  # per torch thread: every core here
    bf16 = estimate_memory(published, "cpu", "bfloat16", batch_size=1, available=(None, "")).total_bytes / GB
    assert f"--dtype bfloat16 on a CPU with AMX and {int(-(-bf16 // 1))}+ GB of RAM" in problem["fix"]
    assert "--quantize 8bit on a GPU with 11+ GB (a 12 GB card)" in problem["fix"]
    assert report["speed_estimate"]["class"] == "cpu" and report["speed_estimate"]["dtype"] == "bfloat16"


def test_the_same_machine_with_avx512_bf16_is_ready_in_bfloat16(home, online):
    result, report, _ = doctor(machine(ram_gb=24, flags=("avx512_bf16",)))
    assert result.exit_code == 0 and report["problems"] == []
    assert report["placement"].startswith("cpu bfloat16")
    (note,) = report["notes"]
    assert "dtype auto loads in bfloat16" in note and "bf16 instructions" in note
    assert report["speed_estimate"]["class"] == "bf16-cpu"


def test_a_present_checkpoint_with_enough_memory_is_ready(home, small_checkpoint):
    result, report, asked = doctor(machine(ram_gb=16, flags=("amx_tile", "amx_bf16")), "--model", small_checkpoint)
    assert result.exit_code == 0 and report["ready"] and report["checkpoint_found"] and asked == []
    assert report["memory"].startswith("needs ~") and "16.0 GB available (injected" in report["memory"]
    assert report["speed"].startswith("CPU with AMX, float32: ~12.7 s per image")
    text = CliRunner().invoke(
        cli, ["doctor", "--model", str(small_checkpoint)], obj=AppContext(machine_facts=lambda: machine(ram_gb=16))
    )
    assert text.exit_code == 0 and "ready: the configured model can run here" in text.stdout


def test_a_present_checkpoint_without_the_memory_is_a_problem(home, small_checkpoint):
    result, report, _ = doctor(machine(ram_gb=0.001), "--model", small_checkpoint)
    assert result.exit_code == 1
    (problem,) = report["problems"]
    assert "float32 needs" in problem["problem"] and "this machine has 0.0 GB available" in problem["problem"]
    assert problem["fix"].startswith("run it where it fits: ")


def test_on_a_gpu_too_small_for_bfloat16_the_fix_is_the_quantisation_that_fits(published):
    """A 12 GB card: bf16 needs ~18 GB at batch 8, 8-bit 13.4, 4-bit 10.5: the fix names 4-bit."""
    import torch

    from artimuse_core.devices import Placement
    from artimuse_core.doctor import Diagnosis, check_memory
    from artimuse_core.spec import EngineSpec

    card = machine(gpus=(Gpu("RTX 4070", int(12 * GB)),))
    found = Diagnosis({})
    check_memory(found, published, Placement(torch.device("cuda"), torch.bfloat16, "sdpa"), EngineSpec(), card, 1)
    (problem,) = found.problems
    four = estimate_memory(published, "cuda", "bfloat16", "4bit", batch_size=8, available=(None, ""))
    assert "bfloat16 needs" in problem.problem and "RTX 4070 total" in problem.problem
    assert f"the quantize setting 4bit (needs {four.total_bytes / GB:.1f} GB)" in problem.fix
    roomy = Diagnosis({})
    big = machine(gpus=(Gpu("RTX 4090", int(24 * GB)),))
    check_memory(roomy, published, Placement(torch.device("cuda"), torch.bfloat16, "sdpa"), EngineSpec(), big, 1)
    assert roomy.problems == [] and roomy.facts["memory"].startswith("needs ~18.4 GB on cuda")


def test_speed_classes_quote_the_table():
    plain, amx, gpu = machine(), machine(flags=("amx_tile", "amx_bf16")), machine(gpus=(Gpu("H100", 80 * 10**9),))
    per_core = next(f.seconds for f in SPEED_FIGURES if (f.speed_class, f.dtype) == ("cpu", "float32"))
    assert estimate_speed(plain, "cpu", "float32", "none", 2).seconds_per_image == per_core / 2
    assert estimate_speed(amx, "cpu", "bfloat16", "none", 12).seconds_per_image == 4.0
    assert estimate_speed(gpu, "cuda", "bfloat16", "none", 1).seconds_per_image == 0.106
    quantised = estimate_speed(gpu, "cuda", "bfloat16", "8bit", 1)
    assert quantised.seconds_per_image is None and "not measured" in quantised.describe()
    assert estimate_speed(plain, "cpu", "bfloat16", "none", 1).seconds_per_image >= 100 * per_core


class _Hub(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []

    def do_HEAD(self) -> None:  # noqa: N802 - the http.server name
        self.seen.append(("HEAD", self.path))
        self.send_response(200 if self.path.startswith("/Thunderbolt215215/ArtiMuse/") else 404)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(("GET", self.path))
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_the_hub_probe_asks_with_one_head_request_and_downloads_nothing(online):
    from artimuse_core.doctor import probe_hub
    from artimuse_web.server import free_port

    server = http.server.HTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    try:
        assert probe_hub("Thunderbolt215215/ArtiMuse", endpoint=endpoint) is None
        assert probe_hub("someone/missing", endpoint=endpoint) == "HTTP 404: the hub has no such model"
    finally:
        server.shutdown()
    assert _Hub.seen == [
        ("HEAD", "/Thunderbolt215215/ArtiMuse/resolve/main/config.json"),
        ("HEAD", "/someone/missing/resolve/main/config.json"),
    ]
    closed = probe_hub("Thunderbolt215215/ArtiMuse", timeout=2, endpoint=f"http://127.0.0.1:{free_port()}")
    assert closed is not None and closed.startswith("ConnectError")


def test_this_machine_is_read_without_guessing():
    from artimuse_core.machine import this_machine

    here = this_machine()
    assert here.cores >= 1 and (here.ram_total is None or here.ram_total > 0)
    assert here.speed_class("cpu") in ("amx-cpu", "bf16-cpu", "cpu")
