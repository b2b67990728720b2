"""What every command shares: the resolved configuration, and the factories that build an engine and open
the library. Tests and other hosts pass their own ``AppContext`` (``CliRunner().invoke(cli, args,
obj=AppContext(engine_factory=FakeEngine))``) instead of patching anything."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from artimuse_core import Config, EngineSpec

if TYPE_CHECKING:
    from artimuse_core import LazyEngine, ScoringEngine


def create_engine(spec: EngineSpec) -> ScoringEngine:
    """The real engine (imports torch and transformers only now, once the checkpoint is found and checked:
    a missing or broken one is its one-line error at once, not after seconds of imports)."""
    from artimuse_core import resolve_checkpoint

    resolve_checkpoint(spec.model)
    from artimuse_core import create_engine

    return create_engine(spec)


@dataclass
class AppContext:
    """``engine_factory(spec)`` builds the engine a command runs (default: the real one);
    ``config`` is filled by the ``artimuse`` group from the config file and environment, and command-line
    options go on top of it (``Config.with_arguments``). ``machine_facts()`` and ``hub_probe(repo_id)``
    are what `artimuse doctor` judges by (default: this machine, one HEAD request to the hub:
    ``artimuse_core.doctor``)."""

    engine_factory: Callable[[EngineSpec], ScoringEngine] = create_engine
    config: Config | None = None
    verbose: bool = False
    machine_facts: Callable[[], Any] | None = None
    hub_probe: Callable[[str], str | None] | None = None

    def machine(self) -> Any:
        """The injected machine facts, or None (this machine's)."""
        return self.machine_facts() if self.machine_facts is not None else None

    @property
    def settings(self) -> Config:
        assert self.config is not None, "the artimuse group loads the config before any command runs"
        return self.config

    def engine(self, spec: EngineSpec | None = None) -> ScoringEngine:
        """Build the engine for ``spec`` (default: the resolved one), with a note on a terminal meanwhile."""
        spec = spec or self.settings.spec
        with status_line(f"loading {spec.model}"):
            return self.engine_factory(spec)

    def lazy_engine(self, spec: EngineSpec | None = None) -> LazyEngine:
        """The engine for ``spec`` (default: the resolved one), built only when a file needs the model: the
        library's cache lookup reads the weights' identity from the checkpoint's files (``identity`` of the
        factory when it has one, as ``FakeEngine`` does; else ``lazy_engine.weights_identity``)."""
        from artimuse_core import LazyEngine, weights_identity

        spec = spec or self.settings.spec
        identity = getattr(self.engine_factory, "identity", weights_identity)
        return LazyEngine(lambda: self.engine(spec), lambda: identity(spec), spec)

    def library(self) -> Any:
        """The configured library (created and migrated when needed)."""
        from artimuse_core.library import Library

        return Library(config=self.settings)


class status_line:
    """A one-line note on stderr while something slow happens (only on a terminal)."""

    def __init__(self, text: str):
        self.text = text
        self.tty = sys.stderr.isatty()

    def __enter__(self) -> None:
        if self.tty:
            click.echo(f"{self.text}…", err=True, nl=False)

    def __exit__(self, *exc: object) -> None:
        if self.tty:
            click.echo("\r\033[K", err=True, nl=False)


def app() -> AppContext:
    """The current command's ``AppContext``."""
    return click.get_current_context().find_object(AppContext) or AppContext()
