"""Outbox: index (channel, status, id) for finding each channel's oldest open row

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The claim looks for MIN(id) of open rows per channel; (channel, id) alone made it
    # check every open row against its predecessors (193 ms at 2,800 queued, measured).
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_channel_seq")
        batch_op.create_index("ix_outbox_channel_status_id", ["channel", "status", "id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_channel_status_id")
        batch_op.create_index("ix_outbox_channel_seq", ["channel", "id"])
