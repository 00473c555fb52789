"""``RegistryClient``: the registry over its HTTP API (a ``fate-registry serve``), with the methods
and typed exceptions of :class:`fate_registry.Registry` that the API offers.

    with RegistryClient("http://registry:9390", token=os.environ["TOKEN"]) as reg:
        reg.register_server("third", host="10.0.0.5", port=8080)
        reg.services("third")
        reg.keys.import_public("10000", pem)        # FATE Flow 1.11's /v1/key/* routes
        reg.grants.grant("10000", components=["reader"])  # and its /v1/permission/*

Inputs are validated here with the same models as ``Registry``'s, so a bad field fails before
any request, with the same message. Replies are read by our own keys (v2 routes), so keys that
FATE Flow's clients want beside them change nothing. Replies mask values stored under
secret-looking names (see docs/server.md), so ``service()`` shows them masked. The token is sent
as ``Authorization: Bearer`` and appears in no message, log or ``repr``; messages name the URL
without user, password or query.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, TextIO
from urllib.parse import urlsplit, urlunsplit

import requests

from .errors import (
    Conflict,
    InvalidRegistration,
    KeyNotFound,
    RegistryError,
    ServerNotFound,
    ServiceNotFound,
)
from .models import (
    HttpCheck,
    Server,
    ServerRegistration,
    Service,
    ServiceRegistration,
    server_name,
    service_name,
    validate,
)

if TYPE_CHECKING:
    from .audit.records import AuditRecord
    from .grants import Grant

TIMEOUT = (5.0, 60.0)  # seconds to connect, seconds to read a reply
_SERVER_MISSING = re.compile(r"server '([^']*)' is not registered")
_SERVICE_MISSING = re.compile(r"service '([^']*)' is not registered on server '([^']*)'")
_KEY_MISSING = re.compile(r"party '([^']*)' has no (public|private) key")
_FIELD = re.compile(r"([A-Za-z0-9_.\[\]()-]+): (.+)")
# The hook gateway's refusals before any decision: FATE's code, and the HTTP status it stands
# for (the gateway answers them all with HTTP 200, as FATE Flow needs).
_REFUSALS = {101: 400, 108: 403, 109: 401}


class RemoteError(RegistryError):
    """The registry server could not do what was asked, for a reason other than the typed
    errors it shares with ``Registry``; ``status`` is the HTTP status (None without a reply)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Unreachable(RemoteError):
    """No reply: the server is down, the address is wrong, or it did not answer in time."""


class AuthenticationFailed(RemoteError):
    """401: the token is missing or wrong (``--token`` / ``FATE_REGISTRY_TOKEN``)."""


class Forbidden(RemoteError):
    """403: the server refuses this input, e.g. a host outside its ``allowed_hosts``."""


def shown_url(url: str) -> str:
    """``url`` without user, password, query or fragment: what messages may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class RegistryClient:
    """The registry at ``url`` (e.g. ``http://127.0.0.1:9390``) over its HTTP API."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: tuple[float, float] = TIMEOUT,
        verify: bool | str = True,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRegistration([("url", "must be an http:// or https:// URL with a host")])
        # Paths are appended to it: a query or fragment of the URL given is dropped.
        self.url = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self.shown_url = shown_url(self.url)
        self.timeout = timeout
        self._session = requests.Session()
        self._session.verify = verify
        self._session.headers["Accept"] = "application/json"
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:
        return f"RegistryClient({self.shown_url!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RegistryClient:
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
        _no_tls_paths(reg)
        body = {"server_name": reg.name, "host": reg.host, "port": reg.port}
        return _server_of(
            self._call("POST", "/v2/server/registry", json={**body, "protocol": reg.protocol})
        )

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
        """Add or replace a service on a registered server."""
        reg = validate(
            ServiceRegistration,
            server_name=server_name,
            service_name=service_name,
            uri=uri,
            method=method,
            protocol=protocol,
            params=params or {},
            data=data or {},
            headers=headers or {},
            check=check,
        )
        body = reg.model_dump(exclude_none=True)
        reply = self._call("POST", "/v2/server/service/registry", json=body)
        return _service_of(reply)

    def register_many(
        self, servers: list[ServerRegistration], services: list[ServiceRegistration]
    ) -> tuple[int, int]:
        """Write validated registrations in one transaction, as ``Registry.register_many``:
        sent as FATE Flow's legacy body of ``/v1/service/registry``, all or nothing. A service
        whose server is not among ``servers`` goes with that server as registered now."""
        body: dict[str, dict[str, Any]] = {}
        for server in servers:
            _no_tls_paths(server)
            if server.name in body:
                raise InvalidRegistration([("servers", f"given more than once: {server.name}")])
            body[server.name] = _legacy_server(server.host, server.port, server.protocol)
        for service in services:
            if service.server_name not in body:
                known = self.server(service.server_name)
                body[service.server_name] = _legacy_server(known.host, known.port, known.protocol)
            api = body[service.server_name]["api"]
            if service.service_name in api:
                key = f"{service.server_name}/{service.service_name}"
                raise InvalidRegistration([("services", f"given more than once: {key}")])
            api[service.service_name] = service.model_dump(
                include={"uri", "method", "protocol", "params", "data", "headers", "check"},
                exclude_none=True,
            )
        if not body:
            return 0, 0
        self._call("POST", "/v1/service/registry", json=body)
        return len(servers), len(services)  # as Registry counts: what the caller gave

    def delete_service(self, server_name: str, service_name: str) -> None:
        server, service = _names(server_name, service_name)
        body = {"server_name": server, "service_name": service}
        self._call("POST", "/v2/server/service/delete", json=body)

    def delete_server(self, name: str, *, cascade: bool = False) -> int:
        """Delete a server; refused while it has services unless ``cascade``."""
        body = {"server_name": _server(name), "cascade": cascade}
        return int(self._call("POST", "/v2/server/delete", json=body)["services"])

    # -- reads ------------------------------------------------------------------------------

    def server(self, name: str) -> Server:
        return _server_of(
            self._call("GET", "/v2/server/query", params={"server_name": _server(name)})
        )

    def servers(self) -> list[Server]:
        by_name = self._call("GET", "/v2/server/query/all")
        return [_server_of(row) for _, row in sorted(by_name.items())]

    def service(self, server_name: str, service_name: str) -> Service:
        server, service = _names(server_name, service_name)
        query = {"server_name": server, "service_name": service}
        return _service_of(self._call("GET", "/v2/server/service/query", params=query))

    def services(self, server_name: str | None = None) -> list[Service]:
        query = {} if server_name is None else {"server_name": _server(server_name)}
        rows = self._call("GET", "/v2/server/service/query/all", params=query)
        return [_service_of(row) for row in rows]

    @property
    def revision(self) -> int:
        """The database's revision counter, from ``/readyz``."""
        return int(self._call("GET", "/readyz", envelope=False)["revision"])

    def status(self, minutes: int = 15) -> dict[str, Any]:
        """What ``fate-registry status`` shows, from the server's ``/status``: its decisions
        of the last ``minutes`` included."""
        found = self._call("GET", "/status", params={"minutes": str(minutes)}, envelope=False)
        if not isinstance(found, dict) or "registry" not in found:
            raise RemoteError(f"{self.shown_url}/status: not a fate-registry status reply")
        return found

    def hook(self, capability: str, request: dict[str, Any]) -> dict[str, Any]:
        """A decision of the hook gateway (``/v1/hook/<capability>``): FATE's ``{code, msg}``
        reply, ``signature`` too for a signature.

        The gateway answers HTTP 200 even when it refuses a request before any decision (FATE
        Flow reads only the code): such a reply carries no ``decision_id``, and is raised as the
        other routes' refusals are: AuthenticationFailed for a missing or wrong token (code 109),
        Forbidden (108), RemoteError with status 400 for a request it cannot read (101)."""
        path = f"/v1/hook/{capability}"
        reply = self._call("POST", path, json=request, envelope=False)
        if not isinstance(reply, dict) or "code" not in reply:
            raise RemoteError(f"{self.shown_url}: the hook gateway's reply is not FATE's")
        if "decision_id" not in reply:
            status = _REFUSALS.get(reply["code"], 400)
            if status == 400:
                raise RemoteError(str(reply.get("msg", "")), status)
            raise _error(self.shown_url, path, status, reply)
        return reply

    @cached_property
    def keys(self) -> RemoteKeys:
        """Site keys through FATE Flow 1.11's ``/v1/key/*`` routes: public keys only."""
        return RemoteKeys(self)

    @cached_property
    def audit(self) -> RemoteAudit:
        """The decision audit trail through ``GET /audit``: list and export."""
        return RemoteAudit(self)

    @cached_property
    def grants(self) -> RemoteGrants:
        """Permission grants through FATE Flow 1.11's ``/v1/permission/*`` routes."""
        return RemoteGrants(self)

    # -- the exchange -----------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        envelope: bool = True,
    ) -> Any:
        """The ``data`` of the reply (the whole body when not an envelope), or a typed error."""
        try:
            response = self._session.request(
                method, self.url + path, json=json, params=params, timeout=self.timeout
            )
        except requests.Timeout:
            raise Unreachable(
                f"{self.shown_url} did not answer within {self.timeout[1]:g} s"
            ) from None
        except requests.RequestException as exc:
            raise Unreachable(f"cannot reach {self.shown_url}: {_reason(exc)}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RemoteError(
                f"{self.shown_url}{path}: HTTP {response.status_code} without a JSON reply "
                "(is this a fate-registry server?)",
                response.status_code,
            )
        if response.status_code >= 400 or (envelope and body.get("code", body.get("retcode"))):
            raise _error(self.shown_url, path, response.status_code, body)
        return body.get("data") if envelope else body


class RemoteKeys:
    """``reg.keys`` of a remote registry: the methods of ``SiteKeys`` the API offers. A private
    key never travels: generating, importing or showing one is done where the database is."""

    def __init__(self, client: RegistryClient) -> None:
        self._client = client

    def import_public(self, party_id: Any, pem: str | bytes) -> bool:
        """Store another site's public key; True when the party had none."""
        from .canonical import party_of
        from .keys import parse_public, public_pem

        pid = party_of(party_id)
        key = public_pem(parse_public(pem))  # refused here as by the registry, before a request
        reply = self._client._call(
            "POST", "/v1/key/public/save", json={"party_id": pid, "key": key}
        )
        return bool(reply == "save success")

    def public_pem(self, party_id: Any) -> str:
        from .canonical import party_of

        body = {"party_id": party_of(party_id), "key_name": "public"}
        return str(self._client._call("POST", "/v1/key/query", json=body))

    def delete(self, party_id: Any, kind: Literal["public", "private", "both"] = "public") -> int:
        """Delete a party's public key: 1, or 0 when it had none."""
        from .canonical import party_of

        pid = party_of(party_id)
        if kind != "public":
            reason = "only public keys can be deleted over the HTTP API: delete a private key "
            raise InvalidRegistration([("kind", reason + "where the database is")])
        try:
            self._client._call("POST", "/v1/key/public/delete", json={"party_id": pid})
        except KeyNotFound:
            return 0
        return 1


class RemoteGrants:
    """``reg.grants`` of a remote registry: grant, revoke and one party's entries. Deny
    entries are not in FATE's route: they are granted where the database is."""

    def __init__(self, client: RegistryClient) -> None:
        self._client = client

    def grant(
        self,
        party_id: Any,
        *,
        components: Any = (),
        datasets: Any = (),
        role: Any = None,
        deny: bool = False,
        expires_at: Any = None,
        not_before: Any = None,
        max_uses: int | None = None,
        valid_for: Any = None,
    ) -> list[Grant]:
        """Add entries; the entries sent, validated as ``Grants.grant`` validates them (a
        ``valid_for`` counts from this machine's clock, and is sent as ``expires_at``)."""
        from .grants import grant_entries, grant_limits

        if deny:
            reason = "deny entries cannot be granted over the HTTP API (FATE's route has no such "
            raise InvalidRegistration(
                [("deny", reason + "field): grant them where the database is")]
            )
        limits = grant_limits(expires_at, not_before, max_uses, valid_for, now=time.time())
        entries = grant_entries(party_id, components, datasets, role, limits=limits)
        extra: dict[str, Any] = {}
        if limits.not_before is not None:
            extra["not_before"] = limits.not_before.isoformat()
        if limits.expires_at is not None:
            extra["expires_at"] = limits.expires_at.isoformat()
        if limits.max_uses is not None:
            extra["max_uses"] = limits.max_uses
        for body in _grant_bodies(entries):
            self._client._call("POST", "/v1/permission/grant", json={**body, **extra})
        return entries

    def revoke(
        self,
        party_id: Any,
        *,
        components: Any = (),
        datasets: Any = (),
        role: Any = None,
        everything: bool = False,
    ) -> int:
        """Delete entries of a party, as ``Grants.revoke``; how many went."""
        from .canonical import ANY, component_of, dataset_of, party_of, role_of

        pid = party_of(party_id, wildcard=True)
        comps = [ANY] if everything else [component_of(c) for c in components]
        sets = [ANY] if everything else [dataset_of(d) for d in datasets]
        if not (comps or sets):
            raise InvalidRegistration([("component", "give a component or a dataset to revoke")])
        body: dict[str, Any] = {"party_id": pid}
        if comps:
            body["component"] = comps
        if sets:  # '*' covers the rest, and FATE's body cannot list it among objects
            body["dataset"] = ANY if ANY in sets else [_dataset(value) for value in sets]
        if role is not None:
            body["role"] = role_of(role, wildcard=True)
        return int(self._client._call("POST", "/v1/permission/delete", json=body)["deleted"])

    def entries(self, party_id: Any = None) -> list[Grant]:
        """A party's entries (``*``: those that apply to every party)."""
        from .canonical import party_of
        from .grants import Grant

        if party_id is None:
            raise InvalidRegistration(
                [("party_id", "give a party: the HTTP API lists one party's grants at a time")]
            )
        body = {"party_id": party_of(party_id, wildcard=True)}
        rows = self._client._call("POST", "/v1/permission/query", json=body)["entries"]
        return [
            Grant(
                party_id=row["party_id"],
                kind=row["kind"],
                value=row["value"],
                role=row["role"],
                effect=row["effect"],
                created_at=_time(row.get("created_at")),
                not_before=_time(row.get("not_before")),
                expires_at=_time(row.get("expires_at")),
                max_uses=row.get("max_uses"),
                uses=int(row.get("uses") or 0),
            )
            for row in rows
        ]


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class RemoteAudit:
    """``reg.audit`` of a remote registry: ``list``, ``records`` and ``export`` read ``GET
    /audit`` a page at a time. ``verify`` is run where the database is: it reads every record,
    and needs ``audit.key`` when the chain has one."""

    PAGE = 1000  # the route's most records per reply

    def __init__(self, client: RegistryClient) -> None:
        self._client = client

    def list(
        self,
        *,
        capability: str | None = None,
        party: Any = None,
        job_id: str | None = None,
        result: str | None = None,
        since: Any = None,
        until: Any = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """As ``Audit.list``; ``since``/``until`` given as durations count back from this
        machine's clock."""
        from .audit import MAX_LIMIT, audit_query

        query = audit_query(capability, party, job_id, result, since, until, time.time())
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidRegistration([("limit", f"must be from 1 to {MAX_LIMIT}")])
        params = {
            name: str(value)
            for name, value in (
                ("capability", query.capability),
                ("party", query.party),
                ("job_id", query.job_id),
                ("result", query.result),
                ("since", _iso(query.since_ms)),
                ("until", _iso(query.until_ms)),
            )
            if value is not None
        }
        found: list[AuditRecord] = []
        while len(found) < limit:
            page = {**params, "limit": str(min(self.PAGE, limit - len(found)))}
            if before is not None:
                page["before"] = str(before)
            reply = self._client._call("GET", "/audit", params=page, envelope=False)
            found += [_record(row) for row in reply["records"]]
            before = reply.get("next_before")
            if before is None:
                break
        return found

    def records(self, **filters: Any) -> Iterator[AuditRecord]:
        """Every record that matches, newest first."""
        before = filters.pop("before", None)
        while True:
            page = self.list(**filters, before=before, limit=self.PAGE)
            yield from page
            if len(page) < self.PAGE:
                return
            before = page[-1].seq

    def export(self, out: TextIO, fmt: Literal["jsonl", "csv"] = "jsonl", **filters: Any) -> int:
        """The matching records to ``out`` as JSON lines or CSV; how many."""
        from .audit import write_records

        return write_records(out, fmt, self.records(**filters))


def _record(row: dict[str, Any]) -> AuditRecord:
    from .audit.records import AuditRecord

    return AuditRecord.from_dict(row)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _grant_bodies(entries: list[Grant]) -> list[dict[str, Any]]:
    """FATE's bodies of one grant, in one role (not FATE's): one body, or two when ``*`` is
    granted beside named datasets (FATE's ``dataset`` is ``*`` or objects, not both)."""
    from .grants import ANY

    first = entries[0]
    base: dict[str, Any] = {"party_id": first.party_id, "role": first.role}
    components = [e.value for e in entries if e.kind == "component"]
    datasets = [e.value for e in entries if e.kind == "dataset"]
    named = [_dataset(value) for value in datasets if value != ANY]
    bodies = []
    if components or named:
        body = dict(base)
        if components:
            body["component"] = components
        if named:
            body["dataset"] = named
        bodies.append(body)
    if ANY in datasets:
        bodies.append({**base, "dataset": ANY})
    return bodies


def _dataset(value: str) -> Any:
    """A stored dataset value in FATE's form: ``{namespace, name}``, or ``*``."""
    from .grants import dataset_object

    return dataset_object(value)


def _legacy_server(host: str, port: int, protocol: str) -> dict[str, Any]:
    return {"host": host, "port": port, "protocol": protocol, "api": {}}


def _no_tls_paths(reg: ServerRegistration) -> None:
    for field in ("ca_bundle", "client_cert"):
        if getattr(reg, field) is not None:
            raise InvalidRegistration(
                [(field, "cannot be set over the HTTP API: register it where the database is")]
            )


def _server_of(row: Any) -> Server:
    return Server.model_validate({key: row[key] for key in Server.model_fields if key in row})


def _service_of(row: Any) -> Service:
    return Service.model_validate({key: row[key] for key in Service.model_fields if key in row})


def _server(name: str) -> str:
    try:
        return server_name(name)
    except ValueError as exc:
        raise InvalidRegistration([("server_name", str(exc))]) from None


def _names(server: str, service: str) -> tuple[str, str]:
    checked = _server(server)
    try:
        return checked, service_name(service)
    except ValueError as exc:
        raise InvalidRegistration([("service_name", str(exc))]) from None


def _reason(exc: requests.RequestException) -> str:
    """The innermost cause, without the URL (which may carry credentials)."""
    cause: BaseException = exc
    while cause.__context__ is not None and cause.__context__ is not cause:
        cause = cause.__context__
    text = str(cause).split("] ", 1)[-1] if "] " in str(cause) else str(cause)
    if "://" in text or "@" in text:  # a URL slipped into the text: say only what failed
        text = type(cause).__name__
    return text or type(cause).__name__


def _error(url: str, path: str, status: int, body: dict[str, Any]) -> RegistryError:
    message = str(body.get("message", body.get("retmsg", body.get("msg", ""))))
    if status == 404 and (match := _SERVICE_MISSING.fullmatch(message)):
        return ServiceNotFound(match[2], match[1])
    if status == 404 and (match := _SERVER_MISSING.fullmatch(message)):
        return ServerNotFound(match[1])
    if status == 404 and (match := _KEY_MISSING.fullmatch(message)):
        return KeyNotFound(match[1], match[2])
    if status == 409:
        return Conflict(message)
    if status == 400:
        problems = []
        for part in message.split("; "):
            field = _FIELD.fullmatch(part)
            problems.append((field[1], field[2]) if field else ("body", part))
        return InvalidRegistration(problems)
    if status == 401:
        return AuthenticationFailed(f"{url}: {message} (--token or FATE_REGISTRY_TOKEN)", status)
    if status == 403:
        return Forbidden(message, status)
    return RemoteError(f"{url}{path}: HTTP {status}: {message}", status)


__all__ = [
    "AuthenticationFailed",
    "Forbidden",
    "RegistryClient",
    "RemoteAudit",
    "RemoteError",
    "RemoteGrants",
    "RemoteKeys",
    "Unreachable",
    "shown_url",
]
