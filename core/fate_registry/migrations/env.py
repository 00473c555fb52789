"""Alembic environment: runs on the connection the registry hands over (see schema.py)."""

from alembic import context

from fate_registry.store import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=context.config.get_main_option("version_table"),
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
