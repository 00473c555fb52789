"""The registry store: the only code in the project that touches SQL.

One module per concern: ``engine`` (drivers, connection options and timeouts of each backend),
``watchdog`` (PostgreSQL's client-side deadline), ``failures`` (a database that cannot be used
becomes ``RegistryUnavailable``), ``tables`` (the SQLModel tables), ``registrations`` (servers
and services), ``readiness`` (the check behind /readyz). ``reported(engine)`` also serves code
that reaches the database through another library (a plugin's own table, through its ORM).
"""

from __future__ import annotations

from .engine import SUPPORTED_BACKENDS, Timeouts, create_engine, normalise_url
from .failures import reported
from .readiness import ReadinessProbe
from .registrations import Store
from .tables import RevisionRow, ServerRow, ServiceRow, metadata

__all__ = [
    "SUPPORTED_BACKENDS",
    "ReadinessProbe",
    "RevisionRow",
    "ServerRow",
    "ServiceRow",
    "Store",
    "Timeouts",
    "create_engine",
    "metadata",
    "normalise_url",
    "reported",
]
