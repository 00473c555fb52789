"""What the casbin plugin decides, as a table of cases, through the registry's own dispatch
(``reg.hooks.permission``, the plugin found through its entry point)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import open_registry, serve

from fate_registry import Registry
from fate_registry.dispatch import Dispatcher
from fate_registry.fate2 import Permission2
from fate_registry.plugins import build_plugin_manager
from fate_registry_casbin import policies_of

GRANTS: list[dict[str, Any]] = [
    {"party": "10000", "components": ["reader", "dataio"]},
    {"party": "10000", "datasets": ["experiment:breast_hetero_guest"]},
    {"party": "10001", "components": ["*"], "datasets": ["*"]},
    {"party": "consortium", "components": ["heterolr", "homo_nn"]},
    {"party": "consortium", "datasets": [{"namespace": "shared", "name": "census"}]},
    {"party": "10003", "components": ["dataio"]},
    {"party": "*", "components": ["evaluation"]},
    {"party": "10005", "datasets": ["experiment:secret:x"]},  # namespace experiment
]
ROLES = [("10002", "consortium"), ("10003", "consortium"), ("10004", "analysts")]
ROLES += [("analysts", "consortium")]  # a role of a role


def job(
    src: str | int,
    components: list[str] | None = None,
    datasets: list[Any] | None = None,
    *,
    role: str = "host",
    party_id: str | int = "9999",
) -> dict[str, Any]:
    """A permission request as FATE Flow 1.11 sends it (it sends no source role)."""
    return {
        "src_role": None,
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


CASES = [
    # (case, request, allowed, words in the message)
    ("a granted component", job("10000", ["reader"]), True, "granted to party 10000"),
    ("granted components and dataset", job("10000", ["reader", "dataio"],
        ["experiment:breast_hetero_guest"]), True, "granted to party 10000"),
    ("component names compare lower-case", job("10000", ["Reader"]), True, ""),
    ("a component not granted", job("10000", ["heterolr"]), False,
        "component(s) not granted to party 10000: heterolr"),
    ("every refused component named", job("10000", ["reader", "heterolr", "homo_nn"]), False,
        "component(s) not granted to party 10000: heterolr, homo_nn"),
    ("a granted dataset", job("10000", [], ["experiment:breast_hetero_guest"]), True, ""),
    ("a dataset not granted", job("10000", ["reader"], ["experiment:other"]), False,
        "dataset(s) not granted to party 10000: experiment:other"),
    ("a dataset as namespace:name", job("10000", [], ["experiment:breast_hetero_guest"]),
        True, ""),
    ("a dataset that is not {namespace, name}", job("10001", [], [{"namespace": "x"}]), False,
        "invalid permission request: dataset_list[0]: name must be a non-empty string"),
    ("both refusals named", job("10000", ["heterolr"], ["a:b"]), False,
        "component(s) not granted to party 10000: heterolr; dataset(s) not granted to party "
        "10000: a:b"),
    ("the component wildcard", job("10001", ["heterolr", "secureboost"]), True, ""),
    ("the dataset wildcard", job("10001", [], ["any:thing"]), True, ""),
    ("a component through a role", job("10002", ["heterolr"]), True, ""),
    ("a dataset through a role", job("10002", [], ["shared:census"]), True, ""),
    ("a role grants only its own", job("10002", ["reader"]), False,
        "component(s) not granted to party 10002: reader"),
    ("a role's and the party's own", job("10003", ["homo_nn", "dataio"]), True, ""),
    ("a role of a role", job("10004", ["heterolr"], ["shared:census"]), True, ""),
    ("a party without the role", job("10000", ["homo_nn"]), False,
        "not granted to party 10000: homo_nn"),
    ("an unknown party", job("20000", ["reader"]), False,
        "component(s) not granted to party 20000: reader"),
    ("a grant to every party", job("20000", ["evaluation"]), True, ""),
    ("a grant to every party, with the party's own", job("10000", ["reader", "evaluation"]),
        True, ""),
    ("party ids as numbers", job(10000, ["reader"], party_id=9999), True, ""),
    ("exempt: role local", job("20000", ["reader"], role="local"), True, "exempt: a local job"),
    ("exempt: party id 0", job("20000", ["reader"], party_id="0"), True, "exempt"),
    ("exempt: a party asking itself", job("9999", ["reader"], party_id="9999"), True,
        "exempt: a party asking itself"),
    ("nothing asked (FATE Flow allows)", job("20000"), True, "granted to party 20000"),
    ("a component asked twice", job("10000", ["heterolr", "heterolr"]), False,
        "not granted to party 10000: heterolr"),
]  # fmt: skip


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('decisions') / 'registry.db'}"
    with open_registry(url) as reg:
        policies = policies_of(reg)
        for grant in GRANTS:
            policies.grant(**grant)
        for party, role in ROLES:
            policies.assign(party, role)
    return url


@pytest.fixture(scope="module")
def registry(database: str) -> Iterator[Registry]:
    with open_registry(database) as reg:
        yield reg


@pytest.mark.parametrize(("request_", "allowed", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_permission_case(
    registry: Registry, request_: dict[str, Any], allowed: bool, words: str
) -> None:
    outcome = registry.hooks.permission(request_)
    assert (outcome.allowed, outcome.plugin, outcome.failed) == (allowed, "casbin", False), (
        outcome.message
    )
    assert words in outcome.message
    assert outcome.code == (0 if allowed else 101 if "invalid" in words else 108)


def as_fate_flow_2_asks(request: dict[str, Any]) -> Any:
    """The same job asked by FATE Flow 2.x, as the gateway's /v2/hook maps it: the initiator
    as the source party, this site's role and party from the create request."""
    src, role, party = request["src_party_id"], request["role"], request["party_id"]
    sent = {
        "party_id": src,
        "roles": [{"role": "guest", "party_id": [src]}, {"role": role, "party_id": [party]}],
        "component_list": request["component_list"],
        "dataset_list": request["dataset_list"],
        "dest_role": role,
        "dest_party_id": party,
    }
    return Permission2.model_validate(sent).contract()


@pytest.mark.parametrize(("request_", "allowed", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_fate_flow_2x_gets_the_same_answer(
    registry: Registry, request_: dict[str, Any], allowed: bool, words: str
) -> None:
    outcome = registry.hooks.permission(as_fate_flow_2_asks(request_))
    assert (outcome.allowed, outcome.plugin) == (allowed, "casbin"), outcome.message
    assert words in outcome.message


def test_the_table_has_at_least_20_cases() -> None:
    assert len(CASES) >= 20


def test_a_refused_dataset_is_named_as_namespace_and_name(registry: Registry) -> None:
    outcome = registry.hooks.permission(job("10000", [], ["experiment:other", "x:y"]))
    assert outcome.message == "dataset(s) not granted to party 10000: experiment:other, x:y"


# -- switches --------------------------------------------------------------------------------


def test_the_component_check_can_be_switched_off(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FATE_CASBIN_COMPONENTS", "false")
    assert registry.hooks.permission(job("10000", ["heterolr"])).allowed
    refused = registry.hooks.permission(job("10000", ["heterolr"], ["a:b"]))
    assert refused.message == "dataset(s) not granted to party 10000: a:b"


def test_the_dataset_check_can_be_switched_off(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FATE_CASBIN_DATASETS", "off")
    assert registry.hooks.permission(job("10000", ["reader"], ["a:b"])).allowed
    assert not registry.hooks.permission(job("10000", ["heterolr"], ["a:b"])).allowed


def test_a_switch_that_is_not_a_boolean_fails_naming_it(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FATE_CASBIN_DATASETS", "maybe")
    outcome = registry.hooks.permission(job("10000", ["reader"]))
    assert (outcome.allowed, outcome.failed) == (False, True)
    assert "FATE_CASBIN_DATASETS must be true or false" in str(outcome.error)


# -- the chain is the switch -------------------------------------------------------------------


def test_with_the_default_chain_it_has_no_opinion(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with open_registry(url) as reg:
        policies_of(reg).grant("10000", components=["reader"])
        assert reg.hooks.permission(job("20000", ["reader"])).plugin == "casbin"
    with open_registry(url, switched_on=False) as reg:
        assert reg.settings.hooks.capability("permission").chain is None
        dispatcher = Dispatcher(reg, plugins=build_plugin_manager(load={"casbin"}))
        outcome = dispatcher.permission(job("20000", ["reader"]))
        dispatcher.close()
    assert (outcome.plugin, outcome.allowed) == (None, False)
    assert "no plugin had an opinion on permission (chain: casbin)" in outcome.message


def test_a_decision_is_cached_and_a_grant_ends_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with open_registry(url, cache=True, deny_ttl=60) as reg:
        first = reg.hooks.permission(job("10000", ["reader"]))
        again = reg.hooks.permission(job("10000", ["reader"]))
        policies_of(reg).grant("10000", components=["reader"])
        after = reg.hooks.permission(job("10000", ["reader"]))
    assert (first.allowed, again.allowed, again.cached) == (False, False, True)
    assert (after.allowed, after.cached) == (True, False)


# -- other spellings of a policy's values (issue 17) --------------------------------------------

SPELLINGS = [
    # (case, request, code, words): each other spelling is decided as the policy's own
    ("a party id with a leading zero", job("010000", ["reader"]), 0, "granted to party 10000"),
    ("a party id with spaces around it", job(" 10000 ", ["reader"]), 0,
        "granted to party 10000"),
    ("a party id in full-width digits", job("\uff11\uff10\uff10\uff10\uff10", ["reader"]), 101,
        "src_party_id: '\uff11\uff10\uff10\uff10\uff10' is not a party id"),
    ("a party id with a sign", job("+10000", ["reader"]), 101,
        "src_party_id: '+10000' is not a party id"),
    ("a component in capitals with a space", job("10000", ["READER "]), 0,
        "granted to party 10000"),
    ("a component in full-width letters", job("10000", ["\uff52eader"]), 101,
        "component_list[0]: '\uff52eader' is not a component name"),
    ("a dataset with spaces around its parts", job("10000", [],
        [{"namespace": " experiment", "name": "breast_hetero_guest "}]), 0,
        "granted to party 10000"),
    ("a namespace with ':' is not another namespace", job("10005", [],
        [{"namespace": "experiment:secret", "name": "x"}]), 108,
        "dataset(s) not granted to party 10005: experiment:secret:x"),
    ("a source role that is no FATE role", {**job("10000", ["reader"]),
        "src_role": "gue\u017ft"}, 101, "src_role: 'gue\u017ft' is not a role"),
]  # fmt: skip


@pytest.fixture(scope="module")
def gateway(database: str) -> Iterator[str]:
    env = {
        "FATE_REGISTRY_LOAD_PLUGINS": "casbin",
        "FATE_REGISTRY_HOOKS__PERMISSION__CHAIN": "casbin",
        "FATE_REGISTRY_HOOKS__PERMISSION__CACHE": "false",
    }
    with serve(database, env=env) as base:
        yield f"{base}/v1/hook/permission"


@pytest.mark.parametrize(("request_", "code", "words"), [c[1:] for c in SPELLINGS],
                         ids=[c[0] for c in SPELLINGS])  # fmt: skip
def test_another_spelling_is_decided_as_the_policy(
    registry: Registry, request_: dict[str, Any], code: int, words: str
) -> None:
    outcome = registry.hooks.permission(request_)
    assert (outcome.code, outcome.plugin) == (code, "casbin"), outcome.message
    assert words in outcome.message


@pytest.mark.parametrize(("request_", "code", "words"), [c[1:] for c in SPELLINGS],
                         ids=[c[0] for c in SPELLINGS])  # fmt: skip
def test_another_spelling_is_decided_as_the_policy_through_the_gateway(
    gateway: str, request_: dict[str, Any], code: int, words: str
) -> None:
    reply = requests.post(gateway, json=request_, timeout=30).json()
    assert reply["code"] == code, reply
    assert words in reply["msg"]
