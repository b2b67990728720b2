"""`artimuse demo`: the whole product on the sample images, with a tiny random checkpoint instead of the
16 GB model, in a folder of its own: score, top, a critique, XMP sidecars, the watcher and the gallery.

Each step runs the real thing (the same commands a user types, in this process; the watcher as its own
process) and is labelled "demo weights: scores are noise": the checkpoint is random, so are its scores.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .context import AppContext, app
from .demo_steps import LABEL, Demo, demo_environment, find_samples
from .options import json_option
from .output import emit_json, styled

STEPS = ("checkpoint", "score", "top", "critique", "xmp", "watcher", "gallery")


@dataclass
class Step:
    """One step's outcome: ``status`` is ok, failed or skipped (``detail`` says why)."""

    name: str
    title: str
    status: str = "ok"
    detail: str = ""
    command: list[str] = field(default_factory=list)
    output: Any = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "title": self.title,
            "label": LABEL,
            "status": self.status,
            "detail": self.detail,
            "command": self.command,
            "output": self.output,
            "seconds": round(self.seconds, 2),
        }


class Runner:
    """Runs the steps in order, printing a progress line for each (or collecting them for --json)."""

    def __init__(self, demo: Demo, as_json: bool):
        self.demo, self.as_json = demo, as_json
        self.steps: list[Step] = []

    def say(self, text: str = "", **style: Any) -> None:
        if not self.as_json:
            click.echo(styled(text, **style) if style else text)

    def step(self, name: str, title: str, work: Callable[[Step], None]) -> Step:
        step = Step(name, title)
        self.say(f"[{len(self.steps) + 1}/{len(STEPS)}] {name}: {title} ({LABEL})", bold=True)
        started = time.perf_counter()
        try:
            work(step)
        except Exception as exc:  # a step that breaks is reported and the demo goes on to the next
            step.status, step.detail = "failed", f"{type(exc).__name__}: {exc}"
        step.seconds = time.perf_counter() - started
        colour = {"ok": "green", "skipped": "yellow", "failed": "red"}[step.status]
        detail = f": {step.detail}" if step.detail else ""
        self.say("      " + styled(f"{step.status}{detail}", fg=colour) + f" ({step.seconds:.1f} s)")
        self.steps.append(step)
        return step

    def command(self, step: Step, args: list[str], check: Callable[[int, str, str], str | None]) -> None:
        """Run `artimuse ARGS` in this process on the demo home; ``check(code, stdout, stderr)`` returns
        why the output is wrong, or None."""
        args = [*args, "--json"] if self.as_json else args
        step.command = ["artimuse", *args]
        self.say(f"      $ {' '.join(step.command)}")
        code, out, err = invoke(args)
        for line in (out + err).splitlines():
            self.say(f"      │ {printable(line)}")
        step.output = _parsed(out) if self.as_json else None
        problem = check(code, out, err)
        if problem:
            step.status, step.detail = "failed", problem


def invoke(args: list[str]) -> tuple[int, str, str]:
    """`artimuse ARGS` through the root command, with this process's engine factory: (exit code, stdout,
    stderr). The demo environment must be in force (``demo_environment``)."""
    root = click.get_current_context().find_root().command
    context = AppContext(engine_factory=app().engine_factory, verbose=app().verbose)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result = root.main(args, prog_name="artimuse", standalone_mode=False, obj=context)
            code = result if isinstance(result, int) else 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            code = exc.exit_code
    return code, out.getvalue(), err.getvalue()


def printable(text: str) -> str:
    """A random model's critique can hold any character: control characters are shown as ``·``."""
    return "".join(c if c.isprintable() or c == "\t" else "·" for c in text)


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _expect(code: int, wanted: str | None = None) -> Callable[[int, str, str], str | None]:
    def check(got: int, out: str, err: str) -> str | None:
        if got != code:
            return f"exit code {got}, expected {code}: {err.strip().splitlines()[-1] if err.strip() else ''}"
        if wanted and wanted not in out + err:
            return f"the output does not say {wanted!r}"
        return None

    return check


def run_steps(runner: Runner, samples: Path, env: dict[str, str], *, serve: bool, port: int) -> None:
    """The seven steps, in the order a new user meets the product."""
    from . import demo_steps

    demo = runner.demo
    names = sorted(p.name for p in samples.iterdir() if p.suffix.lower() in demo_steps.IMAGE_SUFFIXES)

    def checkpoint(step: Step) -> None:
        step.output = demo_steps.prepare(demo, samples)
        count = demo_steps.parameters(demo.checkpoint)
        step.output["parameters"] = count
        runner.say(
            f"      built {demo.checkpoint}: {count / 1e6:.2f} M random parameters (seeded), the published chat "
            f"layout, {step.output['bytes'] / 1e6:.1f} MB, nothing downloaded; {len(names)} sample images "
            f"copied to {demo.samples}; ArtiMuse home {demo.home}"
        )

    runner.step("checkpoint", "a tiny random checkpoint and a home of its own", checkpoint)
    if runner.steps[-1].status != "ok":
        return
    runner.step(
        "score",
        "score the sample images into the demo library",
        lambda step: runner.command(step, ["score", str(demo.samples)], _expect(0, f"{len(names)} scored")),
    )
    runner.step("top", "rank what the library holds", lambda step: runner.command(step, ["top"], _expect(0)))
    first = demo.samples / names[0]
    runner.step(
        "critique",
        "a written critique of one image (random weights write random text)",
        lambda step: runner.command(step, ["critique", str(first), "-a", "composition"], _expect(0, "Composition")),
    )

    def xmp(step: Step) -> None:
        from artimuse_core.xmp import exiv2_module

        if _skipped_without(step, exiv2_module):
            return
        runner.command(step, ["xmp", "write", str(demo.samples)], _expect(0, f"{len(names)} created"))
        sidecar = demo.samples / f"{first.name}.xmp"
        if step.status == "ok" and sidecar.is_file():
            for line in demo_steps.sidecar_lines(sidecar):
                runner.say(f"      {sidecar.name}: {line}")
        elif step.status == "ok":
            step.status, step.detail = "failed", f"no sidecar {sidecar.name} was written"

    runner.step("xmp", "XMP sidecars for photo managers (in the copies)", xmp)

    def watcher(step: Step) -> None:
        found = demo_steps.watch_once(demo, env)
        step.command, step.output = found["command"], found
        runner.say(f"      $ {' '.join(found['command'])}")
        for line in found["log"]:
            runner.say(f"      │ {printable(line)}")
        runner.say(
            f"      the watcher scored {Path(found['dropped']).name}: {found['score']} ± {found['std']} "
            f"({found['model']}), then stopped on SIGINT with exit code {found['exit_code']}"
        )
        if found["exit_code"] != 0:
            step.status, step.detail = "failed", f"the watcher exited with {found['exit_code']}"

    runner.step("watcher", "watch a folder, drop a new image in, see it scored, stop", watcher)

    def gallery(step: Step) -> None:
        from .extras import thumbnails_folder, web

        if _skipped_without(step, web):
            return
        from artimuse_core.library import Library
        from artimuse_web.server import serving

        with Library.at(demo.home / "library.db") as library:
            with serving(library, thumbnails=thumbnails_folder(), port=port if serve else 0, notice=LABEL) as url:
                runner.say(f"      the demo gallery is on {url}")
                step.output = demo_steps.check_gallery(url, names)
                runner.say(f"      fetched {url}: {step.output['tiles']} tiles; {step.output['thumbnail']}")
                if serve:  # --serve: open until Ctrl+C (or SIGTERM), for a person to look at
                    runner.say(styled(f"      open {url} in a browser ({LABEL}); Ctrl+C to stop", fg="yellow"))
                    _wait_for_stop()

    runner.step("gallery", "the web gallery on 127.0.0.1, fetched to prove it serves", gallery)


def _skipped_without(step: Step, extra: Callable[[], object]) -> bool:
    """Whether ``extra()`` says an optional extra is missing (``MissingExtra``, with its pip line): then the
    step is skipped, saying so, and the demo goes on."""
    from artimuse_core import MissingExtra

    try:
        extra()
    except MissingExtra as exc:
        step.status, step.detail = "skipped", str(exc)
        return True
    return False


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM as KeyboardInterrupt: the step in progress stops, its watcher process is ended and the demo
    folder removed on the way out (the default action would leave both behind)."""
    raise KeyboardInterrupt


def _wait_for_stop() -> None:
    """Block until SIGINT or SIGTERM (then the demo cleans up as usual), whatever handlers were there."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command()
@click.option("--serve", is_flag=True, help="Keep the demo gallery open at the end, until Ctrl+C (to look at it).")
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="The gallery's port with --serve (0: any free).")
@click.option("--keep", is_flag=True, help="Keep the demo folder (library, sidecars, checkpoint) and say where.")
@click.option(
    "--images",
    type=click.Path(exists=True, file_okay=False),
    help="Images to run on (copied; never written to). Default: the repository's samples/.",
)
@json_option
def demo(serve: bool, port: int, keep: bool, images: str | None, as_json: bool) -> None:
    """See the whole product work without the 16 GB model: a tiny random checkpoint is built in the
    published layout (no download) and the sample images go through score, top, a critique, XMP
    sidecars, the watcher (a file dropped into a watched folder, scored, the watcher stopped) and the
    web gallery (started on 127.0.0.1 and fetched). Every output is labelled "demo weights: scores are
    noise": the weights are random, so are the scores.

    Everything happens in a temporary folder with its own ArtiMuse home: your library, config and
    Hugging Face cache are never read or written, and the images are copies. The folder is removed at the
    end unless --keep. Runs to completion without input; --serve keeps the gallery open for a person.
    Ctrl+C (or SIGTERM) stops it at any step, ending its watcher and removing the folder.

    Exit code 0 when every step worked (a step whose optional extra is not installed is skipped, saying
    which), 1 when one failed.

    \b
    Examples:
      artimuse demo
      artimuse demo --serve          # then open the printed URL; Ctrl+C ends it
      artimuse demo --keep --json
    """
    samples = find_samples(images)
    if samples is None:
        raise click.UsageError("no sample images here: pass --images FOLDER (its images are copied, never changed)")
    root = Path(tempfile.mkdtemp(prefix="artimuse-demo-"))
    runner = Runner(Demo(root), as_json)
    terminated = signal.signal(signal.SIGTERM, _interrupt)  # a SIGTERM ends it as Ctrl+C does: cleaned up
    try:
        with demo_environment(runner.demo) as env:
            run_steps(runner, samples, env, serve=serve, port=port)
    finally:
        signal.signal(signal.SIGTERM, terminated)
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    failed = [s.name for s in runner.steps if s.status == "failed"]
    if as_json:
        emit_json({"label": LABEL, "folder": str(root), "kept": keep, "ok": not failed, "steps": runner.steps})
    else:
        runner.say()
        if failed:
            runner.say(f"demo: {len(failed)} step(s) failed: {', '.join(failed)}", fg="red")
        else:
            runner.say(f"demo: all {len(runner.steps)} steps ran ({LABEL}).", fg="green")
        runner.say("Your own library and settings were not touched.")
        if keep:
            runner.say(f"The demo folder is kept: {root} (look around with ARTIMUSE_HOME={root / 'home'} artimuse top)")
        runner.say("For real scores: `artimuse doctor` says what this machine needs for the ArtiMuse model.")
    if failed:
        sys.exit(1)


COMMANDS = [demo]
