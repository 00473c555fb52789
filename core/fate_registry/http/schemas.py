"""Request bodies and reply data of the HTTP API.

Fields reuse the validators of ``fate_registry.models`` so that a rule lives in one place; the
JSON schema each one shows in /openapi.json is declared beside it so the document stays true.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    WithJsonSchema,
)
from pydantic.config import JsonDict

from .. import models
from ..masking import mask_service
from ..models import Server, Service

_NAME_SCHEMA = {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"}

ServerName = Annotated[
    models.ServerName,
    WithJsonSchema(
        {**_NAME_SCHEMA, "description": "case-insensitive, stored upper-case", "examples": ["HOOK"]}
    ),
]
ServiceName = Annotated[
    models.ServiceName,
    WithJsonSchema(
        {
            **_NAME_SCHEMA,
            "description": "case-insensitive, stored lower-case",
            "examples": ["upload"],
        }
    ),
]
# FATE Flow clients send null for an empty object.
JsonObject = Annotated[
    models.JsonObject, WithJsonSchema({"anyOf": [{"type": "object"}, {"type": "null"}]})
]
Headers = Annotated[
    models.Headers,
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "object",
                    "propertyNames": {"pattern": models.HEADER_NAME_PATTERN},
                    "additionalProperties": {
                        "type": "string",
                        "pattern": models.HEADER_VALUE_PATTERN,
                    },
                },
                {"type": "null"},
            ]
        }
    ),
]
# A name whose last label is not a number (nor 0x...): such a name is read as an IPv4 address.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = rf"^({_LABEL}\.)*(?![0-9]+\.?$)(?!0[xX][0-9A-Fa-f]*\.?$){_LABEL}\.?$"
Host = Annotated[
    models.Host,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "ipv4"},
                {"type": "string", "format": "ipv6"},
                {"type": "string", "pattern": _HOSTNAME, "maxLength": 253},
            ],
            "description": "hostname, IPv4 or IPv6 address (no scheme, path or port)",
        }
    ),
]
_PORT_DIGITS = (
    r"^([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
)


def _integral(value: Any) -> Any:
    # JSON Schema counts 8080.0 as an integer, and so do we.
    return int(value) if isinstance(value, float) and value.is_integer() else value


Port = Annotated[
    models.Port,
    BeforeValidator(_integral),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 65535},
                {"type": "string", "pattern": _PORT_DIGITS},
            ],
            "description": "1 to 65535; a string of digits is accepted as FATE Flow clients send",
        }
    ),
]
Uri = Annotated[
    models.Uri,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^/([!-.0-~][!-~]*)?$",
            "maxLength": models.MAX_URI,
            "description": "path on the server: one '/', then printable ASCII without spaces",
        }
    ),
]


# Keys of the legacy body: names, validated by the registry models when the body is stored.
NameKey = Annotated[str, WithJsonSchema(_NAME_SCHEMA)]
_ONLY_NAMED_KEYS: JsonDict = {"additionalProperties": False}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerAddress(_Body):
    host: Host
    port: Port
    protocol: models.Protocol = "http"


class ServerBody(_Body):
    """v2 server registration."""

    server_name: ServerName
    host: Host
    port: Port
    protocol: models.Protocol = "http"


class CheckBody(_Body):
    """A service's HTTP health check (docs/server.md#health-checks)."""

    method: Literal["GET", "HEAD", "POST"] = Field(default="GET", description="request method")
    path: Uri = Field(description="path on the service's server, e.g. /health")
    status: int = Field(default=200, ge=100, le=599, description="the status that passes")
    timeout: float = Field(
        default=2.0, ge=0.1, le=models.MAX_CHECK_TIMEOUT, description="seconds for an answer"
    )


class ServiceFields(_Body):
    uri: Uri
    method: models.Method = "POST"
    protocol: models.Protocol | None = Field(
        default=None, description="default: the server's protocol"
    )
    params: JsonObject = Field(default_factory=dict, description="query parameters sent")
    data: JsonObject = Field(default_factory=dict, description="body fields sent")
    headers: Headers = Field(default_factory=dict, description="headers sent")
    check: CheckBody | None = Field(
        default=None, description="HTTP health check, run by serve (not FATE Flow's)"
    )


class ServiceKey(_Body):
    server_name: ServerName
    service_name: ServiceName


# The names, then the fields: pydantic takes the fields of the last base first.
class ServiceBody(ServiceFields, ServiceKey):
    pass


class LegacyServer(ServerAddress):
    """One server of the legacy v1 body, with its services under ``api``."""

    api: dict[NameKey, ServiceFields] = Field(
        default_factory=dict, description="by service name", json_schema_extra=_ONLY_NAMED_KEYS
    )


def _service_registry_form(value: Any) -> str:
    return "standard" if isinstance(value, dict) and "server_name" in value else "legacy"


# Tags of the union below; error locations drop them (see errors.py).
BODY_FORMS = ("standard", "legacy")

V1ServiceRegistryBody = Annotated[
    Annotated[ServiceBody, Tag("standard")]
    | Annotated[
        dict[NameKey, LegacyServer],
        Field(min_length=1, json_schema_extra=_ONLY_NAMED_KEYS),
        Tag("legacy"),
    ],
    Discriminator(_service_registry_form),
]


class ServiceQueryBody(_Body):
    service_name: ServiceName
    server_name: ServerName | None = None


class ServerDeleteOptions(_Body):
    cascade: StrictBool = Field(default=False, description="also delete the server's services")


class ServerDeleteBody(ServerDeleteOptions):
    server_name: ServerName


class LegacyRegistered(BaseModel):
    servers: int
    services: int


class Health(BaseModel):
    status: str
    revision: int | None = None
    reason: str | None = None


# -- secrets never leave ---------------------------------------------------------------------


def service_view(service: Service, *, everything: bool) -> Service:
    """A service as replies show it (see fate_registry.masking): values under secret-looking
    names masked, or every stored value when ``everything`` (a reader not trusted with any)."""
    return mask_service(service, everything=everything)


def servers_by_name(servers: list[Server]) -> dict[str, Server]:
    return {server.name: server for server in servers}


# -- FATE Flow's own row shapes, beside ours -------------------------------------------------
# Scripts written against FATE Flow read its database rows: 1.x replies peewee rows with their
# `f_` column names (`f_url`, ...), 2.x the same rows without the prefix (`server_name`, ...).


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _fate_date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")  # how FATE Flow's JSON encoder writes dates


class V1ServiceRow(Service):
    """A service in a v1 reply: ours, and FATE Flow 1.x's columns with the same values."""

    f_server_name: str
    f_service_name: str
    f_url: str
    f_method: str
    f_params: dict[str, Any]
    f_data: dict[str, Any]
    f_headers: dict[str, str]
    f_create_time: int = Field(description="milliseconds since the epoch")
    f_update_time: int = Field(description="milliseconds since the epoch")
    f_create_date: str = Field(description="YYYY-MM-DD HH:MM:SS, UTC")
    f_update_date: str = Field(description="YYYY-MM-DD HH:MM:SS, UTC")


def v1_service_row(service: Service, *, everything: bool) -> V1ServiceRow:
    shown = service_view(service, everything=everything)
    return V1ServiceRow(
        **shown.model_dump(),
        f_server_name=shown.server_name,
        f_service_name=shown.service_name,
        f_url=shown.url,
        f_method=shown.method,
        f_params=shown.params,
        f_data=shown.data,
        f_headers=shown.headers,
        f_create_time=_millis(shown.created_at),
        f_update_time=_millis(shown.updated_at),
        f_create_date=_fate_date(shown.created_at),
        f_update_date=_fate_date(shown.updated_at),
    )


class ServiceList(BaseModel):
    service_info: list[V1ServiceRow]


class V2ServerRow(Server):
    """A server in a v2 reply: ours, and FATE Flow 2.x's keys with the same values."""

    server_name: str
    create_time: int = Field(description="milliseconds since the epoch")
    update_time: int = Field(description="milliseconds since the epoch")


def v2_server_row(server: Server) -> V2ServerRow:
    return V2ServerRow(
        **server.model_dump(),
        server_name=server.name,
        create_time=_millis(server.created_at),
        update_time=_millis(server.updated_at),
    )


class V2ServiceRow(Service):
    """A service in a v2 reply: ours, and FATE Flow 2.x's timestamps."""

    create_time: int = Field(description="milliseconds since the epoch")
    update_time: int = Field(description="milliseconds since the epoch")


def v2_service_row(service: Service, *, everything: bool) -> V2ServiceRow:
    shown = service_view(service, everything=everything)
    return V2ServiceRow(
        **shown.model_dump(),
        create_time=_millis(shown.created_at),
        update_time=_millis(shown.updated_at),
    )


class Deleted(BaseModel):
    services: int = Field(description="how many of the server's services went with it")
