"""The Python API FATE Flow and providers call: register, look up, resolve and delete."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import URL

from . import schema
from .errors import InvalidRegistration, RegistryUnavailable
from .models import (
    HttpCheck,
    ResolvedService,
    Server,
    ServerRegistration,
    Service,
    ServiceRegistration,
    server_name,
    service_name,
    validate,
)
from .settings import Settings, load_settings
from .store import ReadinessProbe, Store, Timeouts, create_engine

if TYPE_CHECKING:
    from .apireader import ApiReader
    from .audit import Audit
    from .dispatch import Dispatcher
    from .grants import Grants
    from .health.view import HealthView
    from .keys import SiteKeys
    from .nonces import Nonces

log = logging.getLogger(__name__)


class Registry:
    """Servers and services in one database, with a per-process cache of resolved services.

    ``resolve`` answers from the cache; at most every ``cache_ttl`` seconds it reads the
    database's revision counter (one small query) and drops the cache if any node wrote since.
    Writes through this object drop the cache at once. A database that cannot be used raises
    ``RegistryUnavailable``, after at most the ``db_*`` timeouts of the settings.

    ``clock`` (seconds since the epoch, ``time.time`` by default) is what grants' limits, the
    decision cache's validity and the audit trail's times read: tests set it by hand.
    """

    def __init__(
        self,
        db_url: str | URL | None = None,
        *,
        cache_ttl: float | None = None,
        settings: Settings | None = None,
        upgrade_empty: bool = True,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.clock: Callable[[], float] = clock or time.time
        url = db_url if db_url is not None else self.settings.db_url.get_secret_value()
        self.cache_ttl = self.settings.cache_ttl if cache_ttl is None else cache_ttl
        self._url = url
        self.engine = create_engine(url, Timeouts.from_settings(self.settings))
        self.store = Store(self.engine)
        try:
            schema.ensure_current(self.engine, upgrade_empty=upgrade_empty)
            self._revision = self.store.revision()
        except BaseException:
            self.engine.dispose()
            raise
        self._cache: dict[tuple[str, str], ResolvedService] = {}
        self._checked_at = time.monotonic()
        self._refresh_lock = threading.Lock()
        self._refreshing = False

    @property
    def db_url(self) -> str:
        """The database's URL with its password (a secret: mask it before showing it)."""
        return self._url if isinstance(self._url, str) else self._url.render_as_string(False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> Registry:
        return cls(settings=settings or load_settings(), **kwargs)

    def close(self) -> None:
        if "hooks" in self.__dict__:
            self.hooks.close()
        if "audit" in self.__dict__:
            self.audit.close()  # after the dispatcher: its last decisions are written too
        if "readiness" in self.__dict__:
            self.readiness.close()
        self.engine.dispose()

    @cached_property
    def readiness(self) -> ReadinessProbe:
        """The check behind /readyz, on its own connection (made on first use)."""
        return ReadinessProbe(self._url, self.settings.ready_timeout)

    @cached_property
    def hooks(self) -> Dispatcher:
        """The capabilities through the plugin chains: ``reg.hooks.permission(request)``."""
        from .dispatch import Dispatcher  # the plugin framework loads on first use

        return Dispatcher(self)

    @cached_property
    def audit(self) -> Audit:
        """The decision audit trail: ``reg.audit.list(party="10000", since="1d")``."""
        from .audit import Audit

        return Audit(self)

    @cached_property
    def health(self) -> HealthView:
        """What this process knows of the health checks' results (run by ``serve``)."""
        from .health.view import HealthView
        from .store.health import HealthStore

        return HealthView(HealthStore(self.engine), self.settings.health.interval)

    @cached_property
    def keys(self) -> SiteKeys:
        """Site keys of the ``rsa`` plugin: ``reg.keys.generate("9999")``."""
        from .keys import SiteKeys

        return SiteKeys(self)

    @cached_property
    def grants(self) -> Grants:
        """Permission grants of the ``grants`` plugin: ``reg.grants.grant("10000", ...)``."""
        from .grants import Grants

        return Grants(self)

    @cached_property
    def nonces(self) -> Nonces:
        """Nonces seen within their window (replay protection of ``hmac`` and ``rsa``)."""
        from .nonces import Nonces

        return Nonces(self)

    def api_reader(self, server: str | None = None) -> ApiReader:
        """Fetch features from the ApiReader services of ``server``, through ``hooks``:
        ``reg.api_reader("THIRD").fetch(ids, "features.csv")``."""
        from .apireader import ApiReader

        return ApiReader(self.hooks, server)

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes -----------------------------------------------------------------------------

    def register_server(
        self,
        name: str,
        host: str,
        port: int | str,
        protocol: str = "http",
        *,
        ca_bundle: str | None = None,
        client_cert: str | None = None,
    ) -> Server:
        """Add a server or move it: its services resolve to the new address at once."""
        reg = validate(
            ServerRegistration,
            name=name,
            host=host,
            port=port,
            protocol=protocol,
            ca_bundle=ca_bundle,
            client_cert=client_cert,
        )
        server = self.store.upsert_server(reg)
        self._invalidate()
        return server

    def register_service(
        self,
        server_name: str,
        service_name: str,
        uri: str,
        method: str = "POST",
        *,
        protocol: str | None = None,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        check: HttpCheck | dict[str, Any] | None = None,
    ) -> Service:
        """Add or replace a service on a registered server. ``check``: its HTTP health check,
        ``{"path": "/health"}`` or an ``HttpCheck`` (method, path, status, timeout)."""
        reg = validate(
            ServiceRegistration,
            server_name=server_name,
            service_name=service_name,
            uri=uri,
            method=method,
            protocol=protocol,
            params=params,
            data=data,
            headers=headers,
            check=check,
        )
        service = self.store.upsert_service(reg)
        self._invalidate()
        return service

    def register_many(
        self, servers: list[ServerRegistration], services: list[ServiceRegistration]
    ) -> tuple[int, int]:
        """Write validated registrations in one transaction (see ``fate_registry.transfer``)."""
        _refuse_duplicates("servers", [s.name for s in servers])
        _refuse_duplicates("services", [f"{s.server_name}/{s.service_name}" for s in services])
        counts = self.store.upsert_many(servers, services)
        self._invalidate()
        return counts

    def delete_service(self, server_name: str, service_name: str) -> None:
        self.store.delete_service(*_names(server_name, service_name))
        self._invalidate()

    def delete_server(self, name: str, *, cascade: bool = False) -> int:
        """Delete a server; refused while it has services unless ``cascade``."""
        deleted = self.store.delete_server(_server(name), cascade=cascade)
        self._invalidate()
        return deleted

    # -- reads ------------------------------------------------------------------------------

    def server(self, name: str) -> Server:
        return self.store.server(_server(name))

    def servers(self) -> list[Server]:
        return self.store.servers()

    def service(self, server_name: str, service_name: str) -> Service:
        return self.store.service(*_names(server_name, service_name))

    def services(self, server_name: str | None = None) -> list[Service]:
        return self.store.services(None if server_name is None else _server(server_name))

    def resolve(self, server_name: str, service_name: str) -> ResolvedService:
        """URL, method, headers, params and data of a service, from its server's address now."""
        now = time.monotonic()
        if now - self._checked_at >= self.cache_ttl:
            self._refresh(now)
        key = (server_name.upper(), service_name.lower())
        # Fill the dict we looked in: if a write replaced the cache meanwhile, what we read
        # may predate it and must not land in the new one.
        cache = self._cache
        resolved = cache.get(key)
        if resolved is None:
            resolved = self.store.resolve(*_names(server_name, service_name))
            cache[key] = resolved
        return resolved

    def resolve_cached(self, server_name: str, service_name: str) -> ResolvedService | None:
        """``resolve``'s answer when it needs no database read (this node's cache is fresh and
        holds the service), else None: for an event loop, which must not wait on the
        database and calls ``resolve`` in a thread only then."""
        if time.monotonic() - self._checked_at >= self.cache_ttl:
            return None
        return self._cache.get((server_name.upper(), service_name.lower()))

    @property
    def revision(self) -> int:
        return self.store.revision()

    def known_revision(self) -> int:
        """The revision this node last read, without waiting on the database: when it is older
        than ``cache_ttl``, one background thread reads it again (the caller, an event loop
        perhaps, goes on with the one it has). Caches of derived answers (decisions) compare it
        to the revision they were filled under."""
        if time.monotonic() - self._checked_at >= self.cache_ttl and not self._refreshing:
            self._refreshing = True
            threading.Thread(target=self._refresh_soon, daemon=True).start()
        return self._revision

    # -- cache ------------------------------------------------------------------------------

    def _refresh(self, now: float) -> None:
        with self._refresh_lock:
            if now - self._checked_at < self.cache_ttl:
                return
            revision = self.store.revision()
            if revision != self._revision:
                self._cache = {}
                self._revision = revision
            self._checked_at = time.monotonic()

    def _refresh_soon(self) -> None:
        try:
            self._refresh(time.monotonic())
        except RegistryUnavailable as exc:  # the next lookup tries again, and reports it
            log.warning("could not read the registry's revision: %s", exc)
        except Exception as exc:
            log.warning("could not read the registry's revision: %s", type(exc).__name__)
        finally:
            self._refreshing = False

    def changed(self) -> None:
        """Called after a write of this process (keys and grants too): see it at once."""
        self._invalidate()

    def announce_change(self) -> None:
        """Bump the registry's revision, as its own writes do, and see it at once: every node
        drops its cached decisions and reloads its snapshots at its next revision check (within
        ``cache_ttl``). For a plugin that writes a table of its own (contrib/fate-registry-
        casbin). ``RegistryUnavailable`` when the database cannot be used."""
        self.store.bump_revision()
        self._invalidate()

    def _invalidate(self) -> None:
        """After our own write: drop the cache and read the new revision at once, so this
        node's caches of derived answers miss from now on."""
        self._cache = {}
        self._checked_at = float("-inf")
        try:
            self._refresh(time.monotonic())
        except RegistryUnavailable as exc:  # the write is done; the next lookup reads it again
            log.warning("could not read the registry's revision after a write: %s", exc)
        except Exception:
            log.warning("could not read the registry's revision after a write", exc_info=True)


def _server(name: str) -> str:
    try:
        return server_name(name)
    except ValueError as exc:
        raise InvalidRegistration([("server_name", str(exc))]) from None


def _names(server: str, service: str) -> tuple[str, str]:
    server = _server(server)
    try:
        return server, service_name(service)
    except ValueError as exc:
        raise InvalidRegistration([("service_name", str(exc))]) from None


def _refuse_duplicates(field: str, keys: list[str]) -> None:
    seen: set[str] = set()
    twice: set[str] = set()
    for key in keys:
        (twice if key in seen else seen).add(key)
    if twice:
        raise InvalidRegistration([(field, f"given more than once: {', '.join(sorted(twice))}")])
