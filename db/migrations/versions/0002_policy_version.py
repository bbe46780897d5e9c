"""The policy's version, in one row: every process that asks the policy follows it (issue 15), so a
change of a policy line or of anyone's roles made through one API process reaches the others.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table("policy_version",
                            sa.Column("id", sa.Integer(), nullable=False),
                            sa.Column("version", sa.Integer(), nullable=False),
                            sa.PrimaryKeyConstraint("id"))
    op.bulk_insert(table, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("policy_version")
