"""request_replay: once-keys of state-changing requests, so a replayed one does nothing

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_replay",
        sa.Column("once_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("received_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("once_key"),
    )
    # The sweep deletes the old keys by age.
    with op.batch_alter_table("request_replay") as batch_op:
        batch_op.create_index("ix_request_replay_received_at", ["received_at"])


def downgrade() -> None:
    with op.batch_alter_table("request_replay") as batch_op:
        batch_op.drop_index("ix_request_replay_received_at")
    op.drop_table("request_replay")
