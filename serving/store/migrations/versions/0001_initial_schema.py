"""Initial schema: cases, photos, review queue, pricing decisions, audit trail, outcomes.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 05:33:25.339796
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("item_id", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=200), nullable=True),
        sa.Column("brand", sa.String(length=200), nullable=True),
        sa.Column("order_id", sa.String(length=200), nullable=True),
        sa.Column("serial_number", sa.String(length=200), nullable=True),
        sa.Column("item", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("grade_result", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("price_result", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("route", sa.String(length=40), nullable=False),
        sa.Column("reasons", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("review_status", sa.String(length=16), nullable=False),
        sa.Column("final_grade", sa.String(length=1), nullable=True),
        sa.Column("final_counterfeit", sa.Boolean(), nullable=True),
        sa.Column("pricing_status", sa.String(length=16), nullable=False),
        sa.Column("recommended_price", sa.Float(), nullable=True),
        sa.Column("floor_price", sa.Float(), nullable=True),
        sa.Column("final_price", sa.Float(), nullable=True),
        sa.Column("model_versions", sa.JSON(none_as_null=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_cases")),
    )
    op.create_index(op.f("ix_cases_created_at"), "cases", ["created_at"])
    op.create_index(op.f("ix_cases_item_id"), "cases", ["item_id"])
    op.create_index(op.f("ix_cases_pricing_status"), "cases", ["pricing_status"])
    op.create_index(op.f("ix_cases_review_status"), "cases", ["review_status"])
    op.create_index(op.f("ix_cases_serial_number"), "cases", ["serial_number"])
    op.create_table(
        "photos",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_photos")),
    )
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("payload", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_case_events_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    op.create_index(op.f("ix_case_events_case_id"), "case_events", ["case_id"])
    op.create_table(
        "case_photos",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("result", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_case_photos_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["sha256"], ["photos.sha256"], name=op.f("fk_case_photos_sha256_photos")
        ),
        sa.PrimaryKeyConstraint("case_id", "position", name=op.f("pk_case_photos")),
    )
    op.create_index(op.f("ix_case_photos_sha256"), "case_photos", ["sha256"])
    op.create_table(
        "case_review_kinds",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_case_review_kinds_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", "kind", name=op.f("pk_case_review_kinds")),
    )
    op.create_index(op.f("ix_case_review_kinds_kind"), "case_review_kinds", ["kind"])
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("item_id", sa.String(length=200), nullable=False),
        sa.Column("sold_price", sa.Float(), nullable=True),
        sa.Column("days_listed", sa.Float(), nullable=False),
        sa.Column("sold", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_outcomes_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
    )
    op.create_index(op.f("ix_outcomes_case_id"), "outcomes", ["case_id"])
    op.create_index(op.f("ix_outcomes_item_id"), "outcomes", ["item_id"])
    op.create_table(
        "pricing_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("analyst_id", sa.String(length=200), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_pricing_decisions_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_decisions")),
        sa.UniqueConstraint("case_id", name=op.f("uq_pricing_decisions_case_id")),
    )
    op.create_table(
        "review_resolutions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("counterfeit", sa.Boolean(), nullable=False),
        sa.Column("grader_id", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_review_resolutions_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_resolutions")),
        sa.UniqueConstraint("case_id", name=op.f("uq_review_resolutions_case_id")),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("review_resolutions")
    op.drop_table("pricing_decisions")
    op.drop_index(op.f("ix_outcomes_item_id"), table_name="outcomes")
    op.drop_index(op.f("ix_outcomes_case_id"), table_name="outcomes")
    op.drop_table("outcomes")
    op.drop_index(op.f("ix_case_review_kinds_kind"), table_name="case_review_kinds")
    op.drop_table("case_review_kinds")
    op.drop_index(op.f("ix_case_photos_sha256"), table_name="case_photos")
    op.drop_table("case_photos")
    op.drop_index(op.f("ix_case_events_case_id"), table_name="case_events")
    op.drop_table("case_events")
    op.drop_table("photos")
    op.drop_index(op.f("ix_cases_serial_number"), table_name="cases")
    op.drop_index(op.f("ix_cases_review_status"), table_name="cases")
    op.drop_index(op.f("ix_cases_pricing_status"), table_name="cases")
    op.drop_index(op.f("ix_cases_item_id"), table_name="cases")
    op.drop_index(op.f("ix_cases_created_at"), table_name="cases")
    op.drop_table("cases")
