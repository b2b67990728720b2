"""Options shared by commands, generated from the core's declarations, and the CLI's one error translator.

Engine options come from ``artimuse_core.spec.SETTINGS``: each setting becomes ``--setting-name`` with the
declared help, choices, bounds and default (shown in ``--help``; the value in force also depends on the
config file and ``ARTIMUSE_*`` variables, resolved by ``Config``). Core messages name settings
(``the max_pixels setting``); ``flagify`` turns them into this CLI's flags (``--max-pixels``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from artimuse_core import SETTINGS, ArtiMuseError, InvalidValue, Setting
from artimuse_core.xmp import XMP_SETTINGS

from .context import app

if TYPE_CHECKING:
    from artimuse_core import Config

#: The CLI's short spellings of some settings (presentation only; the declarations stay in the spec).
SHORT = {"model": "-m", "batch_size": "-b"}
#: Setting names the core may mention that are not engine settings, each an option of some command.
OTHER_SETTINGS = (
    "min_ratings",
    "resume",
    "since",
    "stars",
    "score",
    "category",
    "rank",
    "attribute",
    "name",
    "rating_source",
)


class Failure(click.ClickException):
    """A command that cannot do what was asked: one line on stderr, exit code 2."""

    exit_code = 2


def flag(name: str) -> str:
    """A setting's command-line spelling: ``max_pixels`` -> ``--max-pixels``."""
    return "--" + name.replace("_", "-")


def flagify(message: str) -> str:
    """A core message in this CLI's words: "the max_pixels setting" -> "--max-pixels", and a message that
    starts with a setting's name ("batch_size must be...") starts with its flag."""
    names = [s.name for s in (*SETTINGS, *XMP_SETTINGS)] + list(OTHER_SETTINGS)
    pattern = "|".join(sorted(names, key=len, reverse=True))
    message = re.sub(rf"\bthe ({pattern}) setting\b", lambda m: flag(m.group(1)), message)
    return re.sub(rf"^({pattern})(?= )", lambda m: flag(m.group(1)), message)


def translate(exc: ArtiMuseError) -> Failure:
    """The CLI's one translation of core errors (``InvalidValue`` included) into a one-line failure."""
    return Failure(flagify(str(exc)))


class _SettingType(click.ParamType[Any, Any]):
    """A value checked by its declaration (``Setting.parse``): device names, R,G,B colours, names."""

    def __init__(self, setting: Setting):
        self.setting = setting
        self.name = setting.metavar or setting.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.setting.parse(value)
        except InvalidValue as exc:
            self.fail(str(exc), param, ctx)


def setting_option(setting: Setting) -> Callable[[Any], Any]:
    """One Click option generated from one declaration (its declared default shown in ``--help``)."""
    names = [flag(setting.name)] + ([SHORT[setting.name]] if setting.name in SHORT else [])
    common: dict[str, Any] = dict(default=setting.default, help=setting.help, show_default=setting.default is not None)
    if setting.kind == "bool":
        return click.option(f"{flag(setting.name)}/--no-{setting.name.replace('_', '-')}", setting.name, **common)
    if setting.kind == "choice":
        kind: Any = click.Choice(setting.choices or ())
    elif setting.kind == "int":
        kind = click.IntRange(setting.min, setting.max)
    else:
        kind = _SettingType(setting)
    return click.option(*names, setting.name, type=kind, metavar=setting.metavar, **common)


def engine_options(*, exclude: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Every engine setting as an option (minus ``exclude``). The command does not receive them: those typed
    on the command line go on top of the configuration (``app().config``, recorded as arguments)."""
    return declared_options([s for s in SETTINGS if s.name not in exclude])


def xmp_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Every XMP setting (``artimuse_core.xmp.settings.XMP_SETTINGS``) as an option, like ``engine_options``:
    what is typed goes on top of the configuration (``app().config.xmp``)."""
    return declared_options(list(XMP_SETTINGS))(func)


def check_xmp(config: Config) -> None:
    """For ``score --xmp``, ``watch --xmp`` and the XMP commands, before a model loads: the XMP settings of
    ``config`` fit together and the ``xmp`` extra is installed (raises ``InvalidValue`` / ``MissingExtra``:
    "... pip install 'artimuse-studio[xmp]'")."""
    from artimuse_core.xmp import exiv2_module

    config.xmp_settings()
    exiv2_module()


def declared_options(chosen: list[Setting]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """These declarations as options; the command does not receive them, the configuration does."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            values = {s.name: kwargs.pop(s.name) for s in chosen}
            # Only what was typed overrides the configuration; an untouched option's default does not.
            explicit = {
                name: value
                for name, value in values.items()
                if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
            }
            context = app()
            context.config = context.settings.with_arguments(**explicit)
            return func(*args, **kwargs)

        for setting in reversed(chosen):
            wrapper = setting_option(setting)(wrapper)
        return wrapper

    return decorate


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``: the same data as one JSON document, for scripts."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text (for scripts).")(func)


def format_option(
    choices: Sequence[str], help_text: str, default: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--format``/``-f`` (the ``fmt`` parameter): one of ``choices``, the first by default."""
    return click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice(list(choices)),
        default=default or choices[0],
        show_default=True,
        help=help_text,
    )


def limit_option(default: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--limit", "-n", default=default, show_default=True, type=click.IntRange(1), help="Show at most this many rows."
    )


def since_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--since", help="Only since then: 30m, 12h, 7d, 2w ago, or a date like 2026-11-01.")(func)


def category_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--category", "-c", help=help_text)


DIMENSIONS_TEXT = (
    "iaa aesthetics, iqa technical quality (blur, noise, exposure, compression), ista structure and texture"
)


def dimension_option(
    help_text: str, *, multiple: bool = False, default: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--dimension``/``-d``: which perceptual dimension (``families.ALL_DIMENSIONS``; iqa and ista come from
    UniPercept models)."""
    from artimuse_core import ALL_DIMENSIONS

    return click.option(
        "--dimension",
        "-d",
        "dimensions" if multiple else "dimension",
        multiple=multiple,
        default=default,
        show_default=default is not None,
        type=click.Choice(ALL_DIMENSIONS),
        help=f"{help_text} ({DIMENSIONS_TEXT}).",
    )


#: The decision filters' flags (``library.DECISION_FILTERS``) and their help.
DECISION_FLAGS = {
    "rated": "Only images you gave stars or a score.",
    "unrated": "Only images without your stars (and not rejected).",
    "picked": "Only images you picked.",
    "rejected": "Only images you rejected.",
}


def decision_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--rated``, ``--unrated``, ``--picked``, ``--rejected`` (one of them) as the ``decision`` argument."""
    for name, text in reversed(DECISION_FLAGS.items()):
        func = click.option(f"--{name}", "decision", flag_value=name, help=text)(func)
    return func


def decision_text(record: Any) -> str:
    """The user's decision on one image, as a table shows it: ``★★★★ picked``, ``rejected``, or ``-``."""
    if getattr(record, "rejected", False):
        return "rejected"
    stars = getattr(record, "stars", None)
    rating = getattr(record, "rating", getattr(record, "score", None))
    if stars:
        shown = "★" * int(stars) if float(stars).is_integer() else f"{stars:g}★"
    else:
        shown = f"{rating:g}/100" if rating is not None else ""
    if getattr(record, "picked", False):
        shown = f"{shown} picked".strip()
    return shown or "-"
