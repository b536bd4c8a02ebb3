"""credential profiles: allowed_networks (where a profile's secret may be sent)

Revision ID: 0002_profile_networks
Revises: 0001_inventory
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_profile_networks"
down_revision = "0001_inventory"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("snmp_profiles", "ssh_profiles"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("allowed_networks", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in ("snmp_profiles", "ssh_profiles"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("allowed_networks")
