"""The grants plugin: FATE's permission model plus deny entries, role conditions and refusals
that name what was refused, as a table of cases; grants shared through the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pydantic import ValidationError
from serve_process import serve

from fate_registry import Registry, Settings
from fate_registry.capabilities import PermissionRequest
from fate_registry.dispatch import Dispatcher
from fate_registry.plugins import build_plugin_manager

GRANTS: list[dict[str, Any]] = [
    {"party_id": "10000", "components": ["reader", "dataio"]},
    {"party_id": "10000", "datasets": ["experiment:breast_hetero_guest", "shared:*"]},
    {"party_id": "10001", "components": ["*"], "datasets": ["*"]},
    {
        "party_id": "10001",
        "components": ["homo_nn"],
        "datasets": ["private:salaries"],
        "deny": True,
    },
    {"party_id": "10002", "components": ["reader"], "role": "guest"},
    {"party_id": "10002", "datasets": ["*"], "role": "host"},
    {"party_id": "10003", "components": ["*"]},
    {"party_id": "10003", "components": ["reader"], "role": "host", "deny": True},
    {"party_id": "*", "components": ["writer"], "deny": True},
]


def make_hooks(db_url: str, **grants: Any) -> tuple[Registry, Dispatcher]:
    settings = Settings(
        db_url=db_url,
        grants={"enabled": True, **grants},
        hooks={"permission": {"cache": False}},
    )
    registry = Registry(db_url, settings=settings, cache_ttl=0)
    return registry, Dispatcher(registry, plugins=build_plugin_manager(load={"grants"}))


@pytest.fixture
def hooks(sqlite_url: str) -> Iterator[Dispatcher]:
    registry, dispatcher = make_hooks(sqlite_url)
    for grant in GRANTS:
        registry.grants.grant(**grant)
    yield dispatcher
    dispatcher.close()
    registry.close()


def job(
    src: str,
    components: list[str] | None = None,
    datasets: list[Any] | None = None,
    *,
    src_role: str | None = "guest",
    role: str = "host",
    party_id: str = "9999",
) -> PermissionRequest:
    fields: dict[str, Any] = {
        "src_role": src_role,
        "src_party_id": src,
        "role": role,
        "party_id": party_id,
        "component_list": components or [],
        "dataset_list": [
            {"namespace": d.partition(":")[0], "name": d.partition(":")[2]}
            if isinstance(d, str)
            else d
            for d in datasets or []
        ],
    }
    try:
        return PermissionRequest.model_validate(fields)
    except ValidationError:  # a core whose src_role is not yet optional (FATE Flow sends null)
        defaults = {"initiator": None, "roles": None, "run_time_conf": None, "dsl": None}
        return PermissionRequest.model_construct(**defaults, component_parameters=None, **fields)


CASES = [
    # (case, request, allowed, words in the message)
    ("granted components and dataset", job("10000", ["reader", "dataio"],
        ["experiment:breast_hetero_guest"]), True, "granted to party 10000"),
    ("one component not granted", job("10000", ["reader", "heterolr"]), False,
        "component(s) not granted to party 10000: heterolr"),
    ("a dataset not granted", job("10000", ["reader"], ["experiment:other"]), False,
        "dataset(s) not granted to party 10000: experiment:other"),
    ("a namespace wildcard", job("10000", [], ["shared:anything"]), True, ""),
    ("a namespace wildcard stops at its namespace", job("10000", [], ["sharedx:a"]), False,
        "dataset(s) not granted to party 10000: sharedx:a"),
    ("component names compare lower-case", job("10000", ["Reader"]), True, ""),
    ("a deny beats the component wildcard", job("10001", ["reader", "homo_nn"]), False,
        "component(s) denied to party 10001: homo_nn"),
    ("the component wildcard", job("10001", ["heterolr", "reader"]), True, ""),
    ("a deny beats the dataset wildcard", job("10001", [], ["private:salaries"]), False,
        "dataset(s) denied to party 10001: private:salaries"),
    ("the dataset wildcard", job("10001", [], ["any:thing"]), True, ""),
    # FATE's table metadata is in MySQL, whose usual collations find a table whatever the case
    # and accents of its name: a deny does too (an allow stays exact, never widened)
    ("a deny whatever the dataset's case", job("10001", [], ["PRIVATE:Salaries"]), False,
        "dataset(s) denied to party 10001: PRIVATE:Salaries"),
    ("a deny whatever the dataset's accents", job("10001", [], ["private:salariés"]), False,
        "dataset(s) denied to party 10001: private:salariés"),
    ("an allow is exact in case", job("10000", [], ["EXPERIMENT:breast_hetero_guest"]), False,
        "dataset(s) not granted to party 10000: EXPERIMENT:breast_hetero_guest"),
    ("a namespace allow is exact in case", job("10000", [], ["Shared:a"]), False,
        "dataset(s) not granted to party 10000: Shared:a"),
    ("a deny for every party", job("10001", ["writer"]), False,
        "component(s) denied to party 10001: writer"),
    ("a role condition met", job("10002", ["reader"], src_role="guest"), True, ""),
    ("a role condition not met", job("10002", ["reader"], src_role="host"), False,
        "component(s) not granted to party 10002: reader"),
    ("an unknown role meets no allow condition", job("10002", ["reader"], src_role=None),
        False, "not granted to party 10002: reader"),
    ("a dataset allowed in one role", job("10002", [], ["x:y"], src_role="host"), True, ""),
    ("a conditional deny in its role", job("10003", ["reader"], src_role="host"), False,
        "component(s) denied to party 10003: reader"),
    ("an unknown role meets every deny condition", job("10003", ["reader"], src_role=None),
        False, "denied to party 10003: reader"),
    ("a conditional deny in another role", job("10003", ["reader"], src_role="guest"), True, ""),
    ("an unknown party", job("20000", ["reader"]), False, "party 20000 has no grants here"),
    ("exempt: role local", job("20000", ["reader"], role="local"), True, "exempt: a local job"),
    ("exempt: party id 0", job("20000", ["reader"], party_id="0"), True, "exempt"),
    ("exempt: a party asking itself", job("9999", ["reader"], party_id="9999"), True,
        "exempt: a party asking itself"),
    ("nothing to check", job("10000"), True, "granted to party 10000"),
    ("a dataset that is not {namespace, name}", job("10001", [], [{"namespace": "x"}]), False,
        "dataset_list[0]: name must be a non-empty string"),
    ("both refusals named", job("10000", ["heterolr"], ["a:b"]), False,
        "component(s) not granted to party 10000: heterolr; dataset(s) not granted to party "
        "10000: a:b"),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "allowed", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_permission_case(
    hooks: Dispatcher, request_: PermissionRequest, allowed: bool, words: str
) -> None:
    outcome = hooks.permission(request_)
    assert (outcome.allowed, outcome.plugin) == (allowed, "grants"), outcome.message
    assert words in outcome.message
    assert outcome.code == (0 if allowed else 101 if "dataset_list[" in words else 108)


def test_the_table_has_at_least_20_cases() -> None:
    assert len(CASES) >= 20


def test_component_and_dataset_checks_can_be_switched_off(sqlite_url: str) -> None:
    registry, hooks = make_hooks(sqlite_url, components=False, datasets=False)
    with registry:
        registry.grants.grant("10000", components=["reader"])
        assert hooks.permission(job("10000", ["heterolr"], ["a:b"])).allowed
        hooks.close()


def test_when_disabled_the_plugin_has_no_opinion(sqlite_url: str) -> None:
    registry, hooks = make_hooks(sqlite_url, enabled=False)
    with registry:
        assert hooks.permission(job("10000", ["reader"])).plugin is None
        hooks.close()


@pytest.mark.db
def test_a_revoked_grant_is_refused_on_another_node(db_url: str) -> None:
    admin, _ = make_hooks(db_url)
    node, hooks = make_hooks(db_url)
    with admin, node:
        admin.grants.grant("10000", components=["reader"])
        assert hooks.permission(job("10000", ["reader"])).allowed
        admin.grants.revoke("10000", components=["reader"])
        outcome = hooks.permission(job("10000", ["reader"]))
        assert (outcome.allowed, outcome.message) == (False, "party 10000 has no grants here")
        hooks.close()


# -- other spellings of what an entry names (issue 17) -----------------------------------------

SPELLING_GRANTS: list[dict[str, Any]] = [
    {"party_id": "10000", "components": ["*"], "datasets": ["*"]},
    {
        "party_id": "10000",
        "components": ["homo_nn"],
        "datasets": ["private:salaries"],
        "deny": True,
    },
    {"party_id": "10000", "components": ["secureboost"], "role": "guest", "deny": True},
    {"party_id": "10001", "components": ["reader"], "datasets": ["experiment:*"]},
]


def fate_job(src: Any, components: list[str], datasets: list[Any] | None = None,
             **fields: Any) -> dict[str, Any]:  # fmt: skip
    """A permission request as the gateway gets it: FATE Flow 1.11 sends src_role null and
    the job's roles."""
    return {"src_role": None, "src_party_id": src, "role": "host", "party_id": "9999",
            "roles": {"host": [9999]}, "component_list": components,
            "dataset_list": datasets or [], **fields}  # fmt: skip


SPELLINGS = [
    # (case, request, code, words): each other spelling is decided as the entry's own
    ("a role deny, role in capitals", fate_job("10000", ["secureboost"], src_role="GUEST"), 108,
        "component(s) denied to party 10000: secureboost"),
    ("a role deny, role with a trailing space", fate_job("10000", ["secureboost"],
        src_role="guest "), 108, "component(s) denied to party 10000: secureboost"),
    ("a role deny, role derived from roles as Guest", fate_job("10000", ["secureboost"],
        roles={"Guest": [10000], "host": [9999]}), 108,
        "component(s) denied to party 10000: secureboost"),
    ("a role that is no FATE role", fate_job("10000", ["reader"], src_role="gue\u017ft"), 101,
        "src_role: 'gue\u017ft' is not a role"),
    ("a dataset deny, name with a trailing space", fate_job("10000", [],
        [{"namespace": "private", "name": "salaries "}]), 108,
        "dataset(s) denied to party 10000: private:salaries"),
    ("a dataset deny, namespace with a leading space", fate_job("10000", [],
        [{"namespace": " private", "name": "salaries"}]), 108,
        "dataset(s) denied to party 10000: private:salaries"),
    ("a namespace wildcard, namespace with ':'", fate_job("10001", [],
        [{"namespace": "experiment:secret", "name": "x"}]), 108,
        "dataset(s) not granted to party 10001: experiment:secret:x"),
    ("a component deny, in capitals with a space", fate_job("10000", ["HOMO_NN "]), 108,
        "component(s) denied to party 10000: homo_nn"),
    ("a component in full-width letters", fate_job("10000", ["\uff48omo_nn"]), 101,
        "component_list[0]: '\uff48omo_nn' is not a component name"),
    ("a party deny, party id with a leading zero", fate_job("010000", ["homo_nn"]), 108,
        "component(s) denied to party 10000: homo_nn"),
    ("a party deny, party id as a number", fate_job(10000, ["homo_nn"]), 108,
        "component(s) denied to party 10000: homo_nn"),
    ("a party id in full-width digits", fate_job("\uff11\uff10\uff10\uff10\uff10", ["homo_nn"]),
        101, "src_party_id: '\uff11\uff10\uff10\uff10\uff10' is not a party id"),
    ("a party id with a sign", fate_job("+10000", ["homo_nn"]), 101,
        "src_party_id: '+10000' is not a party id"),
    ("a party id with a letter", fate_job("10000a", ["homo_nn"]), 101,
        "src_party_id: '10000a' is not a party id"),
    ("a negative party id", fate_job(-10000, ["homo_nn"]), 101,
        "src_party_id: '-10000' is not a party id"),
    ("this site's party id with a leading zero is still not 0", fate_job("10000", ["homo_nn"],
        party_id="00010"), 108, "component(s) denied to party 10000: homo_nn"),
    ("the same spellings allow what is granted", fate_job(" 010000", ["Reader "],
        [{"namespace": " a", "name": "b "}], src_role="Host"), 0, "granted to party 10000"),
]  # fmt: skip


@pytest.fixture(scope="module")
def spelling_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('spellings') / 'registry.db'}"
    with Registry(url, cache_ttl=0) as registry:
        for grant in SPELLING_GRANTS:
            registry.grants.grant(**grant)
    return url


@pytest.fixture(scope="module")
def spelling_hooks(spelling_db: str) -> Iterator[Dispatcher]:
    registry, dispatcher = make_hooks(spelling_db)
    yield dispatcher
    dispatcher.close()
    registry.close()


@pytest.fixture(scope="module")
def gateway(spelling_db: str) -> Iterator[str]:
    env = {
        "FATE_REGISTRY_LOAD_PLUGINS": "grants",
        "FATE_REGISTRY_GRANTS__ENABLED": "true",
        "FATE_REGISTRY_HOOKS__PERMISSION__CACHE": "false",
    }
    with serve(spelling_db, env=env) as served:
        yield f"{served.url}/v1/hook/permission"


@pytest.mark.parametrize(("request_", "code", "words"), [c[1:] for c in SPELLINGS],
                         ids=[c[0] for c in SPELLINGS])  # fmt: skip
def test_another_spelling_is_decided_as_the_entry(
    spelling_hooks: Dispatcher, request_: dict[str, Any], code: int, words: str
) -> None:
    outcome = spelling_hooks.permission(request_)
    assert (outcome.code, outcome.plugin) == (code, "grants"), outcome.message
    assert words in outcome.message


@pytest.mark.parametrize(("request_", "code", "words"), [c[1:] for c in SPELLINGS],
                         ids=[c[0] for c in SPELLINGS])  # fmt: skip
def test_another_spelling_is_decided_as_the_entry_through_the_gateway(
    gateway: str, request_: dict[str, Any], code: int, words: str
) -> None:
    reply = requests.post(gateway, json=request_, timeout=30).json()
    assert reply["code"] == code, reply
    assert words in reply["msg"]
