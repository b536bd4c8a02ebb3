"""collectors: device, interface and link state, state transitions

Revision ID: 0001_collectors
Revises: 0001_inventory
Create Date: 2026-11-22 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_collectors"
down_revision = "0001_inventory"
branch_labels = ("collectors",)
depends_on = None

TZ = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "device_states",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("observed_status", sa.String(16), nullable=False),
        sa.Column("since", TZ, nullable=True),
        sa.Column("reason", sa.String(512), nullable=True),
        sa.Column("protocol", sa.String(8), nullable=True),
        sa.Column("poll_interval_seconds", sa.Float(), nullable=True),
        sa.Column("last_poll_at", TZ, nullable=True),
        sa.Column("last_ok_at", TZ, nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("poll_duration_seconds", sa.Float(), nullable=True),
        sa.Column("polls_total", sa.BigInteger(), nullable=False),
        sa.Column("errors_total", sa.BigInteger(), nullable=False),
        sa.Column("timeouts_total", sa.BigInteger(), nullable=False),
        sa.Column("sys_name", sa.String(255), nullable=True),
        sa.Column("sys_descr", sa.Text(), nullable=True),
        sa.Column("sys_uptime_ticks", sa.BigInteger(), nullable=True),
        sa.Column("ups_on_battery", sa.Boolean(), nullable=True),
        sa.Column("ups_charge_percent", sa.Float(), nullable=True),
        sa.Column("ups_minutes_remaining", sa.Float(), nullable=True),
        sa.Column("kiosk_app_version", sa.String(64), nullable=True),
        sa.Column("kiosk_app_active", sa.Boolean(), nullable=True),
        sa.Column("kiosk_disk_free_bytes", sa.BigInteger(), nullable=True),
        sa.Column("kiosk_disk_total_bytes", sa.BigInteger(), nullable=True),
        sa.Column("kiosk_uptime_seconds", sa.Float(), nullable=True),
        sa.Column("kiosk_last_boot", TZ, nullable=True),
        sa.Column("updated_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_states")),
    )
    op.create_index(op.f("ix_device_states_status"), "device_states", ["status"])

    op.create_table(
        "interface_states",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("if_index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("alias", sa.String(255), nullable=True),
        sa.Column("admin_up", sa.Boolean(), nullable=True),
        sa.Column("oper_up", sa.Boolean(), nullable=True),
        sa.Column("speed_mbps", sa.BigInteger(), nullable=True),
        *[
            sa.Column(f"{d}_{c}_total", sa.BigInteger(), nullable=False)
            for c in ("octets", "errors", "discards")
            for d in ("in", "out")
        ],
        *[
            sa.Column(f"{d}_{c}_raw", sa.BigInteger(), nullable=True)
            for c in ("octets", "errors", "discards")
            for d in ("in", "out")
        ],
        sa.Column("oper_changed_at", TZ, nullable=True),
        sa.Column("updated_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("device_id", "if_index", name=op.f("pk_interface_states")),
    )
    op.create_index(op.f("ix_interface_states_name"), "interface_states", ["name"])

    op.create_table(
        "link_states",
        sa.Column("link_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("since", TZ, nullable=True),
        sa.Column("reason", sa.String(512), nullable=True),
        sa.Column("a_oper_up", sa.Boolean(), nullable=True),
        sa.Column("z_oper_up", sa.Boolean(), nullable=True),
        sa.Column("updated_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("link_id", name=op.f("pk_link_states")),
    )
    op.create_index(op.f("ix_link_states_status"), "link_states", ["status"])

    op.create_table(
        "state_transitions",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("reason", sa.String(512), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_transitions")),
    )
    op.create_index(op.f("ix_state_transitions_at"), "state_transitions", ["at"])
    op.create_index(
        "ix_state_transitions_subject_at", "state_transitions", ["kind", "subject", "at"]
    )


def downgrade() -> None:
    op.drop_table("state_transitions")
    op.drop_table("link_states")
    op.drop_table("interface_states")
    op.drop_table("device_states")
