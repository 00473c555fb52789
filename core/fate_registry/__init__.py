"""fate-registry: the registration centre for the third-party services FATE Flow calls back."""

from .errors import (
    Conflict,
    InvalidRegistration,
    RegistryError,
    RegistryUnavailable,
    SchemaOutOfDate,
    SchemaTooNew,
    ServerNotFound,
    ServiceNotFound,
)
from .markers import hookimpl, nonblocking
from .models import ResolvedService, Server, Service
from .registry import Registry
from .settings import Settings, load_settings

__all__ = [
    "Conflict",
    "InvalidRegistration",
    "Registry",
    "RegistryError",
    "RegistryUnavailable",
    "ResolvedService",
    "SchemaOutOfDate",
    "SchemaTooNew",
    "Server",
    "ServerNotFound",
    "Service",
    "ServiceNotFound",
    "Settings",
    "hookimpl",
    "load_settings",
    "nonblocking",
]
