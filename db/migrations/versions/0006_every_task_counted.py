"""How many tasks there are, kept as they are added and removed (db/models.py TaskCount), so the
unfiltered list's total is read, not counted (issue 14): counting 100,000 tasks' index took 7 ms on
PostgreSQL, growing with the program.

The count follows `tasks` by triggers, whoever writes it. On PostgreSQL they run at commit (a
deferred constraint trigger): the one row is locked last, when the transaction holds every other lock
it takes, so concurrent recordings queue on it only for their commit and never deadlock over it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE = (
    """CREATE TRIGGER task_counted_in AFTER INSERT ON tasks BEGIN
         UPDATE task_count SET tasks = tasks + 1 WHERE id = 1; END""",
    """CREATE TRIGGER task_counted_out AFTER DELETE ON tasks BEGIN
         UPDATE task_count SET tasks = tasks - 1 WHERE id = 1; END""",
)
_POSTGRESQL = (
    """CREATE OR REPLACE FUNCTION task_counted() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           UPDATE task_count SET tasks = tasks + CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END WHERE id = 1;
           RETURN NULL;
         END $$""",
    """CREATE CONSTRAINT TRIGGER task_counted AFTER INSERT OR DELETE ON tasks
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION task_counted()""",
)


def upgrade() -> None:
    op.create_table("task_count",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("tasks", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("id")
    )
    for statement in _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRESQL:
        op.execute(statement)  # first: from here no task is added or removed until this commits
    op.execute("INSERT INTO task_count (id, tasks) SELECT 1, count(*) FROM tasks")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER task_counted_in")
        op.execute("DROP TRIGGER task_counted_out")
    else:
        op.execute("DROP TRIGGER task_counted ON tasks")
        op.execute("DROP FUNCTION task_counted()")
    op.drop_table("task_count")
