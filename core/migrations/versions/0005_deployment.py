"""worker processes: job parameters, claiming worker and heartbeat; pending questions shared by app processes

Revision ID: 0005_deployment
Revises: 0004_compliance
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_deployment"
down_revision = "0004_compliance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("worker", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "pending_questions",
        sa.Column("stream_hash", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stream_hash", name=op.f("pk_pending_questions")),
    )
    op.create_index(op.f("ix_pending_questions_created_at"), "pending_questions", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pending_questions_created_at"), table_name="pending_questions")
    op.drop_table("pending_questions")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("worker")
        batch.drop_column("params")
