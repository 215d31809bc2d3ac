"""caf_qa: a CAF manager's quality assurance of an assessment (Barnet process map 1P-1R)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Episodes already registered keep qa_status NULL: their clocks run as before.
    with op.batch_alter_table("caf_episode", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("qa_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(sa.Column("plan_agreed_on", sa.Date(), nullable=True))
    op.create_table(
        "caf_qa",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("requested_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("decided_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["episode_id"], ["caf_episode.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("caf_qa", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_caf_qa_episode_id"), ["episode_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("caf_qa", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_caf_qa_episode_id"))
    op.drop_table("caf_qa")
    with op.batch_alter_table("caf_episode", schema=None) as batch_op:
        batch_op.drop_column("plan_agreed_on")
        batch_op.drop_column("qa_status")
