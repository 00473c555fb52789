"""FATE Flow 1.11's key and permission management routes, so fate_client's ``flow key ...`` and
``flow privilege ...`` work against the registry unchanged. Changing keys and grants needs an
administrator (an admin token, or an APP_KEY in ``hmac.admin_app_keys``: see security.py);
querying them, an authenticated client, as writes do.

Bodies are FATE's: unknown fields are ignored (fate_client adds ``local`` and ``conf_path``);
``component`` is a comma string, a list or ``*``; ``dataset`` one ``{namespace, name}``, a list of
them or ``*``. Unlike FATE Flow, ``/v1/key/query`` never returns a private key, a missing key is
a 404, and a grant may carry a ``role`` condition and limits (``expires_at`` or ``valid_for``,
``not_before``, ``max_uses``), which ``/v1/permission/query`` lists with each entry.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from ..canonical import ANY, MAX_DATASET_PART, MAX_PARTY_DIGITS, ROLES
from ..capabilities import _party_id
from ..grants import MAX_USES, dataset_object, fate_components, fate_datasets
from ..keys import KeyNotFound
from .deps import error_responses, registry_of
from .envelopes import V1Error, V1Reply, reply
from .errors import APIError
from .security import access

router = APIRouter(
    prefix="/v1",
    tags=["v1: FATE Flow 1.11 keys and permissions"],
    responses=error_responses(V1Error),
)


# The schemas say what fate_registry.canonical accepts, so generated valid requests are valid
# (only a key's PEM content cannot be said in a schema). Whitespace around a value is ignored.
_NAME = r"[A-Za-z0-9_.-]{1,64}"
_DIGITS = rf"[0-9]{{1,{MAX_PARTY_DIGITS}}}"  # ASCII digits: a party id is a decimal integer
_INTEGER = {"type": "integer", "minimum": 0, "exclusiveMaximum": 10**MAX_PARTY_DIGITS}
PARTY_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": rf"^\s*{_DIGITS}\s*$"}, _INTEGER],
    "description": "a party id: a decimal integer (leading zeros are dropped)",
}
GRANT_PARTY_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": rf"^\s*(\*|{_DIGITS})\s*$"}, _INTEGER],
    "description": "a party id (a decimal integer), or '*' for every party",
}
COMPONENT_SCHEMA = {
    "anyOf": [
        {"type": "null"},
        {"type": "string", "pattern": rf"^\s*(\*|{_NAME}(\s*,\s*{_NAME})*)\s*$"},
        {
            "type": "array",
            "items": {"type": "string", "pattern": rf"^\s*(\*|{_NAME})\s*$"},
            "minItems": 1,
        },
    ],
    "description": "component modules: 'reader,dataio', a list, or '*'",
}
_DATASET = {
    "type": "object",
    "properties": {
        "namespace": {
            "type": "string",
            "pattern": r"^[^:]*[^\s:][^:]*$",
            "maxLength": MAX_DATASET_PART,
        },
        "name": {"type": "string", "pattern": r"\S", "maxLength": MAX_DATASET_PART},
    },
    "required": ["namespace", "name"],
}
DATASET_SCHEMA = {
    "anyOf": [
        {"type": "null"},
        _DATASET,
        {"type": "array", "items": _DATASET, "minItems": 1},
        {"type": "string", "pattern": r"^\s*\*\s*$"},
    ],
    "description": "{namespace, name}, a list of them, or '*'",
}
_ROLES = "|".join("".join(f"[{c.upper()}{c}]" for c in role) for role in ROLES)
ROLE_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": rf"^\s*(\*|{_ROLES})\s*$"}, {"type": "null"}],
    "description": "only in this role: guest, host, arbiter or local (not FATE's)",
}

FateParty = Annotated[str, BeforeValidator(_party_id), WithJsonSchema(PARTY_SCHEMA)]
GrantParty = Annotated[str, BeforeValidator(_party_id), WithJsonSchema(GRANT_PARTY_SCHEMA)]


class _FateBody(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PublicKeyBody(_FateBody):
    party_id: FateParty = Field(description="the other site's party id")
    key: Annotated[
        str, WithJsonSchema({"type": "string", "pattern": "-----BEGIN (RSA )?PUBLIC KEY-----"})
    ] = Field(description="its RSA public key, PEM")


class KeyQueryBody(_FateBody):
    party_id: FateParty
    key_name: Annotated[str, WithJsonSchema({"type": "string", "enum": ["public"]})] = Field(
        default="public", description="only 'public': private keys never leave"
    )


class PartyBody(_FateBody):
    party_id: FateParty = Field(description="the other site's party id")


class GrantsQueryBody(_FateBody):
    party_id: GrantParty = Field(description="the source party ('*': entries for every party)")


class PermissionBody(_FateBody):
    """At least one of ``component`` and ``dataset``."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                for name in ("component", "dataset")
            ]
        },
    )

    party_id: GrantParty = Field(description="the source party ('*': every party)")
    component: Annotated[str | list[str] | None, WithJsonSchema(COMPONENT_SCHEMA)] = None
    dataset: Annotated[
        dict[str, Any] | list[dict[str, Any]] | str | None, WithJsonSchema(DATASET_SCHEMA)
    ] = None
    role: Annotated[str | None, WithJsonSchema(ROLE_SCHEMA)] = None

    @field_validator("component", "dataset")
    @classmethod
    def _something(cls, value: Any) -> Any:
        if value is not None and not value:
            raise ValueError("must name at least one (or '*'), or be left out")
        return value


class GrantBody(PermissionBody):
    """A grant, with the registry's limits beside FATE's fields (all optional)."""

    expires_at: Annotated[str | None, WithJsonSchema({"type": "string", "format": "date-time"})] = (
        Field(default=None, description="ISO 8601; UTC without an offset (not FATE's)")
    )
    not_before: Annotated[str | None, WithJsonSchema({"type": "string", "format": "date-time"})] = (
        Field(default=None, description="ISO 8601; in force from then (not FATE's)")
    )
    valid_for: Annotated[
        str | None,
        WithJsonSchema({"type": "string", "pattern": r"^\s*([0-9]+(\.[0-9]+)?[smhdwSMHDW])+\s*$"}),
    ] = Field(
        default=None,
        description="a duration (30d, 12h) from not_before or now, in place of expires_at "
        "(not FATE's)",
    )
    max_uses: int | None = Field(
        default=None,
        ge=1,
        le=MAX_USES,
        description="jobs it admits at most, each counted once by its job id (not FATE's)",
    )


class Revoked(BaseModel):
    deleted: int = Field(description="how many entries were deleted (not in FATE's reply)")


class GrantsView(BaseModel):
    component: list[str] = Field(description="components allowed in every role, as FATE lists")
    dataset: list[dict[str, str] | str] = Field(description="datasets allowed in every role")
    entries: list[dict[str, Any]] = Field(description="every entry: denies and roles included")


@router.post(
    "/key/public/save",
    response_model=V1Reply[str],
    **access("admin"),
    summary="Save another site's public key",
)
def save_public_key(request: Request, body: PublicKeyBody) -> JSONResponse:
    created = registry_of(request).keys.import_public(body.party_id, body.key)
    return reply(request.url.path, "save success" if created else "update success")


@router.post(
    "/key/query", response_model=V1Reply[str], **access("write"), summary="A site's public key"
)
def query_key(request: Request, body: KeyQueryBody) -> JSONResponse:
    if body.key_name != "public":
        raise APIError(400, "key_name: only 'public' keys can be queried; private keys never leave")
    try:
        pem = registry_of(request).keys.public_pem(body.party_id)
    except KeyNotFound as exc:
        raise APIError(404, str(exc)) from None
    return reply(request.url.path, pem)


@router.post(
    "/key/public/delete",
    response_model=V1Reply[None],
    **access("admin"),
    summary="Delete a site's public key",
)
def delete_public_key(request: Request, body: PartyBody) -> JSONResponse:
    if not registry_of(request).keys.delete(body.party_id, "public"):
        raise APIError(404, str(KeyNotFound(body.party_id)))  # the message clients parse
    return reply(request.url.path)


@router.post(
    "/permission/grant",
    response_model=V1Reply[None],
    **access("admin"),
    summary="Grant components and datasets to a party",
)
def grant(request: Request, body: GrantBody) -> JSONResponse:
    registry_of(request).grants.grant(
        body.party_id,
        components=fate_components(body.component),
        datasets=fate_datasets(body.dataset),
        role=body.role,
        expires_at=body.expires_at,
        not_before=body.not_before,
        valid_for=body.valid_for,
        max_uses=body.max_uses,
    )
    return reply(request.url.path)


@router.post(
    "/permission/delete",
    response_model=V1Reply[Revoked],
    **access("admin"),
    summary="Revoke components and datasets of a party ('*': all of that kind)",
)
def revoke(request: Request, body: PermissionBody) -> JSONResponse:
    deleted = registry_of(request).grants.revoke(
        body.party_id,
        components=fate_components(body.component),
        datasets=fate_datasets(body.dataset),
        role=body.role,
    )
    return reply(request.url.path, Revoked(deleted=deleted))


@router.post(
    "/permission/query",
    response_model=V1Reply[GrantsView],
    **access("write"),
    summary="What a party is granted",
)
def query_grants(request: Request, body: GrantsQueryBody) -> JSONResponse:
    entries = registry_of(request).grants.entries(body.party_id)
    plain = [e for e in entries if e.effect == "allow" and e.role == ANY]
    view = GrantsView(
        component=[e.value for e in plain if e.kind == "component"],
        dataset=[dataset_object(e.value) for e in plain if e.kind == "dataset"],
        entries=[e.as_dict() for e in entries],
    )
    return reply(request.url.path, view)
