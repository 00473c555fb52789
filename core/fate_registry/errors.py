"""Typed exceptions of the registry: every error a caller can cause has its own class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class RegistryError(Exception):
    """Base class of every error the registry raises on purpose."""


class InvalidRegistration(RegistryError, ValueError):
    """A registration input is wrong. ``problems`` lists (field, reason) pairs."""

    def __init__(self, problems: list[tuple[str, str]], entry: str | None = None) -> None:
        self.problems = problems
        self.entry = entry
        detail = "; ".join(f"{field}: {reason}" for field, reason in problems)
        prefix = f"{entry}: " if entry else ""
        super().__init__(f"{prefix}{detail}")

    @property
    def field(self) -> str:
        return self.problems[0][0]

    @property
    def reason(self) -> str:
        return self.problems[0][1]


class Problems:
    """The bad fields of one input, gathered so that all are refused at once: ``checked``
    converts a value and keeps the problems of one that has none, ``add`` keeps one more,
    ``raise_if_any`` raises InvalidRegistration naming them all."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def checked(self, convert: Callable[[Any, str], T], value: Any, field: str) -> T | None:
        """``convert(value, field)``, or None (the problems kept) when it raises
        InvalidRegistration, or when ``value`` is None."""
        if value is None:
            return None
        try:
            return convert(value, field)
        except InvalidRegistration as exc:
            self.found.extend(exc.problems)
            return None

    def add(self, field: str, reason: str) -> None:
        self.found.append((field, reason))

    def raise_if_any(self) -> None:
        if self.found:
            raise InvalidRegistration(self.found)


class ServerNotFound(RegistryError, LookupError):
    def __init__(self, server_name: str) -> None:
        self.server_name = server_name
        super().__init__(f"server {server_name!r} is not registered")


class ServiceNotFound(RegistryError, LookupError):
    def __init__(self, server_name: str, service_name: str) -> None:
        self.server_name = server_name
        self.service_name = service_name
        super().__init__(f"service {service_name!r} is not registered on server {server_name!r}")


class KeyNotFound(RegistryError, LookupError):
    """A party has no site key of that kind (``public``, ``private``) here."""

    def __init__(self, party_id: str, kind: str = "public") -> None:
        self.party_id = party_id
        self.kind = kind
        super().__init__(f"party {party_id!r} has no {kind} key")


class KeyStorageError(RegistryError, ValueError):
    """A private key cannot be stored or read: no passphrase, a wrong one, a missing file."""


class Conflict(RegistryError):
    """The write contradicts what is stored (e.g. deleting a server that still has services)."""


class OwnKeyProtected(Conflict):
    """This site's own public key was to be imported, or deleted alone: it changes only with
    its private key (``keys generate``, ``keys import --private``), never by an import."""

    def __init__(self, party_id: str, action: str = "import") -> None:
        self.party_id = party_id
        how = (
            f"delete both with 'fate-registry keys delete --party {party_id} --kind both'"
            if action == "delete"
            else f"make a new pair with 'fate-registry keys generate --party {party_id} "
            "--replace' (or 'keys import --private FILE --replace')"
        )
        super().__init__(
            f"party {party_id} is this site (rsa.party_id, or it holds a private key here): its "
            f"public key changes only with its private key, never by itself: {how}, on a host "
            "that reaches the database"
        )


class UnsupportedDatabase(RegistryError, ValueError):
    """The database URL names a backend the registry does not support."""


class SchemaOutOfDate(RegistryError):
    """The database holds an older schema; ``fate-registry db upgrade`` brings it up to date."""


class SchemaTooNew(SchemaOutOfDate):
    """The database was written by a newer fate-registry: only upgrading fate-registry helps."""


class RegistryUnavailable(RegistryError):
    """The database cannot be used now: unreachable, not answering within its timeout, locked,
    its connection pool exhausted, or its tables gone. ``reason`` says which, and never names
    the host, port, database or user; ``driver_error`` names the driver's error class and code
    (for logs), ``__cause__`` is that error. Retrying later may succeed."""

    def __init__(self, reason: str, driver_error: str = "") -> None:
        super().__init__(f"the registry database is unavailable: {reason}")
        self.reason = reason
        self.driver_error = driver_error
