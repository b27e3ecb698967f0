"""answer records: the LLM answer check's outcome (hash format 3 chains it)

Revision ID: 0008_llm_check
Revises: 0007_review
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_llm_check"
down_revision = "0007_review"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("answer_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("llm_check", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("answer_records", schema=None) as batch_op:
        batch_op.drop_column("llm_check")
