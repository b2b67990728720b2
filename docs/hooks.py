"""MkDocs hook: the manual's reference pages are generated from the code, so they cannot drift from it.

A page asks for a generated part with an HTML comment on a line of its own:

- ``<!-- generated: engine-settings -->`` and ``<!-- generated: xmp-settings -->``: a table of the settings
  declared in ``artimuse_core.spec.SETTINGS`` and ``artimuse_core.xmp.settings.XMP_SETTINGS`` (config key,
  command-line flag, environment variable, values, default, help);
- ``<!-- generated: cli-reference -->``: every `artimuse` command, read from the Click objects: its help, its
  usage line and its options exactly as ``--help`` prints them.

Why not mkdocs-click: its 0.9 release prints Click 8.2+'s ``UNSET`` sentinel as every option's default and
folds the ``\\b`` example blocks of our help texts into running text; what ``--help`` prints (Click's own
``get_help_record``) is the reference users need, and it takes a few lines to lay out.

Importing the CLI imports no torch (a contract of ``tests/test_architecture.py``), so the build stays fast.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import click

MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.M)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: replace each ``<!-- generated: NAME -->`` line with its generated Markdown."""
    return MARKER.sub(lambda m: generated(m.group(1)), markdown)


def generated(name: str) -> str:
    """The generated Markdown called ``name``.

    Raises:
        KeyError: no generator has that name (the build stops rather than publish a page with a hole).
    """
    from artimuse_core.spec import SETTINGS
    from artimuse_core.stacks.settings import STACK_SETTINGS
    from artimuse_core.xmp.settings import XMP_SETTINGS

    makers = {
        "stack-settings": lambda: settings_table(STACK_SETTINGS),
        "engine-settings": lambda: settings_table(SETTINGS),
        "xmp-settings": lambda: settings_table(XMP_SETTINGS),
        "cli-reference": cli_reference,
    }
    return makers[name]()


def root() -> click.Group:
    from artimuse_cli.main import cli

    return cli


def commands(group: click.Group, parent: click.Context) -> Iterator[tuple[click.Command, click.Context]]:
    """Every command under ``group``, depth first in name order, each with its own context."""
    for name in group.list_commands(parent):
        command = group.get_command(parent, name)
        if command is None or command.hidden:
            continue
        ctx = click.Context(command, info_name=name, parent=parent)
        yield command, ctx
        if isinstance(command, click.Group):
            yield from commands(command, ctx)


def flags() -> dict[str, tuple[str, list[str]]]:
    """{parameter name: (its flags as ``--help`` shows them, the commands that take it)} over the whole CLI."""
    cli = root()
    found: dict[str, tuple[str, list[str]]] = {}
    for command, ctx in commands(cli, click.Context(cli, info_name="artimuse")):
        for param in command.get_params(ctx):
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record and param.name:
                spelled = record[0].split(" [")[0]
                found.setdefault(param.name, (spelled, []))[1].append(ctx.command_path.removeprefix("artimuse "))
    return found


def cell(text: Any) -> str:
    """Text for one table cell: one line, pipes escaped outside code spans (inside one a pipe is no border)."""
    pieces = " ".join(str(text).split()).split("`")
    return "`".join(p if i % 2 else p.replace("|", "\\|") for i, p in enumerate(pieces))


def flag_names(spelled: str) -> str:
    """``-m, --model NAME|PATH`` -> ```-m` `--model` ``; ``--exif / --no-exif`` stays a pair."""
    names = [word for word in spelled.replace(",", " ").split() if word.startswith("-")]
    return " ".join(f"`{name}`" for name in names)


def values(setting: Any) -> str:
    """What a setting accepts, in words."""
    if setting.choices:
        text = ", ".join(f"`{c}`" for c in setting.choices)
    elif setting.kind == "int":
        low, high = setting.min, setting.max
        text = "integer" + (f" {low}-{high}" if low is not None and high is not None else f" >= {low}" if low else "")
    else:
        text = {
            "bool": "`true` / `false`",
            "rgb": "`R,G,B` (0-255 each)",
            "floats": "numbers, comma-separated",
            "float": "a number",
        }.get(setting.kind, "text")
    return text + (", or `none`" if setting.optional else "")


def default(setting: Any) -> str:
    value = setting.default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (tuple, list)):
        return "`" + ",".join(str(v) for v in value) + "`"
    return f"`{value}`"


def settings_table(settings: tuple[Any, ...]) -> str:
    """One row per declared setting: its config key and environment variable, its flag, values, default, help."""
    known = flags()
    rows = [
        "| setting (`config.toml` key, environment) | flag | values | default | what it does |",
        "|---|---|---|---|---|",
    ]
    takers: set[str] = set()
    for setting in settings:
        spelled, used_by = known.get(setting.name, ("", []))
        takers.update(used_by)
        rows.append(
            f"| `{setting.name}`<br>`{setting.env_var}` | {flag_names(spelled)} | {cell(values(setting))} "
            f"| {cell(default(setting))} | {cell(setting.help)} |"
        )
    listed = ", ".join(f"`{name}`" for name in sorted(takers))
    return "\n".join(rows) + f"\n\nCommands with some of these options: {listed}.\n"


def help_markdown(text: str) -> str:
    """A Click help text as Markdown: paragraphs as prose, ``\\b`` blocks (examples) as code blocks."""
    out = []
    for paragraph in inspect.cleandoc(text.split("\f")[0]).split("\n\n"):
        if paragraph.startswith("\b\n"):
            out.append("```text\n" + paragraph[2:] + "\n```")
        else:
            out.append(" ".join(paragraph.split()))
    return "\n\n".join(out)


def cli_reference() -> str:
    """Every command: a heading, its help, its usage line and a table of its options as ``--help`` prints them."""
    cli = root()
    top = click.Context(cli, info_name="artimuse")
    parts = [command_section(cli, top, level=2)]
    for command, ctx in commands(cli, top):
        parts.append(command_section(command, ctx, level=1 + ctx.command_path.count(" ")))
    return "\n\n".join(parts) + "\n"


def command_section(command: click.Command, ctx: click.Context, level: int) -> str:
    lines = [f"{'#' * min(level, 4)} {ctx.command_path}", "", help_markdown(command.help or command.short_help or "")]
    usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
    lines += ["", "```text", usage, "```"]
    options = [r for p in command.get_params(ctx) if isinstance(p, click.Option) and (r := p.get_help_record(ctx))]
    if options:
        lines += ["", "| option | what it does |", "|---|---|"]
        lines += [f"| `{spelled}` | {cell(text)} |" for spelled, text in options]
    if isinstance(command, click.Group):
        subs = [(n, command.get_command(ctx, n)) for n in command.list_commands(ctx)]
        lines += ["", "Commands: " + ", ".join(f"`{n}`" for n, sub in subs if sub is not None and not sub.hidden)]
    return "\n".join(lines)
