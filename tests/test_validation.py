"""Every registration field, each way it can be wrong: a message naming it, and nothing written."""

from __future__ import annotations

import re
from typing import Any

import pytest

from fate_registry import InvalidRegistration, Registry
from fate_registry.models import CONNECTION_HEADERS, HEADER_NAME_PATTERN, MAX_JSON_DEPTH

pytestmark = pytest.mark.db

GOOD_SERVER: dict[str, Any] = {"name": "third", "host": "10.0.0.5", "port": 8080}
GOOD_SERVICE: dict[str, Any] = {"server_name": "third", "service_name": "upload", "uri": "/v1/up"}

BAD_SERVERS = [
    # (changed fields, field named, words in the reason)
    ({"name": ""}, "name", "1 to 64 characters"),
    ({"name": "a" * 65}, "name", "1 to 64 characters"),
    ({"name": "bad name"}, "name", "letters, digits"),
    ({"name": "bad/name"}, "name", "letters, digits"),
    ({"name": 42}, "name", "must be a string"),
    ({"host": ""}, "host", "hostname, IPv4 or IPv6"),
    ({"host": "http://10.0.0.5"}, "host", "without scheme, path or port"),
    ({"host": "10.0.0.5:8080"}, "host", "without scheme, path or port"),
    ({"host": "example.com/path"}, "host", "without scheme, path or port"),
    ({"host": "exa mple.com"}, "host", "hostname, IPv4 or IPv6"),
    ({"host": " 10.0.0.5"}, "host", "without spaces"),
    ({"host": "999.1.1.1"}, "host", "not a valid IPv4 address"),
    ({"host": "fe80::zz"}, "host", "hostname, IPv4 or IPv6"),
    ({"host": "-bad-.example"}, "host", "hostname, IPv4 or IPv6"),
    ({"host": None}, "host", "must be a string"),
    ({"host": "fe80::1%eth0"}, "host", "zone id"),
    ({"host": "0x7f.0.0.1"}, "host", "not a valid IPv4 address"),
    ({"host": "example.123"}, "host", "not a valid IPv4 address"),
    ({"port": 0}, "port", "from 1 to 65535, got 0"),
    ({"port": 65536}, "port", "from 1 to 65535, got 65536"),
    ({"port": -1}, "port", "from 1 to 65535, got -1"),
    ({"port": "80a"}, "port", "integer from 1 to 65535"),
    ({"port": 80.5}, "port", "integer from 1 to 65535"),
    ({"port": True}, "port", "integer from 1 to 65535"),
    ({"protocol": "ftp"}, "protocol", "'http' or 'https'"),
    ({"ca_bundle": "  "}, "ca_bundle", "non-empty file path"),
    ({"client_cert": "/" + "c" * 1024}, "client_cert", "at most 1024 characters"),
]

BAD_SERVICES = [
    ({"server_name": "bad name"}, "server_name", "letters, digits"),
    ({"service_name": ""}, "service_name", "1 to 64 characters"),
    ({"service_name": "up load"}, "service_name", "letters, digits"),
    ({"uri": "v1/up"}, "uri", "starting with '/'"),
    ({"uri": "http://host/v1/up"}, "uri", "starting with '/'"),
    ({"uri": "//host/v1/up"}, "uri", "without scheme or host"),
    ({"uri": "/" + "a" * 2048}, "uri", "at most 2048 characters"),
    ({"uri": "/v1/a b"}, "uri", "must not contain spaces"),
    ({"uri": 5}, "uri", "must be a string"),
    ({"uri": "/v1/\x00"}, "uri", "printable ASCII"),
    ({"uri": "/v1/é"}, "uri", "printable ASCII"),
    ({"method": "FETCH"}, "method", "one of GET, POST, PUT, PATCH, DELETE"),
    ({"method": 1}, "method", "one of GET, POST"),
    ({"protocol": "gopher"}, "protocol", "'http' or 'https'"),
    ({"params": [1, 2]}, "params", "must be a JSON object"),
    ({"data": "text"}, "data", "must be a JSON object"),
    ({"headers": ["x"]}, "headers", "must be a JSON object"),
    ({"headers": {"X-Token": 5}}, "headers", "header 'X-Token' must have a string value"),
    ({"headers": {"X\r\nY": "a"}}, "headers", "not a valid HTTP header name"),
    ({"headers": {"X-A": "a\r\nInjected: 1"}}, "headers", "must not contain line breaks"),
    # Header values that requests or HTTP itself cannot carry: every later call would fail.
    ({"headers": {"X-Price": "5 €"}}, "headers", "header 'X-Price' holds U+20AC"),
    ({"headers": {"X-A": "a\u2028b"}}, "headers", "header 'X-A' holds U+2028"),
    ({"headers": {"X-A": "caf\xe9"}}, "headers", "header 'X-A' holds U+00E9"),
    ({"headers": {"X-A": "a\x01"}}, "headers", "header 'X-A' holds U+0001"),
    ({"headers": {"X-A": "a\x7f"}}, "headers", "header 'X-A' holds U+007F"),
    ({"headers": {"X-A": " k"}}, "headers", "header 'X-A' must not start or end with a space"),
    ({"headers": {"X-A": "k\t"}}, "headers", "header 'X-A' must not start or end with a space"),
    # Framing and hop-by-hop headers: HTTP sets them per message and connection; a stored one
    # sent beside the client's own desynchronises a pooled connection to the service.
    *(
        ({"headers": {name: "1"}}, "headers", f"header {name!r} cannot be stored")
        for name in (
            "Content-Length",
            "transfer-encoding",
            "Host",
            "CONNECTION",
            "Keep-Alive",
            "Proxy-Connection",
            "TE",
            "Trailer",
            "Upgrade",
            "Proxy-Authenticate",
            "Proxy-Authorization",
        )
    ),
    ({"data": {"x": float("nan")}}, "data", "nan is not a JSON number"),
    ({"params": {"x": [float("inf")]}}, "params", "inf is not a JSON number"),
    ({"data": {"x": "\ud800"}}, "data", "unpaired surrogate"),
    ({"data": {1: "a"}}, "data", "key 1 is not a string"),
    ({"data": {"x": {1, 2}}}, "data", "a set is not a JSON value"),
]


def _snapshot(registry: Registry) -> tuple[Any, ...]:
    return registry.revision, registry.servers(), registry.services()


@pytest.mark.parametrize(("change", "field", "reason"), BAD_SERVERS)
def test_bad_server_is_refused_naming_field(
    registry: Registry, change: dict[str, Any], field: str, reason: str
) -> None:
    before = _snapshot(registry)
    with pytest.raises(InvalidRegistration) as caught:
        registry.register_server(**{**GOOD_SERVER, **change})
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{field}: ")
    assert _snapshot(registry) == before


@pytest.mark.parametrize(("change", "field", "reason"), BAD_SERVICES)
def test_bad_service_is_refused_naming_field(
    registry: Registry, change: dict[str, Any], field: str, reason: str
) -> None:
    registry.register_server(**GOOD_SERVER)
    before = _snapshot(registry)
    with pytest.raises(InvalidRegistration) as caught:
        registry.register_service(**{**GOOD_SERVICE, **change})
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert _snapshot(registry) == before


def _nested(levels: int, container: str) -> dict[str, Any]:
    """A params/data value whose objects or arrays nest ``levels`` deep, the outer object
    included: ``_nested(2, "array")`` is ``{"a": [1]}``."""
    inner: Any = 1
    for _ in range(levels - 1):
        inner = {"a": inner} if container == "object" else [inner]
    return {"a": inner}


@pytest.mark.parametrize("container", ["object", "array"])
@pytest.mark.parametrize("field", ["params", "data"])
def test_json_nested_to_the_limit_is_stored_on_every_backend(
    registry: Registry, field: str, container: str
) -> None:
    registry.register_server(**GOOD_SERVER)
    deep = _nested(MAX_JSON_DEPTH, container)
    registry.register_service(**GOOD_SERVICE, **{field: deep})
    assert getattr(registry.service("third", "upload"), field) == deep


@pytest.mark.parametrize("container", ["object", "array"])
def test_json_nested_one_past_the_limit_is_refused_before_anything_is_written(
    registry: Registry, container: str
) -> None:
    registry.register_server(**GOOD_SERVER)
    before = _snapshot(registry)
    message = f"data: nested deeper than {MAX_JSON_DEPTH} levels"
    with pytest.raises(InvalidRegistration, match=message):
        registry.register_service(**GOOD_SERVICE, data=_nested(MAX_JSON_DEPTH + 1, container))
    assert _snapshot(registry) == before


def test_a_bad_server_name_in_a_lookup_names_server_name(registry: Registry) -> None:
    for lookup in (registry.resolve, registry.service, registry.delete_service):
        with pytest.raises(InvalidRegistration) as caught:
            lookup("bad name", "upload")
        assert caught.value.field == "server_name"
    with pytest.raises(InvalidRegistration) as caught:
        registry.resolve("third", "bad name")
    assert caught.value.field == "service_name"


def test_every_bad_field_is_reported_at_once(registry: Registry) -> None:
    with pytest.raises(InvalidRegistration) as caught:
        registry.register_server("bad name", host="h/p", port=0)
    assert [field for field, _ in caught.value.problems] == ["name", "host", "port"]


@pytest.mark.parametrize(
    ("host", "stored"),
    [
        ("10.0.0.5", "10.0.0.5"),
        ("Third.Example.COM", "third.example.com"),
        ("localhost", "localhost"),
        ("::1", "::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:0db8:0000::0001", "2001:db8::1"),
    ],
)
def test_good_hosts_are_stored_canonical(registry: Registry, host: str, stored: str) -> None:
    assert registry.register_server("third", host=host, port="8080").host == stored


def test_method_and_protocol_accept_any_case(registry: Registry) -> None:
    registry.register_server("third", host="h", port=1, protocol="HTTPS")
    service = registry.register_service("third", "upload", uri="/u", method="get", protocol="Http")
    assert (service.method, service.protocol) == ("GET", "http")
    assert service.url == "http://h:1/u"


def test_the_openapi_header_pattern_refuses_the_names_registration_refuses() -> None:
    pattern = re.compile(HEADER_NAME_PATTERN)
    for name in CONNECTION_HEADERS:
        for spelling in (name, name.upper(), name.title()):
            assert not pattern.match(spelling), spelling
    for name in ("X-Api-Key", "Content-Type", "Hosts", "TEs", "X-Upgrade"):
        assert pattern.match(name), name
