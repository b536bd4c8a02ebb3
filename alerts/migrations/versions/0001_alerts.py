"""alerts: incidents

Revision ID: 0001_alerts
Revises: 0001_inventory
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_alerts"
down_revision = "0001_inventory"
branch_labels = ("alerts",)
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("alertname", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("link_id", sa.String(length=64), nullable=True),
        sa.Column("site_id", sa.String(length=64), nullable=True),
        sa.Column("village_code", sa.String(length=16), nullable=True),
        sa.Column("district_code", sa.String(length=16), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("probable_cause", sa.String(length=128), nullable=True),
        sa.Column("probable_cause_kind", sa.String(length=16), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("generator_url", sa.String(length=1024), nullable=True),
        sa.Column("receiver", sa.String(length=128), nullable=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint(
            "fingerprint", "starts_at", name="uq_incidents_fingerprint_starts_at"
        ),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        for column in (
            "alertname", "severity", "device_id", "link_id", "site_id", "village_code",
            "district_code",
        ):
            batch_op.create_index(batch_op.f(f"ix_incidents_{column}"), [column], unique=False)
        batch_op.create_index("ix_incidents_status_starts_at", ["status", "starts_at"])


def downgrade() -> None:
    op.drop_table("incidents")
