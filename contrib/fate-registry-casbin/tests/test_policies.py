"""Policies persist in the registry's database (SQLite, and PostgreSQL and MySQL when their
URLs are given), in a table of their own; a write on one node changes the decisions of
another; casbin's own API writes the same table; FATE Flow 1.11's own rows are read as they
are; bad input is refused naming the field, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FATE_TABLE, OTHER_TABLE, open_registry
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, inspect

from fate_registry import InvalidRegistration, Registry
from fate_registry.schema import head
from fate_registry_casbin import Policy, policies_of
from fate_registry_casbin.policies import DEFAULT_TABLE, Policies, fate_dataset


def job(src: str, components: list[str], datasets: list[dict[str, str]] | None = None) -> Any:
    return {
        "src_party_id": src,
        "role": "host",
        "party_id": "9999",
        "component_list": components,
        "dataset_list": datasets or [],
    }


def test_policies_outlive_the_registry_that_wrote_them(db_url: str) -> None:
    with open_registry(db_url) as reg:
        added = policies_of(reg).grant(
            "10000", components=["reader", "DataIO"], datasets=["experiment:breast"]
        )
        policies_of(reg).assign("10002", "consortium")
    assert added == [
        Policy("10000", "component", "reader"),
        Policy("10000", "component", "dataio"),
        Policy("10000", "dataset", "experiment:breast"),
    ]
    with open_registry(db_url) as reopened:
        policies = policies_of(reopened)
        assert policies.policies() == sorted(added)
        assert policies.roles() == [("10002", "consortium")]
        assert reopened.hooks.permission(job("10000", ["reader", "dataio"])).allowed


def test_a_grant_on_one_node_changes_the_decisions_of_another(db_url: str) -> None:
    with open_registry(db_url) as first, open_registry(db_url) as second:
        request = job("10000", ["reader"], [{"namespace": "experiment", "name": "breast"}])
        assert not second.hooks.permission(request).allowed
        policies_of(first).grant("10000", components=["reader"], datasets=["experiment:breast"])
        assert second.hooks.permission(request).allowed
        assert policies_of(first).revoke("10000", datasets=["*"]) == 1
        refused = second.hooks.permission(request)
        assert not refused.allowed
        assert refused.message == "dataset(s) not granted to party 10000: experiment:breast"


def test_a_write_is_decided_by_at_once_on_the_node_that_made_it(db_url: str) -> None:
    # a node that reads the revision only every hour still decides by its own writes
    with open_registry(db_url, cache_ttl=3600) as reg:
        policies = policies_of(reg)
        assert not reg.hooks.permission(job("10000", ["reader"])).allowed
        policies.grant("10000", components=["reader"])
        assert reg.hooks.permission(job("10000", ["reader"])).allowed
        assert policies.enforcer().remove_policy("10000", "component", "reader")
        assert not reg.hooks.permission(job("10000", ["reader"])).allowed


def test_a_role_given_on_one_node_is_seen_by_another(db_url: str) -> None:
    with open_registry(db_url) as first, open_registry(db_url) as second:
        policies_of(first).grant("consortium", components=["heterolr"])
        assert not second.hooks.permission(job("10002", ["heterolr"])).allowed
        assert policies_of(first).assign("10002", "consortium") is True
        assert second.hooks.permission(job("10002", ["heterolr"])).allowed
        assert policies_of(first).unassign("10002", "consortium") is True
        assert not second.hooks.permission(job("10002", ["heterolr"])).allowed
        assert policies_of(first).unassign("10002", "consortium") is False


def test_casbins_own_api_writes_the_same_table_and_tells_every_node(db_url: str) -> None:
    with open_registry(db_url) as first, open_registry(db_url) as second:
        enforcer = policies_of(first).enforcer()
        assert enforcer.add_policy("10000", "component", "reader")
        assert enforcer.add_grouping_policy("10001", "partners")
        assert enforcer.add_policy("partners", "dataset", fate_dataset("experiment", "breast"))
        assert second.hooks.permission(job("10000", ["reader"])).allowed
        dataset = [{"namespace": "experiment", "name": "breast"}]
        assert second.hooks.permission(job("10001", [], dataset)).allowed
        assert policies_of(second).policies("partners") == [
            Policy("partners", "dataset", "experiment:breast")
        ]
        assert enforcer.remove_policy("10000", "component", "reader")
        assert not second.hooks.permission(job("10000", ["reader"])).allowed


def test_revoke(db_url: str) -> None:
    with open_registry(db_url) as reg:
        policies = policies_of(reg)
        policies.grant("10000", components=["reader", "dataio", "*"], datasets=["a:b", "c:d"])
        policies.grant("10001", components=["reader"])
        assert policies.grant("10000", components=["reader"]) == []  # already there
        assert policies.revoke("10000", components=["dataio", "homo_nn"]) == 1
        assert policies.revoke("10000", datasets=[{"namespace": "a", "name": "b"}]) == 1
        assert policies.revoke("10000", components=["*"]) == 2  # reader and '*'
        assert policies.policies("10000") == [Policy("10000", "dataset", "c:d")]
        assert policies.revoke("10000", everything=True) == 1
        assert policies.policies() == [Policy("10001", "component", "reader")]


def test_the_policies_have_a_table_of_their_own(db_url: str) -> None:
    with open_registry(db_url) as reg:
        policies_of(reg).grant("10000", components=["reader"])
        tables = set(inspect(reg.engine).get_table_names())
    assert DEFAULT_TABLE in tables
    assert "casbin_rule" not in tables  # casbin's default table is not made
    with Registry(db_url, upgrade_empty=False) as again:  # the registry's schema is as it was
        from fate_registry.schema import current

        assert current(again.engine) == head()


def test_fate_flows_own_policy_table_is_read_as_it_is(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FATE Flow 1.11 keeps its policies in ``fate_casbin`` (v2 TEXT, v3 INTEGER), a dataset
    as ``{"name"-"...";"namespace"-"..."}``: pointed at that table, the plugin decides by
    the privileges FATE Flow granted."""
    with open_registry(db_url) as reg:
        table = Table(
            FATE_TABLE,
            MetaData(),
            Column("id", Integer, primary_key=True),
            Column("ptype", String(255)),
            Column("v0", String(255)),
            Column("v1", String(255)),
            Column("v2", Text()),
            Column("v3", Integer()),
            Column("v4", String(255)),
            Column("v5", String(255)),
        )
        with reg.engine.begin() as conn:
            table.create(conn)
            conn.execute(
                table.insert(),
                [
                    {"ptype": "p", "v0": "10000", "v1": "component", "v2": "reader"},
                    {
                        "ptype": "p",
                        "v0": "10000",
                        "v1": "dataset",
                        "v2": '{"name"-"breast_hetero_guest";"namespace"-"experiment"}',
                    },
                ],
            )
    monkeypatch.setenv("FATE_CASBIN_TABLE", FATE_TABLE)
    with open_registry(db_url) as reg:
        dataset = [{"namespace": "experiment", "name": "breast_hetero_guest"}]
        assert reg.hooks.permission(job("10000", ["reader"], dataset)).allowed
        refused = reg.hooks.permission(job("10000", ["dataio"], dataset))
        assert refused.message == "component(s) not granted to party 10000: dataio"
        assert policies_of(reg).policies() == [
            Policy("10000", "component", "reader"),
            Policy("10000", "dataset", "experiment:breast_hetero_guest"),
        ]
        policies_of(reg).grant("10000", components=["dataio"])
        assert reg.hooks.permission(job("10000", ["dataio"], dataset)).allowed
        assert DEFAULT_TABLE not in inspect(reg.engine).get_table_names()


def test_a_table_that_holds_no_policies_fails_the_decision_naming_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_registry(db_url) as reg, reg.engine.begin() as conn:
        Table(OTHER_TABLE, MetaData(), Column("id", Integer, primary_key=True)).create(conn)
    monkeypatch.setenv("FATE_CASBIN_TABLE", OTHER_TABLE)
    with open_registry(db_url) as reg:
        outcome = reg.hooks.permission(job("10000", ["reader"]))
        assert (outcome.allowed, outcome.failed, outcome.plugin) == (False, True, "casbin")
        assert f"table '{OTHER_TABLE}' is not a casbin policy table" in str(outcome.error)
        with pytest.raises(ValueError, match="FATE_CASBIN_TABLE"):
            policies_of(reg).grant("10000", components=["reader"])


# -- bad input ---------------------------------------------------------------------------------

BAD = [
    ("a component name with a space", {"components": ["hetero lr"]}, "components[0]"),
    ("a dataset without a namespace", {"datasets": [{"name": "x"}]}, "datasets[0]"),
    ("a dataset with a comma", {"datasets": ["exp:a,b"]}, "datasets[0]"),
    ("a dataset with brackets", {"datasets": ["exp:a(1)"]}, "datasets[0]"),
    ("a namespace wildcard", {"datasets": ["exp:*"]}, "datasets[0]"),
    ("nothing to grant", {"components": []}, "component"),
]


@pytest.mark.parametrize(("fields", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_grant_names_the_field_and_writes_nothing(
    registry: Registry, fields: dict[str, Any], field: str
) -> None:
    policies = policies_of(registry)
    policies.grant("10000", components=["reader"])
    with pytest.raises(InvalidRegistration) as raised:
        policies.grant("10000", **{"components": ["dataio"], **fields})  # dataio is valid
    assert [name for name, _ in raised.value.problems] == [field]
    assert policies.policies() == [Policy("10000", "component", "reader")]


def test_a_bad_party_or_role_is_refused(registry: Registry) -> None:
    policies = policies_of(registry)
    full_width = "\uff10\uff11"
    refusals = [
        (lambda: policies.grant("10 000", components=["reader"]), "party: '10 000' is not"),
        (lambda: policies.grant(full_width, components=["reader"]),
         f"party: '{full_width}' is not a party id: its digits must be ASCII 0-9"),
        (lambda: policies.assign("10000", "20000"), "role: must be a role name"),  # a party id?
        (lambda: policies.assign("*", "consortium"), "party: '*' is not a party id"),
    ]  # fmt: skip
    for call, message in refusals:
        with pytest.raises(InvalidRegistration) as raised:
            call()
        assert str(raised.value).startswith(message)
    assert policies.policies() == [] and policies.roles() == []


def test_a_bad_table_name_is_refused_naming_the_variable(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FATE_CASBIN_TABLE", "rules; drop")
    with pytest.raises(ValueError, match="FATE_CASBIN_TABLE: 'rules; drop' is not a table name"):
        Policies(registry)


# -- the canonical form (issue 17) -------------------------------------------------------------


def test_values_are_written_in_the_form_requests_are_compared_in(registry: Registry) -> None:
    policies = policies_of(registry)
    policies.grant(" 010000", components=[" Reader "], datasets=[" experiment : breast "])
    policies.grant(" consortium ", components=["heterolr"])
    policies.assign(10002, " consortium")
    assert policies.policies() == [
        Policy("10000", "component", "reader"),
        Policy("10000", "dataset", "experiment:breast"),
        Policy("consortium", "component", "heterolr"),
    ]
    assert policies.roles() == [("10002", "consortium")]
    assert policies.policies("010000") == policies.policies(10000) != []
    assert policies.revoke("00010000", everything=True) == 2


def test_a_policy_no_request_can_match_is_named_in_a_warning(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    """casbin's own API checks nothing: a party with a leading zero (as an older version
    wrote it too) matches no request, which is compared as 10000."""
    policies = policies_of(registry)
    policies.enforcer().add_policy("010000", "component", "reader")
    with caplog.at_level("WARNING", logger="fate_registry_casbin"):
        refused = registry.hooks.permission(job("10000", ["reader"]))
    assert not refused.allowed
    assert "1 casbin policy matches no request" in caplog.text
    assert "['010000', 'component', 'reader']" in caplog.text
