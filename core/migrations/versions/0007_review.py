"""gold-set review decisions

Revision ID: 0007_review
Revises: 0006_privacy
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_review"
down_revision = "0006_privacy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gold_reviews",
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reviewer_pseudonym", sa.String(length=64), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_gold_reviews")),
    )
    with op.batch_alter_table("gold_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gold_reviews_decision"), ["decision"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gold_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gold_reviews_decision"))
    op.drop_table("gold_reviews")
