"""Login throttling where every API process counts (issue 15): the wrong passwords of the lockout's
span, per username and per client address, and the locks they led to.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("login_failures",
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("scope", sa.String(length=8), nullable=False),
    sa.Column("key", sa.String(length=100), nullable=False),
    sa.Column("at", sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_failures_at"), ["at"], unique=False)
        batch_op.create_index("ix_login_failures_key", ["scope", "key", "at"], unique=False)

    op.create_table("login_locks",
    sa.Column("scope", sa.String(length=8), nullable=False),
    sa.Column("key", sa.String(length=100), nullable=False),
    sa.Column("until", sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint("scope", "key")
    )


def downgrade() -> None:
    op.drop_table("login_locks")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_key")
        batch_op.drop_index(batch_op.f("ix_login_failures_at"))

    op.drop_table("login_failures")
