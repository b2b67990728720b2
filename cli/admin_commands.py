"""`artimuse config` and `artimuse db`: where settings live and where each value came from, and the
database's migrations."""

from __future__ import annotations

import json
import sys

import click

from artimuse_core import SETTINGS, Setting, home_paths
from artimuse_core.library import check_database_at, database_revision, migration_history, upgrade_database

from .context import app
from .options import flag, json_option
from .output import emit_json, print_table


def _toml(setting: Setting) -> str:
    """A setting's default as TOML; a setting with no default shows the form of a value."""
    value = setting.default
    if value is None:
        if setting.kind == "choice" and setting.choices:
            return json.dumps(setting.choices[0])
        return {"rgb": "[255, 255, 255]", "int": "4"}.get(setting.kind, f'"{setting.metavar}"')
    return json.dumps(value) if not isinstance(value, tuple) else json.dumps(list(value))


CONFIG_EXAMPLE = "\n".join(
    [
        "# config.toml (see `artimuse config path`). ARTIMUSE_<SETTING> environment variables override it, and",
        "# command-line options override both. Every setting, commented out at its default:",
    ]
    + [f"# {s.name} = {_toml(s)}    # {s.help}" for s in SETTINGS]
    + [
        '# database_url = "sqlite:////path/to/library.db"    # any SQLAlchemy URL',
        "",
        "[[folders]]",
        'path = "~/Exports"',
        'category = "photography"      # photography, painting, aigc, 3d, graphic',
    ]
)


@click.group()
def config() -> None:
    """Where the config file is, and the settings in force.

    \b
    Examples:
      artimuse config path
      artimuse config show --json
    """


@config.command("path")
@json_option
def config_path(as_json: bool) -> None:
    """Print the config file's path (ARTIMUSE_HOME moves everything).

    \b
    Example:
      artimuse config path
    """
    if as_json:
        emit_json({"config_file": str(home_paths().config_file), "home": str(home_paths().data_dir)})
    else:
        click.echo(home_paths().config_file)


@config.command("show")
@json_option
def config_show(as_json: bool) -> None:
    """The settings in force and where each came from: default, file (config.toml), environment
    (ARTIMUSE_<SETTING>) or argument.

    \b
    Example:
      ARTIMUSE_BATCH_SIZE=16 artimuse config show
    """
    settings = app().settings
    data = settings.to_dict()
    if as_json:
        emit_json(data)
        return
    rows = [
        {
            "setting": name,
            "value": _text(item["value"]),
            "from": _origin(name, item["source"]),
            "flag": flag(name) if name != "database_url" else "-",
        }
        for name, item in data["settings"].items()
    ]
    print_table(rows, ["setting", "value", "from", "flag"])
    click.echo(f"\nconfig file: {data['file'] or 'none (' + str(home_paths().config_file) + ' does not exist)'}")
    click.echo(f"home: {data['home']}")
    for folder in data["folders"]:
        click.echo(f"watched folder: {folder['path']}" + (f" ({folder['category']})" if folder["category"] else ""))
    if not settings.file:
        click.echo(f"\nNo config file yet. Create {home_paths().config_file} like this:\n\n{CONFIG_EXAMPLE}")


def _text(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _origin(name: str, source: str) -> str:
    return f"environment (ARTIMUSE_{name.upper()})" if source == "environment" else source


@click.group()
def db() -> None:
    """The library database's schema version (migrations run automatically when it is opened).

    \b
    Examples:
      artimuse db current
      artimuse db upgrade
    """


@db.command("upgrade")
@json_option
def db_upgrade(as_json: bool) -> None:
    """Bring the database up to date now (a copy of the old file is set aside first).

    \b
    Example:
      artimuse db upgrade --json
    """
    revision, backup = upgrade_database(app().settings.library_url())
    if as_json:
        emit_json({"revision": revision, "backup": backup})
    else:
        click.echo(f"at revision {revision}" + (f" (old file kept at {backup})" if backup else ""))


@db.command("current")
@json_option
def db_current(as_json: bool) -> None:
    """The database's revision, and the newest this artimuse knows.

    \b
    Example:
      artimuse db current
    """
    found = database_revision(app().settings.library_url())
    if as_json:
        emit_json({"current": found.current, "head": found.head, "up_to_date": found.up_to_date})
    else:
        advice = f" - {found.advice}" if found.advice else ""
        click.echo(f"{found.current or 'empty'} (head {found.head}){advice}")


@db.command("check")
@json_option
def db_check(as_json: bool) -> None:
    """Check the library database for damage now, by its backend's own means: SQLite's quick_check (writes
    also run it daily); on PostgreSQL the connection, the schema revision and tables, every index's
    validity, the search index, checksum failures, and amcheck's B-tree check where this user may run it.

    Exit code 0 when the database is sound, 1 when it is damaged (with how to recover) or cannot be reached.

    \b
    Examples:
      artimuse db check
      ARTIMUSE_DATABASE_URL=postgresql+psycopg://studio@db.lan/artimuse artimuse db check --json
    """
    report = check_database_at(app().settings.library_url())
    if as_json:
        shown = {"database": report.database, "ok": report.ok, "problems": report.problems}
        emit_json(shown if not report.reachable else {**shown, "backend": report.backend, "checks": report.checks})
    elif not report.reachable:
        click.echo(report.problems[0], err=True)
    elif report.ok:
        click.echo(report.verdict())
    else:
        for problem in report.problems:
            click.echo(f"  {problem}", err=True)
        click.echo(report.verdict() + ("" if report.backend == "sqlite" else ", listed above"), err=True)
    if not report.ok:
        sys.exit(1)


@db.command("history")
@json_option
def db_history(as_json: bool) -> None:
    """Every migration, oldest first.

    \b
    Example:
      artimuse db history --json
    """
    rows = [{"revision": m.revision, "description": m.description} for m in migration_history()]
    if as_json:
        emit_json(rows)
    else:
        print_table(rows, ["revision", "description"])


COMMANDS = [config, db]
