"""FATE Flow 2.x's hook requests, as contrib/fate-flow-hooks sends them to ``POST
/v2/hook/<capability>``, mapped onto the plugin contract; and the return codes 2.x reads.

FATE Flow 2.0 to 2.2 pass their hooks other parameters than 1.x (docs/fate-flow.md, "FATE Flow
2.0 to 2.2"). Each model reads a request as sent; ``contract()`` answers the request plugins
get: the one FATE Flow 1.x sends in the same situation, with ``fate_flow_major=2``, so that
plugins decide both lines with the same rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .canonical import party_of, role_of
from .capabilities import (
    ARGUMENT_ERROR,
    AUTHENTICATION_ERROR,
    MAX_JOB_ID,
    PERMISSION_ERROR,
    ClientAuthenticationRequest,
    Headers,
    PartyId,
    PermissionRequest,
    RequestHeaders,
    SignatureRequest,
    SiteAuthenticationRequest,
)
from .errors import InvalidRegistration

# FATE Flow 2.x's return codes (fate_flow.entity.code.ReturnCode) that the gateway answers in.
INVALID_PARAMETER = 5001
VERIFY_FAILED = 5003
NO_PERMISSION = 5005
SERVER_EXCEPTION = 6000
_FATE2_CODES = {
    ARGUMENT_ERROR: INVALID_PARAMETER,
    PERMISSION_ERROR: NO_PERMISSION,
    AUTHENTICATION_ERROR: VERIFY_FAILED,
    100: SERVER_EXCEPTION,  # 1.x's EXCEPTION_ERROR: no decision could be had
    105: SERVER_EXCEPTION,  # 1.x's CONNECTION_ERROR: a service could not be reached
}
# The headers the 2.x signature hook adds to a request, and site authentication reads back.
SOURCE_HEADER = "src-party-id"
SIGNATURE_HEADER = "site-signature"
INITIATOR_HEADER = "initiator-party-id"  # FATE Flow 2.x's own


def fate2_code(code: int) -> int:
    """The code FATE Flow 2.x reads for a decision's ``code``: 1.x's codes translated, any
    other as it is (a third party may answer in 2.x's own codes)."""
    return _FATE2_CODES.get(code, code)


class _Request2(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    def contract(self) -> BaseModel:
        """The request plugins get."""
        raise NotImplementedError


class _Incoming(_Request2):
    """2.x's ``AuthenticationParameters``: the Flask request FATE Flow is handling."""

    path: str = Field(description="path of the request")
    method: str = Field(description="HTTP method of the request")
    headers: RequestHeaders = Field(default_factory=Headers, description="its headers")
    form: dict[str, Any] | None = Field(default=None, description="its form fields")
    data: Any = Field(default=None, description="its raw body, as text")
    json_body: Any = Field(default=None, alias="json", description="its JSON body, parsed")
    full_path: str = Field(description="path with the query string")


class ClientAuthentication2(_Incoming):
    """A client's request to FATE Flow 2.x, to be authenticated."""

    def contract(self) -> ClientAuthenticationRequest:
        return ClientAuthenticationRequest(
            full_path=self.full_path,
            headers=self.headers,
            form=self.form,
            data=self.data,
            json=self.json_body,
            method=self.method,
            fate_flow_major=2,
        )


class SiteAuthentication2(_Incoming):
    """Another site's request to FATE Flow 2.x, signed through the 2.x signature hook: its
    headers carry ``src-party-id`` and ``site-signature``."""

    @field_validator("headers")
    @classmethod
    def _signed_by_a_party(cls, headers: Headers) -> Headers:
        if headers.get(SIGNATURE_HEADER) and not headers.get(SOURCE_HEADER):
            raise ValueError(
                f"{SOURCE_HEADER} is missing beside {SIGNATURE_HEADER}: a site that signs "
                "through contrib/fate-flow-hooks sends both"
            )
        return headers

    def contract(self) -> SiteAuthenticationRequest:
        # No signature: the dispatcher refuses before any plugin, whatever the party.
        return SiteAuthenticationRequest.model_validate(
            {
                "src_party_id": self.headers.get(SOURCE_HEADER) or "",
                "site_signature": self.headers.get(SIGNATURE_HEADER) or None,
                "body": self.json_body if isinstance(self.json_body, dict) else {},
                "path": self.path,
                "method": self.method,
                "initiator_party_id": self.headers.get(INITIATOR_HEADER),
                "fate_flow_major": 2,
            }
        )


class Signature2(_Request2):
    """A body FATE Flow 2.x is about to send to another site, to be signed by this one."""

    party_id: PartyId = Field(description="the destination, as 2.x passes it; 0 is this site")
    initiator_party_id: PartyId | None = Field(default=None, description="the job's initiator")
    body: dict[str, Any] | None = Field(default=None, description="the body to be signed")
    src_party_id: PartyId = Field(
        description="this site, which signs (service_conf.yaml's party_id, added by the hook)"
    )

    def contract(self) -> SignatureRequest:
        dest = self.src_party_id if self.party_id in ("", "0") else self.party_id
        return SignatureRequest.model_validate(
            {
                "party_id": self.src_party_id,
                "body": self.body or {},
                "dest_party_id": dest,
                "initiator_party_id": self.initiator_party_id or None,
                "fate_flow_major": 2,
            }
        )


class Party2(BaseModel):
    """One entry of a 2.x DAG's parties."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    role: str
    party_id: list[PartyId]


class Permission2(_Request2):
    """A job another site asks FATE Flow 2.x to create here (``/v2/partner/job/create``)."""

    party_id: PartyId | None = Field(
        default=None,
        validate_default=True,
        description="the job's initiator, as 2.x passes it (its initiator_party_id header)",
    )
    roles: list[Party2] = Field(default_factory=list, description="the DAG's parties")
    component_list: list[str] = Field(
        default_factory=list, description="component_refs of the tasks that run here"
    )
    dataset_list: list[Any] = Field(
        default_factory=list, description="tables the reader tasks read here"
    )
    dag_schema: dict[str, Any] | None = Field(default=None, description="the job's DAG schema")
    component_parameters: dict[str, Any] | None = Field(
        default=None, description="parameters of each component here"
    )
    dest_role: str | None = Field(default=None, description="this site's role (added by the hook)")
    dest_party_id: PartyId | None = Field(
        default=None, description="this site's party id (added by the hook)"
    )
    job_id: str | None = Field(
        default=None, max_length=MAX_JOB_ID, description="the job (added by the hook)"
    )

    @field_validator("party_id")
    @classmethod
    def _initiator_known(cls, value: str | None) -> str:
        if not value:
            raise ValueError(
                "the job's initiator is missing (FATE Flow 2.x takes it from the "
                "initiator_party_id header)"
            )
        return value

    def contract(self) -> PermissionRequest:
        roles: dict[str, list[str]] = {}
        for party in self.roles:
            roles.setdefault(party.role, []).extend(party.party_id)
        datasets = list(self.dataset_list)
        if self.dag_schema is not None and self.dest_role and self.dest_party_id:
            for table in warehouse_datasets(self.dag_schema, self.dest_role, self.dest_party_id):
                if table not in datasets:
                    datasets.append(table)
        request = PermissionRequest.model_validate(
            {
                "src_party_id": self.party_id,
                "role": self.dest_role,
                "party_id": self.dest_party_id,
                "roles": roles,
                "component_list": self.component_list,
                "dataset_list": datasets,
                "component_parameters": self.component_parameters,
                "dag_schema": self.dag_schema,
                "job_id": self.job_id or None,
                "fate_flow_major": 2,
            }
        )
        # 1.x names the initiator with its role; 2.x's only source of a role is the DAG.
        return request.model_copy(
            update={"initiator": {"party_id": self.party_id, "role": request.src_role}}
        )


REQUESTS: dict[str, type[_Request2]] = {
    "client_authentication": ClientAuthentication2,
    "signature": Signature2,
    "site_authentication": SiteAuthentication2,
    "permission": Permission2,
}


def warehouse_datasets(
    dag_schema: Mapping[str, Any], role: str, party_id: str
) -> list[dict[str, str]]:
    """The tables a 2.x job reads at ``role``/``party_id`` as ``data_warehouse`` inputs that
    name a ``{namespace, name}``: FATE Flow 2.x lists only its reader tasks' tables."""
    dag = dag_schema.get("dag")
    if not isinstance(dag, Mapping) or not isinstance(dag.get("tasks"), Mapping):
        return []
    tables = []
    for task in dag["tasks"].values():
        if not isinstance(task, Mapping):
            continue
        if not _includes(task.get("parties") or dag.get("parties"), role, party_id):
            continue
        for channel in _warehouse_channels(task):
            namespace, name, parties = (channel.get(k) for k in ("namespace", "name", "parties"))
            if not (isinstance(namespace, str) and isinstance(name, str) and namespace and name):
                continue  # a dataset_id, or another job's output: no table named here
            if parties and not _includes(parties, role, party_id):
                continue
            tables.append({"namespace": namespace, "name": name})
    return tables


def _warehouse_channels(task: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The ``data_warehouse`` channels of a task's data inputs (``inputs.data.<key>``)."""
    inputs = task.get("inputs")
    data = inputs.get("data") if isinstance(inputs, Mapping) else None
    for sources in data.values() if isinstance(data, Mapping) else ():
        channels = sources.get("data_warehouse") if isinstance(sources, Mapping) else None
        for channel in channels if isinstance(channels, list) else [channels]:
            if isinstance(channel, Mapping):
                yield channel


def _includes(parties: Any, role: str, party_id: str) -> bool:
    """Whether a DAG's list of ``{role, party_id: [...]}`` names ``role`` and ``party_id``,
    compared in their canonical forms (``Host`` is host, ``010000`` is 10000). A role or party
    id that has none counts as a match: a table it lists is then checked, which may refuse a
    job, never let one through unchecked."""
    return isinstance(parties, list) and any(
        isinstance(party, Mapping)
        and _same(role_of, party.get("role"), role)
        and isinstance(party.get("party_id"), list)
        and any(_same(party_of, p, party_id) for p in party["party_id"])
        for party in parties
    )


def _same(canonical: Callable[[Any], str], value: Any, wanted: str) -> bool:
    try:
        return canonical(value) == canonical(wanted)
    except InvalidRegistration:
        return True
