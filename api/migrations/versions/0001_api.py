"""api: API tokens, audit log, readiness verdict history

Revision ID: 0001_api
Revises: 0001_inventory
Create Date: 2026-11-22 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_api"
down_revision = "0001_inventory"
branch_labels = ("api",)
depends_on = None

TZ = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("last_used_at", TZ, nullable=True),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_name"), "api_tokens", ["name"])
    op.create_table(
        "audit_log",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(160), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_actor"), "audit_log", ["actor"])
    op.create_index(op.f("ix_audit_log_action"), "audit_log", ["action"])
    op.create_index(op.f("ix_audit_log_target"), "audit_log", ["target"])
    op.create_table(
        "readiness_history",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("village_code", sa.String(16), nullable=False),
        sa.Column("district_code", sa.String(16), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("previous", sa.String(16), nullable=True),
        sa.Column("failing", sa.JSON(), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness_history")),
    )
    op.create_index(
        "ix_readiness_history_village_at", "readiness_history", ["village_code", "at"]
    )
    op.create_index(op.f("ix_readiness_history_at"), "readiness_history", ["at"])
    op.create_index(
        op.f("ix_readiness_history_district_code"), "readiness_history", ["district_code"]
    )


def downgrade() -> None:
    op.drop_table("readiness_history")
    op.drop_table("audit_log")
    op.drop_table("api_tokens")
