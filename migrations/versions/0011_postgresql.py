"""PostgreSQL as a first-class library: full-text search over critiques, and the column types that SQLite
never enforced. Nothing changes on SQLite (its columns take any size and length; FTS5 is 0006's).

- Search: a text search configuration ``artimuse_search`` (``unaccent`` when the server has it, then a
  Snowball English dictionary without stop words, close to FTS5's porter tokenizer) and a GIN index on
  ``to_tsvector`` of the critique with ASCII punctuation read as spaces (``fulltext.search_vector``, which
  must stay this very expression for the index to serve it).
- ``images.size``, ``jobs.size``: BIGINT (a 3 GB TIFF overflowed PostgreSQL's 32-bit INTEGER).
- ``evaluations.model_name``, ``adapters.base_model``: TEXT (a checkpoint path longer than 200 characters
  was refused by PostgreSQL's VARCHAR(200)).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

CONFIG = "artimuse_search"
DICTIONARY = "artimuse_english_stem"
WORDS = "asciiword, asciihword, hword_asciipart, word, hword, hword_part, numword, numhword, hword_numpart"
INDEX_EXPRESSION = f"to_tsvector('{CONFIG}'::regconfig, regexp_replace(text, '[[:punct:]]+', ' ', 'g'))"
WIDER = [("images", "size", sa.Integer(), sa.BigInteger()), ("jobs", "size", sa.Integer(), sa.BigInteger())]
LONGER = [
    ("evaluations", "model_name", sa.String(200), sa.Text()),
    ("adapters", "base_model", sa.String(200), sa.Text()),
]


def _has_unaccent() -> bool:
    """Create the ``unaccent`` extension when the server ships it and we may (it is trusted from
    PostgreSQL 13 on: a database owner may); False when not (search then keeps accents)."""
    bind = op.get_bind()
    available = bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'")).first()
    if available is None:
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS unaccent"))
    except sa.exc.DBAPIError:
        return False
    return True


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, old, new in WIDER + LONGER:
        op.alter_column(table, name, type_=new, existing_type=old)
    op.execute(f"CREATE TEXT SEARCH DICTIONARY {DICTIONARY} (TEMPLATE = snowball, LANGUAGE = english)")
    op.execute(f"CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = simple)")
    chain = f"unaccent, {DICTIONARY}" if _has_unaccent() else DICTIONARY
    op.execute(f"ALTER TEXT SEARCH CONFIGURATION {CONFIG} ALTER MAPPING FOR {WORDS} WITH {chain}")
    op.execute(f"CREATE INDEX ix_critiques_search ON critiques USING gin ({INDEX_EXPRESSION})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_critiques_search")
    op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {CONFIG}")
    op.execute(f"DROP TEXT SEARCH DICTIONARY IF EXISTS {DICTIONARY}")
    for table, name, old, new in WIDER + LONGER:
        op.alter_column(table, name, type_=old, existing_type=new)
