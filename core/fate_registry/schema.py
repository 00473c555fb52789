"""Schema versions: Alembic migrations shipped inside the package, run on the registry's engine."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from .errors import SchemaOutOfDate

# Our own version table, so the registry can share a database with other applications.
VERSION_TABLE = "fate_registry_alembic_version"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", "fate_registry:migrations")
    config.set_main_option("version_table", VERSION_TABLE)
    return config


def head() -> str:
    return str(ScriptDirectory.from_config(_config()).get_current_head())


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade(engine: Engine, target: str = "head") -> None:
    config = _config()
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, target)
        conn.commit()


def ensure_current(engine: Engine, upgrade_empty: bool = True) -> None:
    """Upgrade an empty database; refuse one whose schema is older than this code's."""
    version = current(engine)
    if version == head():
        return
    if version is None and upgrade_empty:
        try:
            upgrade(engine)
        except Exception:
            # Another process may have upgraded it at the same moment; that is fine.
            if current(engine) != head():
                raise
        return
    if version is not None and not _known(version):
        raise SchemaOutOfDate(
            f"the registry database is at schema {version}, which this version of fate-registry "
            f"does not know (it needs {head()}): it was written by a newer release; upgrade "
            "fate-registry"
        )
    raise SchemaOutOfDate(
        f"the registry database is at schema {version or 'none'}, this code needs {head()}: "
        "run `fate-registry db upgrade`"
    )


def _known(version: str) -> bool:
    scripts = ScriptDirectory.from_config(_config())
    return any(script.revision == version for script in scripts.walk_revisions())
