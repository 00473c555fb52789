"""Request and answer models of every capability, in the shapes FATE Flow sends and reads.

Requests accept exactly what FATE Flow 1.9 to 1.11 sends (see ``fate-flow-contract.md``), and
ignore fields they do not know so a newer FATE Flow does not break them. Answers are what a
plugin returns: a ``Decision`` (allow, or deny with a code and a message), a ``Signature``, or
for ApiReader a job id, a status or a downloaded file; ``None`` means "no opinion".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import CoreSchema, core_schema

from .canonical import party_of
from .errors import InvalidRegistration
from .ids import Ids

# FATE Flow 1.x return codes that the decisions use.
SUCCESS = 0
ARGUMENT_ERROR = 101
PERMISSION_ERROR = 108
AUTHENTICATION_ERROR = 109
MAX_JOB_ID = 128  # characters of a job id (FATE's are about 20 digits)

Capability = Literal[
    "client_authentication",
    "signature",
    "site_authentication",
    "permission",
    "upload",
    "query",
    "download",
]
DECISIONS: tuple[Capability, ...] = (
    "client_authentication",
    "signature",
    "site_authentication",
    "permission",
)
API_READER: tuple[Capability, ...] = ("upload", "query", "download")
CAPABILITIES: tuple[Capability, ...] = DECISIONS + API_READER


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# The FATE Flow line a decision's request came from: 1 (1.9 to 1.11, the gateway's /v1/hook) or
# 2 (2.0 to 2.2, /v2/hook, mapped by ``fate2``); plugins decide both with the same rules. The
# fields only 2.x fills are left out of a 1.x request's dump, so that the ``http`` plugin sends
# a 1.x request exactly as FATE Flow 1.x sent it.
FateFlowMajor = Literal[1, 2]


def _major_field() -> Any:
    return Field(
        default=1,
        exclude_if=lambda major: major == 1,
        description="the major version of the FATE Flow that asked: 1 (1.9 to 1.11; left "
        "out when sent on) or 2 (2.0 to 2.2, whose request the gateway mapped onto this one)",
    )


def _party_id(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():  # 9999.0 is JSON Schema's integer 9999
        value = int(value)
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# FATE Flow 1.11 takes party ids from service_conf.yaml, usually YAML integers (9999): they are
# accepted as integers too (the JSON schema says so), and plugins always get a string.
PartyId = Annotated[
    str,
    BeforeValidator(_party_id),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
]


class Headers(Mapping[str, str]):
    """The headers of a client's request: read-only, and looked up as FATE Flow's werkzeug looks
    them up, ignoring case and treating ``-`` and ``_`` alike: ``headers["APP_KEY"]``,
    ``headers["app_key"]`` and ``headers.get("App-Key")`` are the same header.

    Names are kept lower-cased as received (``app_key``, ``content-type``): that is how the
    ``http`` plugin forwards them. A name given twice (in any spelling) keeps both values,
    joined by ``", "`` as HTTP joins a repeated header.
    """

    __slots__ = ("_by_key", "_names")

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        names: dict[str, str] = {}  # lookup key -> the name as stored (lower-case)
        values: dict[str, str] = {}
        for name, value in (headers or {}).items():
            key = _header_key(name)
            if key in values:
                values[key] = f"{values[key]}, {value}"
            else:
                names[key], values[key] = name.lower(), value
        self._names = names
        self._by_key = values

    @classmethod
    def of(cls, value: Any) -> Headers:
        """Pydantic's way in: a mapping of strings (or None, for no headers)."""
        if isinstance(value, Headers):
            return value
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            raise ValueError("must be an object of header names to string values")
        for name, item in value.items():
            if not isinstance(name, str) or not isinstance(item, str):
                raise ValueError(f"header {name!r} must have a string value")
        return cls(value)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.of,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda headers: dict(headers.items())
            ),
        )

    def __getitem__(self, name: str) -> str:
        return self._by_key[_header_key(name)]

    def get(self, name: str, default: Any = None) -> Any:  # Mapping's, without a KeyError
        return self._by_key.get(_header_key(name), default) if isinstance(name, str) else default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _header_key(name) in self._by_key

    def __iter__(self) -> Iterator[str]:
        return iter(self._names.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __hash__(self) -> int:  # requests are frozen models, and so hashable
        return hash(frozenset(self._by_key.items()))

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


def _header_key(name: str) -> str:
    return name.lower().replace("_", "-")


RequestHeaders = Annotated[
    Headers, WithJsonSchema({"type": "object", "additionalProperties": {"type": "string"}})
]


# -- requests of the decisions ---------------------------------------------------------------


class ClientAuthenticationRequest(_Request):
    """A client's request to FATE Flow, as FATE Flow forwards it to be authenticated."""

    full_path: str = Field(description="path of the client's request, with its query string")
    headers: RequestHeaders = Field(
        default_factory=Headers,
        description="headers of the client's request (HMAC clients send "
        "TIMESTAMP, NONCE, APP_KEY and SIGNATURE here); plugins get them as a case-insensitive "
        "mapping that treats '-' and '_' alike, services get them with lower-case names",
    )
    form: dict[str, Any] | None = Field(default=None, description="form fields of the request")
    data: Any = Field(default=None, description="raw body of the request, as text")
    json_body: Any = Field(
        default=None, alias="json", description="JSON body of the request, when it had one"
    )
    method: str | None = Field(
        default=None,
        exclude_if=lambda method: method is None,
        description="HTTP method of the request (FATE Flow 2.x passes it; 1.x not)",
    )
    fate_flow_major: FateFlowMajor = _major_field()

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class _MergedRequest(_Request):
    """FATE Flow merges its own registration's stored ``data`` into these requests (``app_id``,
    say): unknown top-level fields are kept (``model_extra``) and sent on to the services."""

    model_config = ConfigDict(extra="allow", frozen=True)


class SignatureRequest(_MergedRequest):
    """A request to sign the body FATE Flow is about to send to another site."""

    party_id: PartyId = Field(description="id of this site, which signs")
    body: dict[str, Any] = Field(default_factory=dict, description="the body to be signed")
    fate_flow_major: FateFlowMajor = _major_field()


class SiteAuthenticationRequest(_MergedRequest):
    """A request from another site, to be verified against its signature."""

    src_party_id: PartyId = Field(description="site id of the requesting party")
    site_signature: str | None = Field(
        default=None,
        description="the signature the requesting site sent; null when it sent none (FATE Flow "
        "then sends null), which is refused with code 109 before any plugin runs",
    )
    body: dict[str, Any] = Field(default_factory=dict, description="the body that was signed")
    fate_flow_major: FateFlowMajor = _major_field()


class PermissionRequest(_Request):
    """A job from another site, to be allowed or denied here.

    FATE Flow 1.11 always sends ``src_role`` null (it reads a misspelt header): the role is then
    derived from ``roles`` when ``src_party_id`` is in exactly one of them, and
    ``src_role_derived`` says so; otherwise ``src_role`` stays None, unknown.
    """

    src_role: str | None = Field(
        default=None,
        description="role of the requesting party (guest, host, arbiter); None when unknown",
    )
    src_role_derived: bool = Field(
        default=False,
        description="src_role was not sent but derived from roles (set by us, never read from "
        "the request)",
    )
    src_party_id: PartyId = Field(description="party id of the requesting party")
    role: str | None = Field(default=None, description="this site's role in the job")
    party_id: PartyId | None = Field(default=None, description="this site's party id in the job")
    initiator: dict[str, Any] | None = Field(default=None, description="the job's initiator")
    roles: dict[str, Any] | None = Field(default=None, description="every participant by role")
    component_list: list[Any] = Field(
        default_factory=list,
        description="the job's components as its FATE Flow names them: 1.x the modules "
        "lower-cased (reader, heterolr), not the DSL's instance names (reader_0); 2.x the "
        "DAG's component_refs (reader, coordinated_lr)",
    )
    dataset_list: list[Any] = Field(
        default_factory=list, description="datasets the job reads here ({namespace, name})"
    )
    run_time_conf: dict[str, Any] | None = Field(default=None, description="the job's conf")
    dsl: dict[str, Any] | None = Field(default=None, description="the job's DSL")
    component_parameters: dict[str, Any] | None = Field(
        default=None, description="parameters of each component"
    )
    dag_schema: dict[str, Any] | None = Field(
        default=None,
        exclude_if=lambda dag: dag is None,
        description="the job's DAG schema (FATE Flow 2.x; 1.x sends a dsl)",
    )
    job_id: str | None = Field(
        default=None,
        max_length=MAX_JOB_ID,
        exclude_if=lambda job_id: job_id is None,
        description="the job asked about: FATE Flow 2.x sends it, 1.x does not (left out when "
        "sent on); a grant with max_uses counts each job once",
    )
    fate_flow_major: FateFlowMajor = _major_field()

    @model_validator(mode="before")
    @classmethod
    def _derive_src_role(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        fields = {k: v for k, v in value.items() if k != "src_role_derived"}
        if fields.get("src_role") is None:
            role = _only_role_of(fields.get("src_party_id"), fields.get("roles"))
            if role is not None:
                fields.update(src_role=role, src_role_derived=True)
        return fields


def _only_role_of(party_id: Any, roles: Any) -> str | None:
    """The one role of ``roles`` ({role: [party ids]}) that lists ``party_id``, or None when
    none or several do. Party ids and roles are compared in their canonical forms: ``010000``
    is party 10000, and ``Guest`` the role ``guest``."""
    wanted = _canonical_party(party_id)
    if wanted is None or not isinstance(roles, Mapping):
        return None
    found = {
        role.strip().lower()
        for role, parties in roles.items()
        if isinstance(role, str)
        and isinstance(parties, list)
        and any(_canonical_party(party) == wanted for party in parties)
    }
    return found.pop() if len(found) == 1 else None


def _canonical_party(value: Any) -> str | None:
    try:
        return party_of(value)
    except InvalidRegistration:
        return None


# -- requests of ApiReader ---------------------------------------------------------------------


class UploadRequest(_Request):
    """Ids to send to the feature service; it answers with a job id to poll.

    ``ids`` is an :class:`~fate_registry.ids.Ids`: read it once, as the bytes of FATE's id file
    (``ids.chunks()``: the id column's name on the first line, then one id per line) or as
    strings (``for id in ids``). Given as a mapping, ``ids`` may be a path or an iterable of
    strings, with ``id_column`` beside it (default ``id``); ``ids_path`` is an older name.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, arbitrary_types_allowed=True)

    ids: Annotated[
        Ids,
        PlainSerializer(repr, return_type=str),
        WithJsonSchema({"type": "string", "description": "path of the ids file"}),
    ] = Field(description="the ids, read once (see Ids)")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="the job's feature filter (sent as `requestBody`)"
    )
    job_id: str = Field(description="FATE job id, sent with its MD5 as `sign`")

    @model_validator(mode="before")
    @classmethod
    def _ids_from_source(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        data = dict(value)
        source = data.pop("ids", data.pop("ids_path", None))
        id_column = data.pop("id_column", "id")
        if source is not None and not isinstance(source, Ids):
            try:
                source = Ids(source, id_column=id_column)
            except TypeError:
                raise ValueError("ids must be a path or an iterable of strings") from None
        if source is not None:
            data["ids"] = source
        return data

    @property
    def id_column(self) -> str:
        return self.ids.id_column


class QueryRequest(_Request):
    """Ask the feature service for the status of a job."""

    job_id: str = Field(description="the job id `upload` returned")


class DownloadRequest(_Request):
    """Fetch the features of a finished job into a file.

    ``progress``, when given, is called as ``progress(bytes, rows)`` while the file grows.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, arbitrary_types_allowed=True)

    job_id: str = Field(description="the job id `upload` returned")
    destination: Path = Field(description="where the features go; written atomically")
    progress: Callable[[int, int], None] | None = Field(
        default=None, exclude=True, description="called with (bytes, rows) as the file grows"
    )


# -- answers ---------------------------------------------------------------------------------


class Decision(BaseModel):
    """A plugin's answer to a decision: allow, or deny with a FATE Flow code and a message."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    code: int = Field(default=SUCCESS, description="0 when allowed, a FATE Flow code otherwise")
    message: str = "success"
    principal: str | None = Field(
        default=None,
        description="client_authentication: who the plugin authenticated (the hmac plugin: "
        "the APP_KEY). The registration API admits an administrator by it "
        "(hmac.admin_app_keys); a plugin that cannot vouch for an identity leaves it None",
    )
    valid_until: float | None = Field(
        default=None,
        description="the instant (seconds since the epoch, by the registry's clock) after which "
        "this answer may no longer hold (a grant expires, or one begins): the decision cache "
        "keeps it no longer. None: as long as allow_ttl or deny_ttl say; an instant already "
        "past: not kept at all",
    )

    @classmethod
    def allow(
        cls,
        message: str = "success",
        *,
        principal: str | None = None,
        valid_until: float | None = None,
    ) -> Decision:
        return cls(
            allowed=True,
            code=SUCCESS,
            message=message,
            principal=principal,
            valid_until=valid_until,
        )

    @classmethod
    def deny(
        cls, message: str, code: int = AUTHENTICATION_ERROR, *, valid_until: float | None = None
    ) -> Decision:
        if code == SUCCESS:
            raise ValueError("a denial needs a non-zero code")
        return cls(allowed=False, code=code, message=message, valid_until=valid_until)


class Signature(Decision):
    """A signature answer: ``signature`` is set when allowed."""

    signature: str | None = None

    @classmethod
    def signed(cls, signature: str) -> Signature:
        return cls(allowed=True, code=SUCCESS, message="success", signature=signature)


class UploadAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str = Field(description="the feature service's job id, to poll with `query`")


JobStatus = Literal["success", "running", "failed"]


class QueryAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: JobStatus
    raw_status: str = Field(description="the status word exactly as the service gave it")
    retry_after: float | None = Field(
        default=None, ge=0, description="seconds the service asks to wait before the next query"
    )


class DownloadAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: Path
    rows: int = Field(description="lines in the file, header excluded")
    bytes: int


REQUESTS: dict[Capability, type[_Request]] = {
    "client_authentication": ClientAuthenticationRequest,
    "signature": SignatureRequest,
    "site_authentication": SiteAuthenticationRequest,
    "permission": PermissionRequest,
    "upload": UploadRequest,
    "query": QueryRequest,
    "download": DownloadRequest,
}


def callback_reply(reply: Any) -> tuple[int, str]:
    """``(code, message)`` of a callback service's JSON reply, in either reading.

    Raises ValueError naming what is wrong when the reply is not an object with an integer code.
    """
    if not isinstance(reply, dict):
        raise ValueError(f"reply is a JSON {type(reply).__name__}, not an object")
    code = reply.get("code", reply.get("retcode"))
    if isinstance(code, bool) or not isinstance(code, int):
        if isinstance(code, str) and code.lstrip("-").isdigit():
            code = int(code)
        else:
            raise ValueError(f"reply has no integer 'code' (got {code!r})")
    message = reply.get("msg", reply.get("message", reply.get("retmsg", "")))
    if message is None:
        message = ""
    if not isinstance(message, str):
        raise ValueError(f"reply 'msg' is not a string (got {type(message).__name__})")
    return code, message


def decision_from_reply(reply: Any) -> Decision:
    """A Decision from ``{code, msg|message}``; code 0 allows."""
    code, message = callback_reply(reply)
    if code == SUCCESS:
        return Decision.allow(message or "success")
    return Decision(allowed=False, code=code, message=message or f"denied (code {code})")


def signature_from_reply(reply: Any) -> Signature:
    """A Signature from ``{code, site_signature}`` (published) or ``{code, data}`` (FATE Flow)."""
    code, message = callback_reply(reply)
    if code != SUCCESS:
        return Signature(allowed=False, code=code, message=message or f"refused (code {code})")
    signature = reply.get("site_signature")
    if signature is None:
        signature = reply.get("data")
    if not isinstance(signature, str) or not signature:
        raise ValueError("reply has code 0 but no signature string in 'site_signature' or 'data'")
    return Signature(allowed=True, code=SUCCESS, message=message or "success", signature=signature)


def job_status(raw: str) -> JobStatus:
    """FATE Flow's reading of a status word: ``success`` and ``running`` in any case; any other
    word is a failure."""
    word = raw.strip().lower()
    return "success" if word == "success" else "running" if word == "running" else "failed"


def status_from_reply(reply: Any) -> QueryAnswer:
    """A job status from ``{data: {status}}`` (FATE Flow) or ``{status}`` (published), any case."""
    code, message = callback_reply(reply)
    if code != SUCCESS:
        raise ValueError(f"query answered code {code}: {message}")
    data = reply.get("data")
    raw = data.get("status") if isinstance(data, dict) else None
    if raw is None:
        raw = reply.get("status")
    if not isinstance(raw, str):
        raise ValueError("reply has no status string in 'data.status' or 'status'")
    return QueryAnswer(status=job_status(raw), raw_status=raw)


def job_id_from_reply(reply: Any) -> UploadAnswer:
    """The job id from ``{code: 0, data: {jobId}}`` or ``{code: 0, jobId}``, a string or a
    number; a non-zero code is an error carrying the service's message, not ignored."""
    code, message = callback_reply(reply)
    if code != SUCCESS:
        raise ValueError(f"upload refused with code {code}: {message or '(no message)'}")
    data = reply.get("data")
    job_id = data.get("jobId") if isinstance(data, dict) else None
    if job_id is None:
        job_id = reply.get("jobId")
    if isinstance(job_id, float) and job_id.is_integer():
        job_id = int(job_id)
    if not isinstance(job_id, str | int) or isinstance(job_id, bool) or job_id == "":
        raise ValueError("reply has no job id in 'data.jobId' or 'jobId'")
    return UploadAnswer(job_id=str(job_id))
