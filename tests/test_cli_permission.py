"""`fate-registry permission ...`: grant, revoke and list what the grants plugin decides with,
on the database and through a real `serve`; errors that name the option."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import clear_settings, error_line, invoke, ok
from serve_process import Served, serve

from fate_registry import Registry, Settings
from fate_registry.capabilities import PermissionRequest
from fate_registry.cli import EXIT_INVALID
from fate_registry.client import RegistryClient
from fate_registry.dispatch import Dispatcher
from fate_registry.errors import InvalidRegistration
from fate_registry.plugins import build_plugin_manager


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from each test alone; the test suite's own variables stay."""
    clear_settings(monkeypatch, keep_test=True)


def entries(db: str) -> list[tuple[str, str, str, str, str]]:
    with Registry(db, cache_ttl=0) as registry:
        return [(e.party_id, e.kind, e.value, e.role, e.effect) for e in registry.grants.entries()]


@pytest.fixture
def db(sqlite_url: str) -> str:
    return sqlite_url


# -- what the grants plugin decides -------------------------------------------------------------


class Decider:
    """The grants plugin on a database, deciding as FATE Flow asks; no cache, so each decision
    sees what the command line has just written."""

    def __init__(self, db: str) -> None:
        settings = Settings(
            db_url=db, grants={"enabled": True}, hooks={"permission": {"cache": False}}
        )
        self.registry = Registry(db, settings=settings, cache_ttl=0)
        self.hooks = Dispatcher(self.registry, plugins=build_plugin_manager(load={"grants"}))

    def __call__(
        self, src: str, components: list[str], datasets: Sequence[str] = (), role: str = "guest"
    ) -> tuple[bool, str]:
        request = PermissionRequest.model_validate(
            {
                "src_role": role,
                "src_party_id": src,
                "role": "host",
                "party_id": "9999",
                "component_list": components,
                "dataset_list": [
                    {"namespace": d.partition(":")[0], "name": d.partition(":")[2]}
                    for d in datasets
                ],
            }
        )
        outcome = self.hooks.permission(request)
        assert outcome.plugin == "grants", outcome.message
        return outcome.allowed, outcome.message

    def close(self) -> None:
        self.hooks.close()
        self.registry.close()


@pytest.fixture
def decide(db: str) -> Iterator[Decider]:
    decider = Decider(db)
    yield decider
    decider.close()


def test_grant_changes_what_the_plugin_decides(db: str, decide: Decider) -> None:
    assert decide("10000", ["reader"]) == (False, "party 10000 has no grants here")

    ok(invoke("--db", db, "permission", "grant", "--party", "10000", "--component",
              "reader,dataio", "--dataset", "experiment:breast_hetero_guest"))  # fmt: skip
    assert decide("10000", ["reader", "dataio"], ["experiment:breast_hetero_guest"])[0]
    allowed, message = decide("10000", ["reader", "heterolr"])
    assert not allowed and "component(s) not granted to party 10000: heterolr" in message

    ok(invoke("--db", db, "permission", "grant", "--party", "10000", "--component", "*"))
    assert decide("10000", ["heterolr"])[0]

    ok(invoke("--db", db, "permission", "grant", "--party", "*", "--component", "writer",
              "--deny"))  # fmt: skip
    allowed, message = decide("10000", ["writer"])
    assert not allowed and "component(s) denied to party 10000: writer" in message

    ok(invoke("--db", db, "permission", "revoke", "--party", "10000", "--all"))
    assert decide("10000", ["reader"]) == (False, "party 10000 has no grants here")


def test_a_role_condition_is_decided_by_the_role(db: str, decide: Decider) -> None:
    ok(invoke("--db", db, "permission", "grant", "--party", "10002", "--component", "reader",
              "--role", "guest"))  # fmt: skip

    assert decide("10002", ["reader"], role="guest")[0]
    assert not decide("10002", ["reader"], role="host")[0]

    ok(invoke("--db", db, "permission", "revoke", "--party", "10002", "--component", "reader",
              "--role", "host"))  # fmt: skip
    assert decide("10002", ["reader"], role="guest")[0]  # another role's entry: still there
    ok(invoke("--db", db, "permission", "revoke", "--party", "10002", "--component", "reader"))
    assert not decide("10002", ["reader"], role="guest")[0]


# -- grant, revoke, list ------------------------------------------------------------------------


def test_grant_prints_what_it_granted(db: str) -> None:
    plain = ok(invoke("--db", db, "permission", "grant", "--party", "10000", "--component",
                      "Reader", "--component", "dataio", "--dataset", "experiment:a",
                      "--role", "guest"))  # fmt: skip
    denied = ok(invoke("--db", db, "permission", "grant", "--party", "*", "--dataset",
                       "private:*", "--deny", "--json"))  # fmt: skip

    assert plain.stdout == (
        "granted components reader, dataio and dataset experiment:a to party 10000 in role guest\n"
    )
    assert json.loads(denied.stdout) == [
        {"party_id": "*", "kind": "dataset", "value": "private:*", "role": "*", "effect": "deny"}
    ]
    assert entries(db) == [
        ("*", "dataset", "private:*", "*", "deny"),
        ("10000", "component", "dataio", "guest", "allow"),
        ("10000", "component", "reader", "guest", "allow"),
        ("10000", "dataset", "experiment:a", "guest", "allow"),
    ]


def test_a_grant_again_changes_the_effect(db: str) -> None:
    ok(invoke("--db", db, "permission", "grant", "--party", "1", "--component", "reader"))
    denied = ok(invoke("--db", db, "permission", "grant", "--party", "1", "--component",
                       "reader", "--deny"))  # fmt: skip

    assert denied.stdout == "denied component reader to party 1\n"
    assert entries(db) == [("1", "component", "reader", "*", "deny")]


def test_values_are_stored_in_the_form_requests_are_compared_in(db: str) -> None:
    ok(invoke("--db", db, "permission", "grant", "--party", " 010000", "--component",
              " Reader ", "--dataset", " experiment : breast ", "--role", "GUEST"))  # fmt: skip
    ok(invoke("--db", db, "permission", "grant", "--party", "00", "--component", "dataio"))

    assert entries(db) == [
        ("0", "component", "dataio", "*", "allow"),
        ("10000", "component", "reader", "guest", "allow"),
        ("10000", "dataset", "experiment:breast", "guest", "allow"),
    ]
    listed = ok(invoke("--db", db, "permission", "list", "--party", "0010000")).stdout
    assert len(listed.splitlines()) == 2
    revoked = ok(invoke("--db", db, "permission", "revoke", "--party", "10000", "--component",
                        "READER", "--role", " Guest"))  # fmt: skip
    assert revoked.stdout == "revoked 1 entry of party 10000\n"


def test_list_in_every_format(db: str) -> None:
    ok(invoke("--db", db, "permission", "grant", "--party", "10000", "--component", "reader",
              "--dataset", "ns:n"))  # fmt: skip
    ok(invoke("--db", db, "permission", "grant", "--party", "10001", "--dataset", "*"))

    plain = ok(invoke("--db", db, "permission", "list")).stdout.splitlines()
    one = json.loads(ok(invoke("--db", db, "permission", "list", "--party", "10001",
                               "--json")).stdout)  # fmt: skip
    as_yaml = yaml.safe_load(ok(invoke("--db", db, "permission", "list", "-o", "yaml")).stdout)
    table = ok(invoke("--db", db, "permission", "list", "-o", "table")).stdout

    assert [line.split("\t")[:5] for line in plain] == [
        ["10000", "component", "reader", "*", "allow"],
        ["10000", "dataset", "ns:n", "*", "allow"],
        ["10001", "dataset", "*", "*", "allow"],
    ]
    assert all(len(line.split("\t")) == 7 for line in plain)
    assert [(row["party_id"], row["value"]) for row in one] == [("10001", "*")]
    assert set(one[0]) == {"party_id", "kind", "value", "role", "effect", "created_at"}
    assert len(as_yaml) == 3
    assert "effect" in table and "ns:n" in table


def test_revoke_says_how_many_and_nothing_is_not_an_error(db: str) -> None:
    ok(invoke("--db", db, "permission", "grant", "--party", "10000", "--component", "reader",
              "--component", "dataio", "--dataset", "a:b"))  # fmt: skip

    one = ok(invoke("--db", db, "permission", "revoke", "--party", "10000", "--dataset", "*"))
    two = ok(invoke("--db", db, "permission", "revoke", "--party", "10000", "--component",
                    "reader,dataio", "--json"))  # fmt: skip
    none = ok(invoke("--db", db, "permission", "revoke", "--party", "10000", "--all"))

    assert one.stdout == "revoked 1 entry of party 10000\n"
    assert json.loads(two.stdout) == {"party_id": "10000", "deleted": 2}
    assert none.stdout == "nothing to revoke: no entry of party 10000 matched\n"
    assert entries(db) == []


BAD = [
    (["grant", "--party", "10000"], "error: give --component or --dataset (or both) to grant"),
    (["grant", "--party", "bad party", "--component", "reader"],
     "error: --party: 'bad party' is not a party id: a decimal integer such as 10000, or '*' "
     "for every party"),
    (["grant", "--party", "\uff11\uff10\uff10\uff10\uff10", "--component", "reader"],
     "error: --party: '\uff11\uff10\uff10\uff10\uff10' is not a party id: its digits must be "
     "ASCII 0-9, not full-width or another script's"),
    (["grant", "--party", "1", "--component", "bad name"],
     "error: --component: 'bad name' is not a component name (ASCII letters, digits, '_', "
     "'.', '-')"),
    (["grant", "--party", "1", "--component", "reader,"],
     "error: --component: '' is not a component name (ASCII letters, digits, '_', '.', '-')"),
    (["grant", "--party", "1", "--dataset", "breast"],
     "error: --dataset: must be {namespace, name}, 'namespace:name', 'namespace:*' or '*'"),
    (["grant", "--party", "1", "--dataset", ":breast"],
     "error: --dataset: namespace must be a non-empty string"),
    (["grant", "--party", "1", "--dataset", "ns:"], "error: --dataset: name must be a non-empty "
     "string"),
    (["grant", "--party", "1", "--component", "reader", "--role", "guest1"],
     "error: --role: 'guest1' is not a role: guest, host, arbiter, local or '*'"),
    (["revoke", "--party", "1"], "error: give --component, --dataset or --all to revoke"),
    (["revoke", "--party", "1", "--dataset", "x"],
     "error: --dataset: must be {namespace, name}, 'namespace:name', 'namespace:*' or '*'"),
    (["list", "--party", "a b"],
     "error: --party: 'a b' is not a party id: a decimal integer such as 10000, or '*' for "
     "every party"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_names_the_option_and_changes_nothing(
    db: str, args: list[str], message: str
) -> None:
    ok(invoke("--db", db, "permission", "grant", "--party", "1", "--component", "dataio"))

    assert error_line(invoke("--db", db, "permission", *args), EXIT_INVALID) == message
    assert entries(db) == [("1", "component", "dataio", "*", "allow")]


def test_every_command_on_each_backend(db_url: str) -> None:
    """grant, list and revoke on SQLite, PostgreSQL and MariaDB."""
    ok(invoke("--db", db_url, "permission", "grant", "--party", "10000", "--component",
              "reader", "--dataset", "experiment:breast", "--role", "guest"))  # fmt: skip
    ok(invoke("--db", db_url, "permission", "grant", "--party", "*", "--component", "writer",
              "--deny"))  # fmt: skip

    listed = json.loads(ok(invoke("--db", db_url, "permission", "list", "--json")).stdout)
    revoked = json.loads(ok(invoke("--db", db_url, "permission", "revoke", "--party", "10000",
                                   "--all", "--json")).stdout)  # fmt: skip

    assert [(row["party_id"], row["value"], row["effect"]) for row in listed] == [
        ("*", "writer", "deny"),
        ("10000", "reader", "allow"),
        ("10000", "experiment:breast", "allow"),
    ]
    assert revoked == {"party_id": "10000", "deleted": 2}
    assert entries(db_url) == [("*", "component", "writer", "*", "deny")]


# -- remote mode --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def remote_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('permission-remote') / 'registry.db'}"


@pytest.fixture(scope="module")
def server(remote_db: str) -> Iterator[Served]:
    with serve(remote_db) as served:
        yield served


def _clear(db: str) -> None:
    with Registry(db, cache_ttl=0) as registry:
        for party in {entry.party_id for entry in registry.grants.entries()}:
            registry.grants.revoke(party, everything=True)


@pytest.fixture
def remote(remote_db: str, server: Served) -> str:
    """The served database as each test starts it: no grants."""
    _clear(remote_db)
    return server.url


SAME = [
    ["grant", "--party", "10000", "--component", "reader,dataio", "--dataset", "ns:a"],
    ["grant", "--party", "10000", "--component", "reader", "--role", "guest", "--json"],
    ["grant", "--party", "10001", "--dataset", "*", "--dataset", "ns:b"],
    ["grant", "--party", "*", "--dataset", "shared:*", "-o", "yaml"],
    ["grant", "--party", "10000", "--component", "bad name"],
    ["grant", "--party", "10000"],
    ["list", "--party", "10000"],
    ["list", "--party", "10000", "--json"],
    ["list", "--party", "*", "-o", "yaml"],
    ["list", "--party", "10009"],
    ["revoke", "--party", "10000", "--component", "reader", "--role", "guest"],
    ["revoke", "--party", "10001", "--dataset", "*", "--json"],
    ["revoke", "--party", "10000", "--all"],
    ["revoke", "--party", "10000", "--all"],
    ["list", "--party", "10000"],
]


def test_commands_are_the_same_remote_and_local(
    remote_db: str, remote: str, tmp_path: Path
) -> None:
    """The same sequence on a local database and through `serve`: the same output and exit
    code at each step (times of day aside), and the same entries after."""
    local_db = f"sqlite:///{tmp_path / 'local.db'}"

    for args in SAME:
        local = invoke("--db", local_db, "permission", *args)
        through = invoke("--url", remote, "permission", *args)
        assert through.exit_code == local.exit_code, (args, local.output, through.output)
        assert _timeless(through.stdout) == _timeless(local.stdout), args
        assert through.stderr == local.stderr, args
    assert entries(remote_db) == entries(local_db) != []


def _timeless(text: str) -> str:
    import re

    return re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\+00:00|Z)?", "T", text)


def test_a_remote_grant_changes_what_the_plugin_decides(remote_db: str, remote: str) -> None:
    decide = Decider(remote_db)
    try:
        assert not decide("10000", ["reader"])[0]
        ok(invoke("--url", remote, "permission", "grant", "--party", "10000", "--component",
                  "reader"))  # fmt: skip
        assert decide("10000", ["reader"])[0]
        ok(invoke("--url", remote, "permission", "revoke", "--party", "10000", "--all"))
        assert not decide("10000", ["reader"])[0]
    finally:
        decide.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grant", "--party", "1", "--component", "reader", "--deny"],
         "error: --deny: deny entries cannot be granted over the HTTP API (FATE's route has no "
         "such field): run it without --url on a host that reaches the database"),
        (["list"],
         "error: --party: required over --url (the HTTP API lists one party's grants at a "
         "time)"),
    ],
    ids=["grant --deny", "list"],
)  # fmt: skip
def test_what_the_api_cannot_offer_is_refused_in_one_line(
    remote_db: str, remote: str, args: list[str], message: str
) -> None:
    assert error_line(invoke("--url", remote, "permission", *args), EXIT_INVALID) == message
    assert entries(remote_db) == []


def test_the_client_has_the_registrys_grant_methods(remote_db: str, remote: str) -> None:
    with RegistryClient(remote) as client, Registry(remote_db, cache_ttl=0) as registry:
        granted = client.grants.grant(
            10000, components=["Reader", "*"], datasets=["ns:a", "*"], role="guest"
        )
        assert [(e.kind, e.value, e.role) for e in granted] == [
            ("component", "reader", "guest"),
            ("component", "*", "guest"),
            ("dataset", "ns:a", "guest"),
            ("dataset", "*", "guest"),
        ]
        stored = registry.grants.entries("10000")
        assert client.grants.entries("10000") == stored
        assert sorted((e.kind, e.value) for e in stored) == sorted(
            (e.kind, e.value) for e in granted
        )
        assert client.grants.revoke("10000", datasets=["*", "ns:a"]) == 2
        assert client.grants.revoke("10000", everything=True) == 2
        assert client.grants.revoke("10000", everything=True) == 0
        refusals: list[tuple[Any, str]] = [
            (lambda: client.grants.grant("1", components=["x"], deny=True), "deny: "),
            (lambda: client.grants.grant("1"), "component: give a component or a dataset"),
            (lambda: client.grants.entries(), "party_id: give a party"),
            (lambda: client.grants.revoke("1"), "component: give a component or a dataset"),
            (lambda: client.grants.grant("a b", components=["x"]), "party_id: 'a b' is not"),
        ]
        for call, message in refusals:
            with pytest.raises(InvalidRegistration) as raised:
                call()
            assert str(raised.value).startswith(message)
        assert registry.grants.entries() == []
