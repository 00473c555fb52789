"""fate-registry: the registration centre for the third-party services FATE Flow calls back.

Names are imported on first use (PEP 562), so ``fate-registry --help`` does not pay for
SQLAlchemy and pydantic: ``from fate_registry import Registry`` works as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from .markers import Deferred, calls_service, hookimpl, nonblocking
    from .models import ResolvedService, Server, Service
    from .registry import Registry
    from .settings import Settings, load_settings

    __version__: str

# The public name -> the module that defines it.
_EXPORTS = {
    "Conflict": "errors",
    "InvalidRegistration": "errors",
    "RegistryError": "errors",
    "RegistryUnavailable": "errors",
    "SchemaOutOfDate": "errors",
    "SchemaTooNew": "errors",
    "ServerNotFound": "errors",
    "ServiceNotFound": "errors",
    "Deferred": "markers",
    "calls_service": "markers",
    "hookimpl": "markers",
    "nonblocking": "markers",
    "ResolvedService": "models",
    "Server": "models",
    "Service": "models",
    "Registry": "registry",
    "Settings": "settings",
    "load_settings": "settings",
}

__all__ = [
    "Conflict",
    "Deferred",
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
    "__version__",
    "calls_service",
    "hookimpl",
    "load_settings",
    "nonblocking",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value: Any = version("fate-registry")
        except PackageNotFoundError:  # a source tree that was never installed
            value = "0+unknown"
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
