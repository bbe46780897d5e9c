"""The public endpoints' rate limit counted where every API process adds its requests (issue 15):
requests per client and minute.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("public_hits",
    sa.Column("client", sa.String(length=100), nullable=False),
    sa.Column("minute", sa.Integer(), nullable=False),
    sa.Column("hits", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("client", "minute")
    )
    with op.batch_alter_table("public_hits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_public_hits_minute"), ["minute"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("public_hits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_public_hits_minute"))

    op.drop_table("public_hits")
