"""`artimuse config` and `artimuse db`: where settings live, and the database's migrations."""

from __future__ import annotations

import dataclasses

import click
from alembic.script import ScriptDirectory

from artimuse_core.config import database_url, paths
from artimuse_core.library.database import alembic_config, create_db_engine, current_revision, migrate

from .main import cli, friendly_errors
from .output import emit_json

CONFIG_EXAMPLE = """\
# ~/.config/artimuse/config.toml (see `artimuse config path`)
model = "ArtiMuse"            # short name, Hugging Face id or folder
device = "auto"               # auto, cpu, cuda, cuda:1, mps
dtype = "auto"                # auto, float32, bfloat16, float16
quantize = "none"             # none, 8bit, 4bit (CUDA)
batch_size = 8
# database_url = "sqlite:////path/to/library.db"   # any SQLAlchemy URL

[[folders]]
path = "~/Exports"
category = "photography"      # photography, painting, aigc, 3d, graphic
"""


@cli.group()
def config():
    """Where the config file is and what it says."""


@config.command("path")
def config_path():
    """Print the config file's path (ARTIMUSE_HOME moves everything)."""
    click.echo(paths().config_file)


@config.command("show")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def config_show(settings, as_json):
    """The settings in force (file values over defaults), and an example file."""
    data = dataclasses.asdict(settings)
    data["source"] = str(settings.source) if settings.source else None
    data["folders"] = [{"path": str(f.path), "category": f.category} for f in settings.folders]
    data["database_url"] = database_url(settings)
    data["home"] = str(paths().data_dir)
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        click.echo(f"{key:>14}: {value}")
    if not settings.source:
        click.echo(f"\nNo config file yet. Create {paths().config_file} like this:\n\n{CONFIG_EXAMPLE}")


@cli.group()
def db():
    """The library database's schema version (migrations run automatically when it is opened)."""


@db.command("upgrade")
@friendly_errors
@click.pass_obj
def db_upgrade(settings):
    """Bring the database up to date now (a copy of the old file is set aside first)."""
    engine = create_db_engine(database_url(settings))
    backup = migrate(engine)
    click.echo(f"at revision {current_revision(engine)}" + (f" (old file kept at {backup})" if backup else ""))


@db.command("current")
@friendly_errors
@click.pass_obj
def db_current(settings):
    """The database's revision, and the newest this artimuse knows."""
    engine = create_db_engine(database_url(settings))
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    current = current_revision(engine)
    click.echo(f"{current or 'empty'} (head {head}){'' if current == head else ' - run `artimuse db upgrade`'}")


@db.command("history")
def db_history():
    """Every migration, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    for revision in reversed(list(script.walk_revisions())):
        click.echo(f"{revision.revision}  {revision.doc.splitlines()[0] if revision.doc else ''}")
