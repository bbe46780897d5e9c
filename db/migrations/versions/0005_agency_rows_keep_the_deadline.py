"""An agency's rows keep their task's deadline, indexed, so an agency's list (`agency=`) reads its page
of tasks in the lists' order off one index range (issue 14): Hà Nội's first 50 of 100,000 tasks were
found walking every task's deadline order, which grew with the program.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.models import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("task_agencies", sa.Column("deadline", UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE task_agencies SET deadline = "
               "(SELECT tasks.deadline FROM tasks WHERE tasks.code = task_agencies.task_code)")
    with op.batch_alter_table("task_agencies") as batch_op:  # SQLite makes the table again to say NOT NULL
        batch_op.alter_column("deadline", existing_type=UTCDateTime(timezone=True), nullable=False)
        batch_op.create_index("ix_task_agencies_agency_deadline", ["agency", "deadline", "task_code", "relation"])


def downgrade() -> None:
    with op.batch_alter_table("task_agencies") as batch_op:
        batch_op.drop_index("ix_task_agencies_agency_deadline")
        batch_op.drop_column("deadline")
