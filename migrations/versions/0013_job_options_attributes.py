"""One key for one column: a job's critique attributes are ``options.attributes`` for every kind of job.

Score jobs the watcher queued wrote them as ``options.critique``; critique jobs (a follow-up of a stored
evaluation) as ``options.attributes``. Both are read as ``library.records.JobOptions`` now, so the score jobs
still pending are rewritten in place (their ``max_new_tokens`` kept). Downgrading writes score jobs' key back.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_jobs = sa.table("jobs", sa.column("id", sa.Integer), sa.column("kind", sa.String), sa.column("options", sa.JSON))


def _rename(old: str, new: str, kind: str | None = None) -> None:
    bind = op.get_bind()
    query = sa.select(_jobs.c.id, _jobs.c.options).where(_jobs.c.options.is_not(None))
    if kind is not None:
        query = query.where(_jobs.c.kind == kind)
    for job_id, options in bind.execute(query).all():
        if isinstance(options, dict) and old in options:
            renamed = {(new if key == old else key): value for key, value in options.items()}
            bind.execute(sa.update(_jobs).where(_jobs.c.id == job_id).values(options=renamed))


def upgrade() -> None:
    _rename("critique", "attributes")


def downgrade() -> None:
    _rename("attributes", "critique", kind="score")
