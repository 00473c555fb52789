"""The JSON bodies the gateway reads, built from FATE Flow's hook parameters.

FATE Flow hands its hooks objects that JSON cannot carry (werkzeug's headers and form, the raw
body as bytes, ``DataSet`` objects; in 2.x also pydantic ``PartySpec`` objects and a set of
components), which is why FATE Flow 1.11's own HTTP hooks raise before they send anything. Each
builder starts from the parameters' ``to_dict()``, as FATE Flow would send them, and turns every
value into plain JSON; 2.x's get what 2.x knows but does not pass them.
"""

from typing import Any, Dict, Mapping, Optional


def text(value: Any) -> str:
    """A body as text. One that is not UTF-8 is sent empty: FATE's HMAC scheme signs only
    JSON bodies, and JSON is UTF-8."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return ""
    return str(value)


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON values: mappings (werkzeug's headers and multidicts too, by
    their ``items()``, one value per key) become objects, sequences arrays (a set sorted), bytes
    text, objects with ``to_dict()`` (FATE's) or pydantic's ``dict()`` their dict; anything else
    its ``str()``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return text(value)
    if isinstance(value, Mapping) or callable(getattr(value, "items", None)):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((json_safe(item) for item in value), key=str)
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    to_dict = getattr(value, "to_dict", None)
    if not callable(to_dict) and hasattr(value, "__fields__"):  # a pydantic 1 model
        to_dict = getattr(value, "dict", None)
    if callable(to_dict):
        return json_safe(to_dict())
    return str(value)


def dataset(value: Any) -> Any:
    """A dataset as ``{namespace, name}``, from FATE's ``DataSet`` or a mapping."""
    if isinstance(value, Mapping):
        return {"namespace": value.get("namespace"), "name": value.get("name")}
    if hasattr(value, "namespace") and hasattr(value, "name"):
        return {"namespace": json_safe(value.namespace), "name": json_safe(value.name)}
    return json_safe(value)


def _fields(parm: Any) -> Dict[str, Any]:
    return {str(key): json_safe(value) for key, value in parm.to_dict().items()}


def client_authentication(parm: Any) -> Dict[str, Any]:
    """``{full_path, headers, form, data, json}`` (2.x: also ``path`` and ``method``): headers
    and form as objects, the body as text, the JSON body as parsed. 2.x's site authentication
    gets the same request."""
    body = _fields(parm)
    body["data"] = text(parm.data)
    body["form"] = json_safe(parm.form) if parm.form is not None else {}
    return body


def signature(parm: Any) -> Dict[str, Any]:
    """``{party_id, body}``."""
    return _fields(parm)


def site_authentication(parm: Any, local_party_id: Any) -> Dict[str, Any]:
    """``{src_party_id, site_signature, body}``. As FATE Flow's own hooks do, an empty source
    party or ``0`` means this site; an empty signature header is sent as null (no signature)."""
    body = _fields(parm)
    if not parm.src_party_id or str(parm.src_party_id) == "0":
        body["src_party_id"] = json_safe(local_party_id)
    body["site_signature"] = parm.site_signature or None
    return body


def permission(parm: Any, src_role: Optional[str]) -> Dict[str, Any]:
    """The job's permission request with the real ``src_role`` and datasets as
    ``{namespace, name}``."""
    body = _fields(parm)
    body["src_role"] = src_role
    body["dataset_list"] = [dataset(item) for item in parm.dataset_list or []]
    return body


def signature_2(parm: Any, local_party_id: Any) -> Dict[str, Any]:
    """2.x's ``{party_id, initiator_party_id, body}`` (``party_id`` is the destination), and
    ``src_party_id``: this site, which signs."""
    body = _fields(parm)
    body["src_party_id"] = json_safe(local_party_id)
    return body


def permission_2(parm: Any, create: Any) -> Dict[str, Any]:
    """2.x's ``{party_id, roles, component_list, dataset_list, dag_schema,
    component_parameters}`` (``party_id`` is the initiator), datasets as ``{namespace, name}``,
    and ``dest_role``, ``dest_party_id``, ``job_id`` from the body of the create request
    ``create`` (this site's role and party id, which 2.x does not pass)."""
    body = _fields(parm)
    body["dataset_list"] = [dataset(item) for item in parm.dataset_list or []]
    create = create if isinstance(create, Mapping) else {}
    for field, key in (("dest_role", "role"), ("dest_party_id", "party_id"), ("job_id", "job_id")):
        body[field] = json_safe(create.get(key))
    return body
