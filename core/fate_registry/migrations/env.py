"""Alembic environment: runs on the connection the registry hands over (see schema.py)."""

from alembic import context

from fate_registry.schema import include_object
from fate_registry.store import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=context.config.get_main_option("version_table"),
    render_as_batch=True,
    include_object=include_object,  # tables we do not define are not ours to drop
)
with context.begin_transaction():
    context.run_migrations()
