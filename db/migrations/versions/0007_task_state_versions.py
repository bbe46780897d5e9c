"""Each task row carries its state's version (db/models.py Task.version), set by the database whenever
the state is written, whoever writes it: an inbox reads its rows' versions and the text only of the
states it has not met (db/states.py `read_kept`), on both databases (issue 14). On SQLite a head's
inbox of 200 at 100,000 tasks read about 330 KB of text at each read, decoded and hashed it, for
states it held already: 2.0–2.5 ms in process, 1.4–1.9 ms by versions.

A random number, so that a process, which knows a state by its task's code and version, all but never
meets one code and version for two states, in this database or in another (the tests' processes read
many databases, and a sequence would start again in each; a repeat's odds are 2^-52 a pair of states
on PostgreSQL and 2^-64 on SQLite); a row deleted and made again gets a new one too. (PostgreSQL read
the row's `xmin` before, unique in its server: the same idea, there alone.)
- SQLite: 64 random bits, set after the row is inserted or its state written (SQLite's triggers
  cannot change the row being written).
- PostgreSQL: 52 random bits (`random()`'s), set on the row as it is written.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE = (
    """CREATE TRIGGER task_state_written_in AFTER INSERT ON tasks BEGIN
         UPDATE tasks SET version = random() WHERE rowid = NEW.rowid; END""",
    # `OF state`: the trigger's own write (of `version`) does not set it off again.
    """CREATE TRIGGER task_state_written AFTER UPDATE OF state ON tasks BEGIN
         UPDATE tasks SET version = random() WHERE rowid = NEW.rowid; END""",
)
_POSTGRESQL = (
    """CREATE OR REPLACE FUNCTION task_state_written() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           NEW.version := floor(random() * 4503599627370496)::bigint;  -- 2^52
           RETURN NEW;
         END $$""",
    """CREATE TRIGGER task_state_written BEFORE INSERT OR UPDATE OF state ON tasks
         FOR EACH ROW EXECUTE FUNCTION task_state_written()""",
)


def upgrade() -> None:
    op.add_column("tasks", sa.Column("version", sa.BigInteger(), server_default="0", nullable=False))
    for statement in _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRESQL:
        op.execute(statement)
    op.execute("UPDATE tasks SET state = state")  # each row's version set by its trigger, as at every write


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER task_state_written_in")
        op.execute("DROP TRIGGER task_state_written")
    else:
        op.execute("DROP TRIGGER task_state_written ON tasks")
        op.execute("DROP FUNCTION task_state_written()")
    op.drop_column("tasks", "version")
