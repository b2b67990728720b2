"""The figures of the README and the manual (docs/) are checked against what they describe, where they
stand, so that they cannot go stale: the memory table (docs/hardware.md) against
``resources.estimate_memory`` on the published shape, the speed table against the figures `artimuse doctor`
quotes (``machine.SPEED_FIGURES``), the model's size and download, doctor's example output
(docs/install.md), the test counts (docs/development.md) against the suite's own collection, the config
example (docs/configuration.md); and every page's commands follow one convention (the venv activated once,
then bare `artimuse`, `hf`, `python`). Figures that no test can keep true (times on a shared machine) are
not written down: the runs print them (the fast tier ends with its time)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from artimuse_core.machine import CPU_CORE_SECONDS, SPEED_FIGURES
from artimuse_core.resources import estimate_memory
from artimuse_core.sizing import shape_of

REPO = Path(__file__).resolve().parents[1]
GB = 1e9


def readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def page(name: str) -> str:
    """The manual's page ``docs/<name>.md``."""
    return (REPO / "docs" / f"{name}.md").read_text(encoding="utf-8")


def pages() -> dict[str, str]:
    """The README and every page of the manual, by path."""
    found = {"README.md": readme()}
    found.update(
        {str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in sorted((REPO / "docs").rglob("*.md"))}
    )
    return found


def flat(text: str) -> str:
    """The text with every run of white space as one space (a phrase may wrap in the README)."""
    return " ".join(text.split())


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("|---")]


@pytest.fixture(scope="module")
def published():
    return shape_of("InternVL3-8B")


def estimate(shape, device, dtype, quantize="none", batch=1):
    return estimate_memory(shape, device, dtype, quantize, batch_size=batch, available=(None, "a sizing table"))


@pytest.mark.slow  # the published shape is read through transformers' config classes (~3 s a process)
def test_the_memory_table_is_the_estimate_doctor_checks(published):
    rows = table_rows(page("hardware"))

    def gb(e) -> str:
        return f"{e.total_bytes / GB:.1f} GB"

    cuda = estimate(published, "cuda", "bfloat16"), estimate(published, "cuda", "bfloat16", batch=8)
    assert f"| NVIDIA GPU | bf16 | {gb(cuda[0])} at batch 1, {gb(cuda[1])} at batch 8" in "\n".join(rows)
    for label, bits in (("8-bit", "8bit"), ("4-bit", "4bit")):
        one, eight = (estimate(published, "cuda", "bfloat16", bits, batch=b) for b in (1, 8))
        (row,) = [r for r in rows if f"| {label} " in r]
        assert f"weights {one.weights_bytes / GB:.1f} GB; {gb(one)} at batch 1, {gb(eight)} at batch 8" in row
    fp32, bf16 = estimate(published, "cpu", "float32"), estimate(published, "cpu", "bfloat16")
    for line in rows:
        if "| CPU" in line and "| float32 |" in line:
            assert f"{gb(fp32)} RAM at batch 1" in line, line
        if "| CPU" in line and "| bf16 |" in line:
            assert f"{gb(bf16)} RAM at batch 1" in line, line
    assert sum("| CPU" in r for r in rows) >= 5


def test_the_speed_table_is_what_doctor_quotes():
    rows = table_rows(page("hardware"))
    for figure in SPEED_FIGURES:
        dtype = "bf16" if figure.dtype == "bfloat16" else "float32"
        if figure.per_core and figure.seconds > CPU_CORE_SECONDS:
            shown = "over 100x"
        elif figure.per_core:
            shown = f"~{figure.seconds:.0f} per image per core"
        else:
            shown = f"| {figure.seconds} " if figure.speed_class != "gpu" else f"{figure.seconds} at batch 1"
        where = {"gpu": "GPU", "amx-cpu": "with AMX", "bf16-cpu": "AMX", "cpu": "CPU"}[figure.speed_class]
        matching = [r for r in rows if f"| {dtype}" in r and where in r and shown in r]
        assert matching, f"no row of the speed table says {shown!r} for {figure}"


@pytest.mark.slow  # the published shape is read through transformers' config classes (~3 s a process)
def test_the_size_and_download_figures(published):
    assert (
        f"InternVL3-8B ({published.parameters / 1e9:.1f} B parameters; ~{published.download_bytes / GB:.0f} GB"
        in flat(page("hardware"))
    )
    assert f"the disk has room for its {published.download_bytes / GB:.1f} GB" in flat(page("install"))
    assert f"(InternVL3-8B, a {published.download_bytes / GB:.0f} GB download)" in flat(readme())


def test_doctors_example_is_what_doctor_prints(monkeypatch, tmp_path):
    """The first-run page shows doctor's problem and fix for a machine that cannot reach the hub: the same words."""
    import huggingface_hub.constants as constants

    from artimuse_cli.main import AppContext, cli
    from tests.test_doctor import UNREACHABLE, machine

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", "~/.cache/huggingface/hub")
    monkeypatch.setenv("ARTIMUSE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ARTIMUSE_MODEL", raising=False)
    context = AppContext(
        machine_facts=lambda: machine(ram_gb=64, flags=("avx512_bf16",)), hub_probe=lambda r: UNREACHABLE
    )
    printed = CliRunner().invoke(cli, ["doctor"], obj=context).stdout
    example = re.search(r"\n```\n(problem: .*?\n    fix: .*?)\n```", page("install"), re.S)
    assert example, "docs/install.md shows doctor's problem and fix"
    assert example.group(1) in printed


def test_commands_follow_one_convention():
    """The venv is activated by the first set-up command; no command elsewhere names .venv/bin/ (and the tools
    the README and the manual use bare are the venv's own)."""
    text = "\n".join(pages().values())
    mentions = re.findall(r"[.\w/]*\.venv/bin/[\w.-]*", text)
    assert set(mentions) <= {".venv/bin/activate"}, mentions
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    lines = [
        line for block in blocks for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    first_words = {line.split()[0] for line in lines}
    bin_dir = Path(sys.executable).parent
    for tool in ("artimuse", "hf", "python", "pip", "pytest", "mkdocs"):
        assert (bin_dir / tool).exists(), f"the venv has no {tool}"
    assert first_words <= {"python3", "python", "pip", "artimuse", "hf", "bash", "ray", "mkdocs"}, first_words


def collected(*args: str) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    counts = re.findall(r"(\d+)(?:/\d+)? tests? collected", done.stdout)
    assert counts, done.stdout[-2000:] + done.stderr[-2000:]
    return int(counts[-1])


@pytest.mark.slow
def test_the_test_counts_are_the_suites():
    """ "about N tests" (docs/development.md) within 10 % of what pytest collects (the full suite and the fast
    tier)."""
    stated = [int(n) for n in re.findall(r"about (\d+) tests", flat(page("development")))]
    assert len(stated) == 2, stated
    for claimed, actual in zip(stated, (collected(), collected("-m", "not slow"))):
        assert abs(claimed - actual) <= 0.1 * actual, f"README says about {claimed} tests, pytest collects {actual}"


def test_the_config_the_readme_shows_loads(tmp_path):
    """The manual's config.toml example is a valid config (keys and values)."""
    from artimuse_core.config import load_config

    block = re.search(r"```toml\n(.*?)```", page("configuration"), re.S)
    assert block
    file = tmp_path / "config.toml"
    file.write_text(block.group(1).replace("~/Exports", str(tmp_path)))
    assert load_config(file, environ={}).spec.model == "ArtiMuse"
    json.dumps(load_config(file, environ={}).to_dict())
