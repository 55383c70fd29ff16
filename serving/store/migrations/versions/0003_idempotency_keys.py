"""Idempotency keys: an /assess request's Idempotency-Key, unique, with the case it made.

Revision ID: 0003_idempotency_keys
Revises: 0002_double_grading
Create Date: 2026-11-30 10:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_idempotency_keys"
down_revision = "0002_double_grading"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_idempotency_keys_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("case_id", name=op.f("uq_idempotency_keys_case_id")),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("idempotency_keys")
