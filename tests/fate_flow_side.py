"""FATE Flow 1.11's side of the hook protocol, for tests: what its HTTP hooks send and how it
reads the replies, quirks included.

Written from reading FATE Flow's code (FederatedAI/FATE-Flow, branch ``dev-1.11.2``:
``hook/api/*.py``, ``apps/__init__.py``, ``utils/api_utils.py``, ``utils/permission_utils.py``,
``utils/job_utils.py``, ``components/api_reader.py``); none of it is copied. What it does:

- every hook looks up its service in FATE Flow's own registry and calls
  ``requests.<method>(url, json=...)``: no session, no headers, no timeout (ours has a generous
  one only so that a broken server fails a test instead of hanging it);
- any HTTP status but 200 raises a generic exception (the request or job then fails with
  retcode 100); only a 200 with ``code`` != 0 is a refusal carrying the service's ``msg``;
- signature and site authentication send the stored ``data`` of the service, updated with the
  request (so FATE's fields win); the signature is read from ``data`` of the reply;
- site authentication takes ``src_party_id`` and ``site_signature`` from the headers the other
  site sent (``None`` when absent), and an empty or ``0`` party means this site;
- permission reads the source role from the header ``scr_role`` (sic), so ``src_role`` is
  always None; ``component_list`` holds the DSL's component modules lower-cased; datasets are
  ``DataSet`` objects, which ``json=`` cannot serialise;
- client authentication passes werkzeug's headers and the raw bytes, which ``json=`` cannot
  serialise either;
- ApiReader's query reads ``data.status`` and compares it lower-cased.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

# Only so that a broken server fails the test instead of hanging it: FATE Flow passes none.
TIMEOUT = 60


class FateFlowError(Exception):
    """The generic exception FATE Flow's hooks raise; FATE Flow answers it with retcode 100."""


@dataclass
class StoredService:
    """A row of FATE Flow's own service registry (``t_service``): what its hooks look up."""

    url: str
    method: str = "POST"
    data: dict[str, Any] | None = None


class DataSet:
    """FATE Flow's ``DataSet``: a plain object, not JSON-serialisable."""

    def __init__(self, namespace: str, name: str) -> None:
        self.namespace = namespace
        self.name = name


def header(headers: Mapping[str, str], name: str) -> str | None:
    """werkzeug's lookup: case and ``-``/``_`` do not matter; None when absent."""
    wanted = name.upper().replace("-", "_")
    for key, value in headers.items():
        if key.upper().replace("-", "_") == wanted:
            return value
    return None


def _send(service: StoredService, body: Any) -> requests.Response:
    call = getattr(requests, service.method.lower())
    response: requests.Response = call(url=service.url, json=body, timeout=TIMEOUT)
    return response


def _decision(response: requests.Response, what: str) -> tuple[int, str]:
    if response.status_code != 200:
        raise FateFlowError(
            f"{what} error: request {what} url failed, status code {response.status_code}"
        )
    reply = response.json()
    if reply.get("code") != 0:
        return reply.get("code"), reply.get("msg")
    return 0, "success"


class FateFlowHooks:
    """FATE Flow 1.11's HTTP hooks (``fate_flow.hook.api.*``) of a site with ``party_id``,
    whose own registry holds ``services`` (by service name) under its ``hook_server_name``."""

    def __init__(self, services: Mapping[str, StoredService], party_id: Any = 9999) -> None:
        self.services = services
        self.party_id = party_id  # service_conf.yaml's party_id: usually a YAML integer

    def _service(self, name: str) -> StoredService:
        if name not in self.services:
            raise FateFlowError(f"no found server HOOK service {name}")
        return self.services[name]

    def client_authentication(
        self, full_path: str, headers: Any, form: Any, data: Any, json: Any
    ) -> tuple[int, str]:
        """FATE Flow passes werkzeug's headers and the raw body bytes: requests then raises
        TypeError before sending, as it does here for such values."""
        body = {
            "full_path": full_path,
            "headers": headers,
            "form": form,
            "data": data,
            "json": json,
        }
        return _decision(
            _send(self._service("client_authentication"), body), "client authentication"
        )

    def signature(self, body: Any) -> str:
        """The signature FATE Flow puts in the ``site_signature`` header of a request to
        another site; raises FateFlowError when there is none."""
        service = self._service("signature")
        request = dict(service.data or {})
        request.update({"party_id": self.party_id, "body": body})
        response = _send(service, request)
        if response.status_code != 200:
            raise FateFlowError(
                f"signature error: request signature url failed, status code {response.status_code}"
            )
        reply = response.json()
        if reply.get("code") != 0:
            raise FateFlowError(f"signature error: request signature url failed, result: {reply}")
        signature: str = reply.get("data")
        return signature

    def site_authentication(self, headers: Mapping[str, str], body: Any) -> tuple[int, str]:
        """Verify a request another site sent with ``headers`` and JSON ``body``."""
        src_party_id = header(headers, "src_party_id")
        if not src_party_id or str(src_party_id) == "0":
            src_party_id = self.party_id
        service = self._service("site_authentication")
        request = dict(service.data or {})
        request.update(
            {
                "src_party_id": src_party_id,
                "site_signature": header(headers, "site_signature"),
                "body": body,
            }
        )
        return _decision(_send(service, request), "site_authentication")

    def permission(self, request: dict[str, Any]) -> tuple[int, str]:
        """Check a job's permission request (see ``permission_request``)."""
        return _decision(_send(self._service("permission"), request), "permission")


def permission_request(
    role: str, party_id: str, headers: Mapping[str, str], job: Mapping[str, Any]
) -> dict[str, Any]:
    """What FATE Flow sends for a job another site asks it to create at
    ``/v1/party/<job_id>/<role>/<party_id>/create``: ``party_id`` as the URL has it (a string),
    ``src_role`` None (it reads ``scr_role``), component modules lower-cased, and this
    role's and party's reader tables as ``DataSet`` objects."""
    dsl, conf = job["dsl"], job["runtime_conf"]
    index = [str(p) for p in conf["role"].get(role, [])].index(str(party_id))
    tables = conf.get("component_parameters", {}).get("role", {}).get(role, {})
    datasets = [
        DataSet(parameters["table"]["namespace"], parameters["table"]["name"])
        for parameters in tables.get(str(index), {}).values()
        if "table" in parameters
    ]
    return {
        "src_role": header(headers, "scr_role"),
        "src_party_id": header(headers, "src_party_id"),
        "role": role,
        "party_id": party_id,
        "initiator": conf["initiator"],
        "roles": conf["role"],
        "component_list": [c["module"].lower() for c in dsl["components"].values()],
        "dataset_list": datasets,
        "run_time_conf": conf,
        "dsl": dsl,
        "component_parameters": conf.get("component_parameters", {}),
    }


def api_reader_poll(query: StoredService, job_id: str) -> bool | None:
    """One poll of ApiReader's ``check_status``: True when the job succeeded, None while it
    runs (or the service answered other than 200: FATE Flow polls again), FateFlowError when it
    failed. The status is read from ``data.status`` and compared lower-cased."""
    response = getattr(requests, query.method.lower())(
        url=query.url, json={"jobId": job_id}, timeout=TIMEOUT
    )
    if response.status_code != 200:
        return None
    status = response.json().get("data").get("status")
    if status.lower() == "success":
        return True
    if status.lower() != "running":
        raise FateFlowError(response.json().get("data"))
    return None
