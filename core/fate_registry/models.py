"""Pydantic wire models of the registry: what callers send to register, and what they get back.

The same models validate input from the Python API, the CLI, import files and the HTTP API, so a
rule lives in one place and every rejection names its field.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from .errors import InvalidRegistration

NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
# A header value that can be sent as stored: visible ASCII, with spaces and tabs inside only
# (RFC 9110 field-content; HTTP drops them at either end). The OpenAPI schema shows this.
HEADER_VALUE_PATTERN = r"^(?:[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?)?$"
_HEADER_VALUE = re.compile(HEADER_VALUE_PATTERN)
# Headers HTTP sets for each message (framing: Content-Length, Transfer-Encoding, Host) or
# each connection (hop-by-hop, RFC 9110 7.6.1, and the older names still in use): a stored
# one, sent beside the client's own, desynchronises a pooled connection to the service.
CONNECTION_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "host",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# A header name that can be stored, for the OpenAPI schema (a JSON schema has no
# case-insensitive match: each letter is spelled in both cases).
HEADER_NAME_PATTERN = "^(?!(?:{})$)[!#$%&'*+.^_`|~0-9A-Za-z-]+$".format(
    "|".join(
        "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in name)
        for name in sorted(CONNECTION_HEADERS)
    )
)
# Levels of nested objects and arrays in a stored params, data or headers value ({"a": 1} is
# one): MariaDB's JSON check refuses 32 (MySQL allows 100, PostgreSQL and SQLite far more).
MAX_JSON_DEPTH = 31
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MAX_URI = 2048
MAX_PATH = 1024


def base_url(protocol: str, host: str, port: int) -> str:
    """``protocol://host:port``, with an IPv6 host in brackets."""
    return f"{protocol}://{f'[{host}]' if ':' in host else host}:{port}"


def _check_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError("must be 1 to 64 characters of letters, digits, '_', '.' or '-'")
    return value


def server_name(value: Any) -> str:
    """Server names are case-insensitive and stored upper-case, as FATE Flow stores them."""
    return _check_name(value).upper()


def service_name(value: Any) -> str:
    """Service names are case-insensitive and stored lower-case (FATE Flow's are all lower-case)."""
    return _check_name(value).lower()


def _host(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    text = value.strip()
    if not text or text != value:
        raise ValueError("must be a hostname, IPv4 or IPv6 address without spaces")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:
            raise ValueError(
                "must be a hostname, IPv4 or IPv6 address, without scheme, path or port"
            ) from None
        if address.scope_id:
            raise ValueError("an IPv6 zone id (%...) cannot be used in a URL")
        return str(address)
    labels = text.rstrip(".").split(".")
    # Resolvers and URL parsers read a name ending in a number (or 0x...) as an IPv4 address.
    if all(label.isdigit() for label in labels) or _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise ValueError(f"{value!r} is not a valid IPv4 address") from None
    if len(text) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ValueError("must be a hostname, IPv4 or IPv6 address, without scheme, path or port")
    return text.lower()


def _port(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be an integer from 1 to 65535")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int):
        raise ValueError("must be an integer from 1 to 65535")
    if not 1 <= value <= 65535:
        raise ValueError(f"must be from 1 to 65535, got {value}")
    return value


def _protocol(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in ("http", "https"):
        raise ValueError("must be 'http' or 'https'")
    return value.lower()


def _method(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in METHODS:
        raise ValueError(f"must be one of {', '.join(METHODS)}")
    return value.upper()


def _uri(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > MAX_URI:
        raise ValueError(f"must be at most {MAX_URI} characters")
    if not value.startswith("/") or value.startswith("//"):
        raise ValueError("must be a path starting with '/', without scheme or host")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain spaces")
    if not (value.isascii() and value.isprintable()):  # a NUL breaks PostgreSQL's text columns
        raise ValueError("must be printable ASCII (percent-encode other characters)")
    return value


def json_problem(value: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why ``value`` is not JSON that every backend stores and replies with, or None.

    Python takes NaN, infinities, non-string keys and unpaired surrogates that JSON (RFC 8259)
    does not; PostgreSQL and MySQL refuse them, and SQLite would store them and export invalid
    JSON. Objects and arrays may nest ``max_depth`` levels.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]  # an item, and its level if it is a container
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple) and depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        if isinstance(item, str):
            if not _encodable(item):
                return "a string holds an unpaired surrogate (\\ud800 to \\udfff)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{item} is not a JSON number"
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    return f"key {key!r} is not a string"
                if not _encodable(key):
                    return "a key holds an unpaired surrogate (\\ud800 to \\udfff)"
                stack.append((child, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)
        elif item is not None and not isinstance(item, bool | int):
            return f"a {type(item).__name__} is not a JSON value"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_object(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    problem = json_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _headers(value: Any) -> dict[str, str]:
    headers = _json_object(value)
    for key, item in headers.items():
        if not _HEADER_NAME.fullmatch(key):
            raise ValueError(f"header name {key!r} is not a valid HTTP header name")
        if key.lower() in CONNECTION_HEADERS:
            raise ValueError(
                f"header {key!r} cannot be stored: HTTP sets it for each message or connection "
                "(framing, hop-by-hop)"
            )
        if not isinstance(item, str):
            raise ValueError(f"header {key!r} must have a string value")
        problem = _header_value_problem(item)
        if problem:
            raise ValueError(f"header {key!r} {problem}")
    return headers


def _header_value_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent as a header value, or None. The character is named by its
    code point, never the value: it may be a key."""
    if _HEADER_VALUE.fullmatch(value):
        return None
    if any(c in value for c in "\r\n\x00"):
        return "must not contain line breaks or NUL"
    for c in value:
        if c != "\t" and not " " <= c <= "~":
            return (
                f"holds U+{ord(c):04X}, which cannot be sent: a header value is printable "
                "ASCII (percent-encode or base64 other text)"
            )
    return "must not start or end with a space or tab (HTTP drops them)"


ServerName = Annotated[str, BeforeValidator(server_name)]
ServiceName = Annotated[str, BeforeValidator(service_name)]
Host = Annotated[str, BeforeValidator(_host)]
Port = Annotated[int, BeforeValidator(_port)]
Protocol = Annotated[Literal["http", "https"], BeforeValidator(_protocol)]
Method = Annotated[Literal["GET", "POST", "PUT", "PATCH", "DELETE"], BeforeValidator(_method)]
Uri = Annotated[str, BeforeValidator(_uri)]
JsonObject = Annotated[dict[str, Any], BeforeValidator(_json_object)]
Headers = Annotated[dict[str, str], BeforeValidator(_headers)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CHECK_METHODS = ("GET", "HEAD", "POST")
MAX_CHECK_TIMEOUT = 30.0


def _check_method(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in CHECK_METHODS:
        raise ValueError(f"must be one of {', '.join(CHECK_METHODS)}")
    return value.upper()


def _check_status(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise ValueError("must be an HTTP status from 100 to 599")
    return value


class HttpCheck(_Input):
    """A service's HTTP health check: ``method path`` on the service's server answers
    ``status`` within ``timeout`` seconds (429: warning; anything else: critical)."""

    method: Annotated[Literal["GET", "HEAD", "POST"], BeforeValidator(_check_method)] = "GET"
    path: Uri
    status: Annotated[int, BeforeValidator(_check_status)] = 200
    timeout: float = Field(default=2.0, ge=0.1, le=MAX_CHECK_TIMEOUT)


class ServerRegistration(_Input):
    """A server: where a provider's services live."""

    name: ServerName
    host: Host
    port: Port
    protocol: Protocol = "http"
    ca_bundle: str | None = Field(default=None, description="CA bundle path to verify https")
    client_cert: str | None = Field(default=None, description="client certificate path (mTLS)")

    @field_validator("ca_bundle", "client_cert")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or "\x00" in value):
            raise ValueError("must be a non-empty file path")
        if value is not None and len(value) > MAX_PATH:
            raise ValueError(f"must be at most {MAX_PATH} characters")
        return value


class ServiceRegistration(_Input):
    """A service on a registered server. ``protocol`` None inherits the server's."""

    server_name: ServerName
    service_name: ServiceName
    uri: Uri
    method: Method = "POST"
    protocol: Protocol | None = None
    params: JsonObject = Field(default_factory=dict)
    data: JsonObject = Field(default_factory=dict)
    headers: Headers = Field(default_factory=dict)
    check: HttpCheck | None = Field(default=None, description="HTTP health check (optional)")


class Server(BaseModel):
    """A stored server, as the API shows it (TLS file paths are never shown, only whether set)."""

    name: str
    host: str
    port: int
    protocol: str
    tls_ca_bundle_set: bool = False
    tls_client_cert_set: bool = False
    created_at: datetime
    updated_at: datetime

    @property
    def base_url(self) -> str:
        return base_url(self.protocol, self.host, self.port)


class Service(BaseModel):
    """A stored service, with its URL resolved from its server's current address."""

    server_name: str
    service_name: str
    uri: str
    method: str
    protocol: str | None
    params: dict[str, Any]
    data: dict[str, Any]
    headers: dict[str, str]
    url: str
    check: HttpCheck | None = None
    created_at: datetime
    updated_at: datetime


class ResolvedService(BaseModel):
    """What a caller needs to call a service: its URL now, and what to send with it."""

    model_config = ConfigDict(frozen=True)

    server_name: str
    service_name: str
    url: str
    method: str
    params: dict[str, Any]
    data: dict[str, Any]
    headers: dict[str, str]
    ca_bundle: str | None = None
    client_cert: str | None = None


def validate(model: type[_Input], entry: str | None = None, /, **fields: Any) -> Any:
    """Build ``model`` from ``fields`` or raise InvalidRegistration naming each bad field."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise invalid_registration(exc, entry) from None


def invalid_registration(exc: ValidationError, entry: str | None = None) -> InvalidRegistration:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "body"
        if error["type"] == "missing":
            reason = "is required"
        elif error["type"] == "extra_forbidden":
            reason = "is not a known field"
        else:
            reason = error["msg"].removeprefix("Value error, ")
        problems.append((field, reason))
    return InvalidRegistration(problems, entry)
