"""`artimuse config` and `artimuse db`: where settings live and where each value came from, and the
database's migrations."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from artimuse_core.config import paths
from artimuse_core.spec import SETTINGS, Setting

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
        emit_json({"config_file": str(paths().config_file), "home": str(paths().data_dir)})
    else:
        click.echo(paths().config_file)


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
    click.echo(f"\nconfig file: {data['file'] or 'none (' + str(paths().config_file) + ' does not exist)'}")
    click.echo(f"home: {data['home']}")
    for folder in data["folders"]:
        click.echo(f"watched folder: {folder['path']}" + (f" ({folder['category']})" if folder["category"] else ""))
    if not settings.file:
        click.echo(f"\nNo config file yet. Create {paths().config_file} like this:\n\n{CONFIG_EXAMPLE}")


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
    from artimuse_core.library.database import create_db_engine, current_revision, migrate

    engine = create_db_engine(app().settings.library_url())
    backup = migrate(engine)
    revision = current_revision(engine)
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
    from artimuse_core.library.database import create_db_engine, current_revision, head_revision

    current = current_revision(create_db_engine(app().settings.library_url()))
    head = head_revision()
    if as_json:
        emit_json({"current": current, "head": head, "up_to_date": current == head})
    else:
        click.echo(f"{current or 'empty'} (head {head}){_advice(current, head)}")


def _advice(current: str | None, head: str) -> str:
    """What to do about a database that is not at this artimuse's head revision."""
    from artimuse_core.library.database import alembic_config

    if current is None or current == head:
        return ""
    from alembic.script import ScriptDirectory

    known = {r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current not in known:
        return " - the database is NEWER than this artimuse: upgrade artimuse (pip install -U artimuse-studio)"
    return " - run `artimuse db upgrade` (or any command: it upgrades on open)"


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
    from artimuse_core.errors import LibraryError
    from artimuse_core.library.database import RECOVERY, create_db_engine, describe
    from artimuse_core.library.health import check_database

    engine = create_db_engine(app().settings.library_url())
    try:
        report = check_database(engine)
    except LibraryError as exc:
        if as_json:
            emit_json({"database": describe(engine.url), "ok": False, "problems": [str(exc)]})
        else:
            click.echo(str(exc), err=True)
        sys.exit(1)
    finally:
        engine.dispose()
    if as_json:
        emit_json({"database": report.database, "backend": report.backend, "ok": report.ok,
                   "checks": report.checks, "problems": report.problems})  # fmt: skip
    elif report.ok:
        seen = "; ".join(f"{name}: {value}" for name, value in report.checks.items())
        click.echo(f"{report.database}: ok" + (f" ({seen})" if report.backend != "sqlite" else ""))
    else:
        for problem in report.problems:
            click.echo(f"  {problem}", err=True)
        if report.backend == "sqlite":
            name = Path(report.database).name
            click.echo(f"{report.database}: DAMAGED; " + RECOVERY.format(name=name), err=True)
        else:
            click.echo(f"{report.database}: {len(report.problems)} problem(s), listed above", err=True)
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
    from alembic.script import ScriptDirectory

    from artimuse_core.library.database import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    rows = [
        {"revision": r.revision, "description": r.doc.splitlines()[0] if r.doc else ""}
        for r in reversed(list(script.walk_revisions()))
    ]
    if as_json:
        emit_json(rows)
    else:
        print_table(rows, ["revision", "description"])


COMMANDS = [config, db]
