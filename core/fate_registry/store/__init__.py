"""The registry store: the only code in the project that touches SQL.

One module per concern: ``engine`` (drivers and connection options of each backend),
``tables`` (the SQLModel tables), ``registrations`` (servers and services).
"""

from __future__ import annotations

from .engine import SUPPORTED_BACKENDS, create_engine, normalise_url
from .registrations import Store
from .tables import RevisionRow, ServerRow, ServiceRow, metadata

__all__ = [
    "SUPPORTED_BACKENDS",
    "RevisionRow",
    "ServerRow",
    "ServiceRow",
    "Store",
    "create_engine",
    "metadata",
    "normalise_url",
]
