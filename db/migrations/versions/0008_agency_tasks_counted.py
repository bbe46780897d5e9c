"""How many tasks each agency stands to in each relation, kept as its rows are written (db/models.py
AgencyTaskCount), so that an agency's people's list and a list by agency read their total, not count
it (issue 14): counting an agency's 2,400 rows among 100,000 tasks took 0.6–1.0 ms on PostgreSQL,
growing with the program.

The counts follow `task_agencies` by triggers, whoever writes it (a task's rows deleted with it too).
On PostgreSQL they run at commit (a deferred constraint trigger), as 0006's: an agency's row is locked
last, so concurrent recordings queue on it only for their commit and never deadlock over it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ADD = """INSERT INTO agency_task_counts (agency, relation, tasks) VALUES (NEW.agency, NEW.relation, 1)
            ON CONFLICT (agency, relation) DO UPDATE SET tasks = agency_task_counts.tasks + 1"""
_TAKE = "UPDATE agency_task_counts SET tasks = tasks - 1 WHERE agency = OLD.agency AND relation = OLD.relation"
_SQLITE = (
    f"CREATE TRIGGER agency_task_counted_in AFTER INSERT ON task_agencies BEGIN {_ADD}; END",
    f"CREATE TRIGGER agency_task_counted_out AFTER DELETE ON task_agencies BEGIN {_TAKE}; END",
    f"CREATE TRIGGER agency_task_counted AFTER UPDATE OF agency, relation ON task_agencies BEGIN {_TAKE}; {_ADD}; END",
)
_POSTGRESQL = (
    f"""CREATE OR REPLACE FUNCTION agency_task_counted() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF TG_OP <> 'INSERT' THEN {_TAKE}; END IF;
           IF TG_OP <> 'DELETE' THEN {_ADD}; END IF;
           RETURN NULL;
         END $$""",
    """CREATE CONSTRAINT TRIGGER agency_task_counted AFTER INSERT OR DELETE OR UPDATE OF agency, relation
         ON task_agencies DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION agency_task_counted()""",
)


def upgrade() -> None:
    op.create_table("agency_task_counts",
    sa.Column("agency", sa.String(length=32), nullable=False),
    sa.Column("relation", sa.String(length=16), nullable=False),
    sa.Column("tasks", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("agency", "relation")
    )
    for statement in _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRESQL:
        op.execute(statement)  # first: from here no agency row is written until this commits
    op.execute("INSERT INTO agency_task_counts (agency, relation, tasks) "
               "SELECT agency, relation, count(*) FROM task_agencies GROUP BY agency, relation")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("agency_task_counted_in", "agency_task_counted_out", "agency_task_counted"):
            op.execute(f"DROP TRIGGER {trigger}")
    else:
        op.execute("DROP TRIGGER agency_task_counted ON task_agencies")
        op.execute("DROP FUNCTION agency_task_counted()")
    op.drop_table("agency_task_counts")
