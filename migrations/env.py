"""Alembic environment: runs on the connection the library hands over (or on sqlalchemy.url from a shell)."""

from alembic import context
from sqlalchemy import create_engine

from artimuse_core.library.tables import metadata

config = context.config
connection = config.attributes.get("connection")


def run(conn) -> None:
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=conn.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:  # pragma: no cover - `alembic -c ...` from a shell
    with create_engine(config.get_main_option("sqlalchemy.url") or "").connect() as conn:
        run(conn)
