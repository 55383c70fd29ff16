"""Double grading: second_gradings, a resolved case's blind second grade.

Revision ID: 0002_double_grading
Revises: 0001
Create Date: 2026-11-30 08:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_double_grading"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "second_gradings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=True),
        sa.Column("counterfeit", sa.Boolean(), nullable=True),
        sa.Column("grader_id", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_second_gradings_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_second_gradings")),
        sa.UniqueConstraint("case_id", name=op.f("uq_second_gradings_case_id")),
    )
    op.create_index(op.f("ix_second_gradings_status"), "second_gradings", ["status"], unique=False)


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index(op.f("ix_second_gradings_status"), table_name="second_gradings")
    op.drop_table("second_gradings")
