"""answer records: hash format 2 (salted field digests) and redaction for erasure

Revision ID: 0006_privacy
Revises: 0005_deployment
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_privacy"
down_revision = "0005_deployment"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("answer_records", sa.Column("hash_format", sa.Integer(), nullable=True))
    op.add_column("answer_records", sa.Column("salt", sa.String(length=64), nullable=True))
    op.add_column("answer_records", sa.Column("redaction", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("answer_records") as batch_op:
        batch_op.drop_column("redaction")
        batch_op.drop_column("salt")
        batch_op.drop_column("hash_format")
