"""The hooks as a contract: each documented in docs/plugins.md, each with a test_hook_<name>."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from fate_registry import hookimpl, hookspecs
from fate_registry.capabilities import (
    CAPABILITIES,
    ClientAuthenticationRequest,
    Decision,
    DownloadAnswer,
    DownloadRequest,
    PermissionRequest,
    QueryAnswer,
    QueryRequest,
    Signature,
    SignatureRequest,
    SiteAuthenticationRequest,
    UploadAnswer,
    UploadRequest,
)
from fate_registry.context import HookContext
from fate_registry.dispatch import Dispatcher
from fate_registry.metrics import HookMetrics
from fate_registry.plugins import build_plugin_manager

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(
    name
    for name, function in vars(hookspecs).items()
    if callable(function) and hasattr(function, "fate_registry_spec")
)


def dispatcher(plugin: object) -> Dispatcher:
    plugins = build_plugin_manager(load=set(), entry_points=[])
    plugins.register(plugin, "local")
    return Dispatcher(plugins=plugins, metrics=HookMetrics())


def test_every_capability_has_a_hook() -> None:
    assert sorted(CAPABILITIES) == HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert re.search(rf"^### {hook}$", docs, re.MULTILINE), f"docs/plugins.md lacks ### {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook: str) -> None:
    sources = "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    assert f"def test_hook_{hook}(" in sources


@pytest.mark.parametrize("hook", HOOKS)
def test_hookspec_documents_its_parameters(hook: str) -> None:
    spec = getattr(hookspecs, hook)
    assert list(inspect.signature(spec).parameters) == ["context", "request"]
    doc = inspect.getdoc(spec) or ""
    assert ":param context:" in doc and ":param request:" in doc and ":return:" in doc


def test_the_http_plugin_implements_every_hook() -> None:
    manager = build_plugin_manager(load={"http"}, disable=set(), strict=True)
    assert list(manager.listing()[0].hooks) == HOOKS


# -- one test per hook: a local plugin, through the dispatcher -------------------------------


def test_hook_client_authentication() -> None:
    class Plugin:
        @hookimpl
        def client_authentication(self, request: ClientAuthenticationRequest) -> Decision:
            if request.headers.get("APP_KEY") == "good":
                return Decision.allow()
            return Decision.deny("unknown app key")

    d = dispatcher(Plugin())
    assert d.client_authentication({"full_path": "/", "headers": {"APP_KEY": "good"}}).allowed
    denied = d.client_authentication({"full_path": "/", "headers": {}, "json": {"a": 1}})
    assert (denied.allowed, denied.code, denied.message) == (False, 109, "unknown app key")


def test_hook_signature() -> None:
    class Plugin:
        @hookimpl
        def signature(self, request: SignatureRequest) -> Signature:
            return Signature.signed(f"{request.party_id}:{sorted(request.body)}")

    outcome = dispatcher(Plugin()).signature({"party_id": "9999", "body": {"b": 1, "a": 2}})
    assert outcome.signature == "9999:['a', 'b']"


def test_hook_site_authentication() -> None:
    class Plugin:
        @hookimpl
        def site_authentication(self, request: SiteAuthenticationRequest) -> Decision | None:
            if request.src_party_id != "10000":
                return None
            return Decision.allow() if request.site_signature == "ok" else Decision.deny("bad")

    d = dispatcher(Plugin())
    assert d.site_authentication({"src_party_id": "10000", "site_signature": "ok"}).allowed
    silent = d.site_authentication({"src_party_id": "1", "site_signature": "ok"})
    assert not silent.allowed and silent.plugin is None


def test_hook_permission() -> None:
    class Plugin:
        @hookimpl
        def permission(self, context: HookContext, request: PermissionRequest) -> Decision:
            assert context.remaining() > 0 and context.capability == "permission"
            if "secret_component" in request.component_list:
                return Decision.deny("not here", code=108)
            return Decision.allow()

    d = dispatcher(Plugin())
    job = {"src_role": "guest", "src_party_id": "9999", "component_list": ["reader_0"]}
    assert d.permission(job).allowed
    denied = d.permission({**job, "component_list": ["secret_component"]})
    assert (denied.allowed, denied.code) == (False, 108)


def test_hook_upload(tmp_path: Path) -> None:
    class Plugin:
        @hookimpl
        def upload(self, request: UploadRequest) -> UploadAnswer:
            ids = list(request.ids)  # read once, as strings
            return UploadAnswer(job_id=f"{request.job_id}-{len(ids)}-{request.id_column}")

    ids = tmp_path / "ids"
    ids.write_text("id\na\nb\n")
    assert dispatcher(Plugin()).upload({"ids": ids, "job_id": "j"}).job_id == "j-2-id"
    from_iterable = {"ids": iter(["a"]), "id_column": "phone", "job_id": "j"}
    assert dispatcher(Plugin()).upload(from_iterable).job_id == "j-1-phone"


def test_hook_query() -> None:
    class Plugin:
        @hookimpl
        def query(self, request: QueryRequest) -> QueryAnswer:
            return QueryAnswer(status="running", raw_status="RUNNING:" + request.job_id)

    assert dispatcher(Plugin()).query({"job_id": "j"}).raw_status == "RUNNING:j"


def test_hook_download(tmp_path: Path) -> None:
    class Plugin:
        @hookimpl
        def download(self, request: DownloadRequest) -> DownloadAnswer:
            request.destination.write_text("id,x\n1,2\n")
            return DownloadAnswer(path=request.destination, rows=1, bytes=9)

    answer = dispatcher(Plugin()).download({"job_id": "j", "destination": tmp_path / "f.csv"})
    assert (answer.rows, (tmp_path / "f.csv").read_text()) == (1, "id,x\n1,2\n")


def test_an_unknown_capability_request_key_is_ignored() -> None:
    class Plugin:
        @hookimpl
        def query(self, request: Any) -> QueryAnswer:
            return QueryAnswer(status="success", raw_status="success")

    assert dispatcher(Plugin()).query({"job_id": "j", "newer_field": 1}).status == "success"


def test_party_ids_may_be_yaml_integers_as_fate_flow_sends_them() -> None:
    """FATE Flow 1.11 takes party_id from service_conf.yaml, where it is usually an integer."""
    sign = SignatureRequest.model_validate({"party_id": 9999, "body": {}})
    site = SiteAuthenticationRequest.model_validate({"src_party_id": 10000, "site_signature": "s"})
    job = PermissionRequest.model_validate(
        {"src_role": "guest", "src_party_id": 9999, "role": "host", "party_id": 10000}
    )
    assert (sign.party_id, site.src_party_id) == ("9999", "10000")
    assert (job.src_party_id, job.party_id) == ("9999", "10000")
    assert SignatureRequest.model_validate({"party_id": 9999.0}).party_id == "9999"
    schema = PermissionRequest.model_json_schema()["properties"]["src_party_id"]
    assert {"type": "integer"} in schema["anyOf"]  # the gateway's OpenAPI says so too
    with pytest.raises(ValueError, match="site_signature"):
        SiteAuthenticationRequest.model_validate({"src_party_id": 1, "site_signature": 1})


@pytest.mark.parametrize("spelling", ["APP_KEY", "app_key", "App-Key", "app-key"])
def test_plugins_read_headers_in_any_spelling(spelling: str) -> None:
    class Local:
        @hookimpl
        def client_authentication(self, request: ClientAuthenticationRequest) -> Decision:
            headers = request.headers
            same = headers["APP_KEY"] == headers["app_key"] == headers.get("App-Key") == "k"
            absent = headers.get("NONCE") is None and headers.get("NONCE", "-") == "-"
            ok = same and absent and "Timestamp" in headers
            return Decision.allow() if ok else Decision.deny("no")

    request = {"full_path": "/v1/job/list", "headers": {spelling: "k", "TIMESTAMP": "1"}}
    assert dispatcher(Local()).client_authentication(request).allowed
