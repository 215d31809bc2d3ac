"""consultation: who asked and who advised, as their profile said at the time

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("asker_name", "asker_role", "asker_agency", "asker_contact", "advisor_name",
           "advisor_role")


def upgrade() -> None:
    # Nullable, no default: an entry from before this revision was never looked up, and
    # the log shows the professional's details as recorded on their row instead.
    with op.batch_alter_table("consultation") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consultation") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
