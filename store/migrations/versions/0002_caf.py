"""CAF episodes: last meeting held, stuck-CAF route stage, version

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("caf_episode", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_meeting_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("stuck_stage", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("caf_episode", schema=None) as batch_op:
        batch_op.drop_column("version")
        batch_op.drop_column("stuck_stage")
        batch_op.drop_column("last_meeting_on")
