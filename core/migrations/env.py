"""Alembic environment: run with the connection `core.db.Database.migrate` hands in."""

from alembic import context

from core.db import Base

connection = context.config.attributes.get("connection")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
