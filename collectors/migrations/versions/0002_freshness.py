"""collectors: checked_at (last confirmed) on device, interface and link states; since on
interfaces

Revision ID: 0002_collectors_freshness
Revises: 0001_collectors
Create Date: 2026-12-01 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_collectors_freshness"
down_revision = "0001_collectors"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("device_states", sa.Column("checked_at", TZ, nullable=True))
    op.add_column("interface_states", sa.Column("checked_at", TZ, nullable=True))
    op.add_column("interface_states", sa.Column("since", TZ, nullable=True))
    op.add_column("link_states", sa.Column("checked_at", TZ, nullable=True))
    # Rows written before this revision: last confirmed = last written (the best we know).
    op.execute("UPDATE device_states SET checked_at = last_poll_at")
    op.execute("UPDATE interface_states SET checked_at = updated_at,"
               " since = COALESCE(oper_changed_at, updated_at)")
    op.execute("UPDATE link_states SET checked_at = updated_at")


def downgrade() -> None:
    with op.batch_alter_table("link_states") as batch:
        batch.drop_column("checked_at")
    with op.batch_alter_table("interface_states") as batch:
        batch.drop_column("since")
        batch.drop_column("checked_at")
    with op.batch_alter_table("device_states") as batch:
        batch.drop_column("checked_at")
