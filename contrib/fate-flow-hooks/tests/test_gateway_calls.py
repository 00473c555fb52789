"""How the hooks call the gateway, under FATE Flow 1.x and 2.x alike: the URL and token from
service_conf.yaml, a timeout, one keep-alive connection, and a refusal with a clear message, in
the codes of the FATE Flow that asked, whenever no decision can be had."""

import json
import socket

import pytest
from fate2_jobs import HOST, create_body
from fate_flow_standin import readme_service_conf

# A refusal the hooks make themselves: 1.x's EXCEPTION_ERROR and CONNECTION_ERROR, 2.x's
# Server.EXCEPTION for both.
EXCEPTION = {1: 100, 2: 6000}
CONNECTION = {1: 105, 2: 6000}


@pytest.fixture(params=[1, 2], ids=["1.x", "2.x"])
def major(request):
    return request.param


def permission(hooks, major=1):
    """A permission check, as FATE Flow ``major`` asks for one: FATE Flow's (code, message)."""
    if major == 2:
        import flask
        from fate_flow.utils.permission_utils import get_permission_parameters

        body = create_body("2.2", "host", HOST)
        with flask.request_context(path="/v2/partner/job/create", body=json.dumps(body).encode()):
            return hooks.permission_check(get_permission_parameters("host", HOST, "9999", body))
    from fate_flow.hook.common.parameters import PermissionCheckParameters

    return hooks.permission_check(
        PermissionCheckParameters(
            None, "9999", "host", "10000", {}, {"guest": [9999]}, [], [], {}, {}, {}
        )
    )


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_token_is_sent_as_a_bearer_token(start_fate_flow, gateway, major):
    permission(start_fate_flow(major, token="gateway-test-token"), major)
    assert gateway.last()["headers"]["authorization"] == "Bearer gateway-test-token"


def test_without_a_token_no_authorization_is_sent(start_fate_flow, gateway, major):
    permission(start_fate_flow(major), major)  # the README's token: ""
    assert "authorization" not in gateway.last()["headers"]
    assert gateway.last()["headers"]["user-agent"].startswith("fate-flow-hooks/")


def test_a_path_prefix_of_the_url_is_kept(start_fate_flow, gateway, major):
    permission(start_fate_flow(major, url=gateway.url + "/registry/"), major)
    assert gateway.last()["path"] == f"/registry/v{major}/hook/permission"


def test_calls_reuse_one_keep_alive_connection(start_fate_flow, gateway, major):
    hooks = start_fate_flow(major)
    for _ in range(3):
        assert permission(hooks, major).code == 0
    assert len({seen["client_port"] for seen in gateway.seen}) == 1


def test_an_unreachable_registry_refuses_without_naming_it(start_fate_flow, major):
    url = f"http://127.0.0.1:{free_port()}"
    result = permission(start_fate_flow(major, url=url), major)
    assert result.code == CONNECTION[major]
    assert result.message == (
        "fate-registry could not be reached for permission (ConnectionError); refused"
    )
    assert "127.0.0.1" not in result.message


def test_a_registry_slower_than_the_timeout_refuses(start_fate_flow, gateway, major):
    gateway.answer("permission", {"code": 0}, delay=30)
    result = permission(start_fate_flow(major, timeout=0.5), major)
    assert (result.code, result.message) == (
        CONNECTION[major],
        "fate-registry did not answer permission within 0.5 s; refused",
    )


@pytest.mark.parametrize(
    ("status", "reply"),
    [(502, b"<html>bad gateway</html>"), (200, b"[0]"), (200, {"code": "0"}), (500, {"code": 0})],
)
def test_a_reply_without_a_decision_refuses(start_fate_flow, gateway, status, reply, major):
    gateway.answer("permission", reply, status=status)
    result = permission(start_fate_flow(major), major)
    assert (result.code, result.message) == (
        EXCEPTION[major],
        f"fate-registry answered permission with HTTP {status} and no decision; refused",
    )


def test_an_http_error_that_carries_a_code_is_that_decision(start_fate_flow, gateway):
    gateway.answer("permission", {"code": 109, "msg": "authentication is required"}, status=401)
    result = permission(start_fate_flow())
    assert (result.code, result.message) == (109, "authentication is required")


def test_a_request_json_cannot_carry_refuses(start_fate_flow, gateway):
    hooks = start_fate_flow()
    from fate_flow.hook.common.parameters import SignatureParameters

    with pytest.raises(RuntimeError, match="cannot be sent as JSON"):
        hooks.site_signature(SignatureParameters(9999, {"weight": float("nan")}))
    assert gateway.seen == []


def test_without_the_section_the_hooks_load_and_refuse_until_it_is_set(
    start_fate_flow, gateway, tmp_path, major
):
    conf = readme_service_conf(major)
    section = dict(conf.pop("fate_registry"), url=gateway.url)
    hooks = start_fate_flow(major, conf=conf)
    # Loaded and registered: FATE Flow would allow everything if an import had failed.
    assert len(hooks.PERMISSION_CHECK) == len(hooks.CLIENT_AUTHENTICATION) == 1
    result = permission(hooks, major)
    assert (result.code, result.message) == (
        EXCEPTION[major],
        "fate_registry_hooks is not configured: "
        "fate_registry.url is not set in service_conf.yaml; refused",
    )
    assert gateway.seen == []
    local = tmp_path / "fate" / "conf" / "local.service_conf.yaml"
    import yaml

    local.write_text(yaml.safe_dump({"fate_registry": section}))
    assert permission(hooks, major).code == 0  # read again, no restart


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"url": "ftp://registry:21"}, "fate_registry.url must be an http:// or https:// URL"),
        ({"url": "registry:9390"}, "fate_registry.url must be an http:// or https:// URL"),
        ({"url": 9390}, "fate_registry.url must be an http:// or https:// URL"),
        ({"url": "http://u:p@registry:9390"}, "fate_registry.url must have no user, password"),
        ({"url": "http://registry:9390/?token=x"}, "fate_registry.url must have no user, password"),
        ({"url": "http://r:9390", "token": "a\nb"}, "fate_registry.token must be a string"),
        ({"url": "http://r:9390", "token": 123}, "fate_registry.token must be a string"),
        ({"url": "http://r:9390", "timeout": 0}, "fate_registry.timeout must be a number"),
        ({"url": "http://r:9390", "timeout": 301}, "fate_registry.timeout must be a number"),
        ({"url": "http://r:9390", "timeout": "10"}, "fate_registry.timeout must be a number"),
        ({"url": "http://r:9390", "timeout": True}, "fate_registry.timeout must be a number"),
        ({"url": "http://r:9390", "timeout": float("inf")}, "fate_registry.timeout must be"),
        ("http://r:9390", "fate_registry.url is not set"),
    ],
)
def test_a_wrong_setting_is_named(start_fate_flow, section, problem, major):
    start_fate_flow(major)
    from fate_registry_hooks import gateway

    with pytest.raises(gateway.Refusal) as refused:
        gateway.parse_settings(section)
    assert refused.value.code == EXCEPTION[major]
    assert problem in refused.value.message


def test_settings_are_read_with_their_defaults(start_fate_flow):
    start_fate_flow()
    from fate_registry_hooks import gateway

    settings = gateway.parse_settings({"url": "https://registry.example:9390/", "token": ""})
    assert settings == gateway.Settings("https://registry.example:9390", None, 10.0)


def test_a_local_service_conf_2x_cannot_read_refuses_without_naming_its_path(
    start_fate_flow, gateway, tmp_path
):
    conf = readme_service_conf(2)
    del conf["fate_registry"]
    hooks = start_fate_flow(2, conf=conf)
    (tmp_path / "fate" / "conf" / "local.service_conf.yaml").write_text("- not a mapping\n")
    result = permission(hooks, 2)
    assert (result.code, result.message) == (
        6000,
        "fate_registry_hooks is not configured: service_conf.yaml cannot be read (see the "
        "stat log); refused",
    )
    assert gateway.seen == []
