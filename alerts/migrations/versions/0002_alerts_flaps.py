"""alerts: flap count and the latest firing's start on incidents

Revision ID: 0002_alerts_flaps
Revises: 0001_alerts
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_alerts_flaps"
down_revision = "0001_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("flaps", sa.Integer(), nullable=False,
                                         server_default="0"))
    op.add_column("incidents", sa.Column("last_starts_at", sa.DateTime(timezone=True),
                                         nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("last_starts_at")
        batch.drop_column("flaps")
