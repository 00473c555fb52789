"""Import and export: the native document, FATE Flow's legacy form, and all-or-nothing writes."""

from __future__ import annotations

from typing import Any

import pytest

from fate_registry import InvalidRegistration, Registry
from fate_registry.transfer import (
    DocumentError,
    dumps,
    export_document,
    guess_format,
    import_document,
    is_legacy,
    loads,
    parse,
)

LEGACY = {
    "third": {
        "host": "10.0.0.5",
        "port": 8080,
        "api": {
            "upload": {
                "uri": "/v1/upload",
                "method": "post",
                "params": {"v": "1"},
                "data": {"app": "fate"},
                "headers": {"X-Key": "k"},
            },
            "query": {"uri": "/v1/query"},
        },
    },
}


def native(*servers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"version": 1, "servers": list(servers), **extra}


def server(name: str = "THIRD", **fields: Any) -> dict[str, Any]:
    return {"name": name, "host": "10.0.0.5", "port": 8080, **fields}


def service(name: str = "upload", **fields: Any) -> dict[str, Any]:
    return {"name": name, "uri": f"/v1/{name}", **fields}


def rejection(document: Any) -> InvalidRegistration:
    with pytest.raises(InvalidRegistration) as caught:
        parse(document)
    return caught.value


# -- against the store, on every backend --------------------------------------------------------


@pytest.mark.db
def test_legacy_document_imports_servers_and_services(registry: Registry) -> None:
    assert import_document(registry, LEGACY) == (1, 2)

    upload = registry.resolve("THIRD", "upload")
    assert upload.url == "http://10.0.0.5:8080/v1/upload"
    assert (upload.method, upload.params, upload.data, upload.headers) == (
        "POST",
        {"v": "1"},
        {"app": "fate"},
        {"X-Key": "k"},
    )
    assert registry.resolve("third", "query").method == "POST"


@pytest.mark.db
def test_export_then_import_then_export_is_identical(registry: Registry) -> None:
    registry.register_server(
        "secure", "ca.example", 443, "https", ca_bundle="/etc/ca.pem", client_cert="/etc/me.pem"
    )
    registry.register_server("third", "::1", 8080)
    registry.register_service("secure", "permission", "/perm", "PUT", protocol="http")
    registry.register_service(
        "third", "upload", "/v1/upload", params={"a": [1, 2]}, data={"n": None}, headers={"H": "v"}
    )
    first = export_document(registry)

    for fmt in ("yaml", "json"):
        assert import_document(registry, loads(dumps(first, fmt), fmt)) == (2, 2)
        assert export_document(registry) == first
        assert dumps(export_document(registry), fmt) == dumps(first, fmt)


@pytest.mark.db
def test_export_writes_tls_paths_and_protocol_only_when_set(registry: Registry) -> None:
    registry.register_server("secure", "ca.example", 443, "https", ca_bundle="/etc/ca.pem")
    registry.register_service("secure", "upload", "/up")

    assert export_document(registry) == {
        "version": 1,
        "servers": [
            {
                "name": "SECURE",
                "host": "ca.example",
                "port": 443,
                "protocol": "https",
                "ca_bundle": "/etc/ca.pem",
                "services": [
                    {
                        "name": "upload",
                        "uri": "/up",
                        "method": "POST",
                        "params": {},
                        "data": {},
                        "headers": {},
                    }
                ],
            }
        ],
    }


@pytest.mark.db
def test_one_bad_entry_writes_nothing_and_is_named(registry: Registry) -> None:
    registry.register_server("kept", "kept.example", 80)
    before, revision = export_document(registry), registry.revision
    document = native(
        server("kept", host="moved.example"),
        server("third", services=[service("upload"), service("query", uri="query")]),
    )

    with pytest.raises(InvalidRegistration) as caught:
        import_document(registry, document)

    assert caught.value.entry == "servers[1] (third).services[1] (query)"
    assert caught.value.problems == [
        ("uri", "must be a path starting with '/', without scheme or host")
    ]
    assert export_document(registry) == before
    assert registry.revision == revision


@pytest.mark.db
def test_service_on_a_server_neither_in_document_nor_stored_writes_nothing(
    registry: Registry,
) -> None:
    before = export_document(registry)
    document = native(
        server("third"),
        services=[{"server": "third", **service()}, {"server": "nope", **service()}],
    )

    with pytest.raises(InvalidRegistration) as caught:
        import_document(registry, document)

    assert caught.value.entry == "services[1] (nope/upload)"
    assert caught.value.problems == [
        ("server", "server NOPE is neither in this document nor registered")
    ]
    assert export_document(registry) == before


@pytest.mark.db
def test_services_may_name_a_server_already_stored(registry: Registry) -> None:
    registry.register_server("third", "10.0.0.5", 8080)

    assert import_document(registry, {"services": [{"server": "third", **service()}]}) == (0, 1)
    assert registry.resolve("THIRD", "upload").url == "http://10.0.0.5:8080/v1/upload"


@pytest.mark.db
def test_import_moves_a_stored_server_and_its_services(registry: Registry) -> None:
    registry.register_server("third", "old.example", 80)
    registry.register_service("third", "upload", "/v1/upload")

    import_document(registry, native(server("third", host="new.example", port=81)))

    assert registry.resolve("third", "upload").url == "http://new.example:81/v1/upload"


@pytest.mark.db
def test_an_empty_registry_exports_a_document_that_imports(registry: Registry) -> None:
    document = export_document(registry)

    assert document == {"version": 1, "servers": []}
    assert import_document(registry, loads(dumps(document))) == (0, 0)


# -- parsing, no store needed --------------------------------------------------------------------


def test_a_server_twice_is_refused_naming_both_places() -> None:
    error = rejection(native(server("THIRD"), server("other"), server("third")))

    assert error.entry == "servers[2] (third)"
    assert error.problems == [
        ("name", "server THIRD is already in this document at servers[0] (THIRD)")
    ]


def test_a_service_twice_is_refused_naming_both_places() -> None:
    document = native(
        server(services=[service("upload")]), services=[{"server": "third", **service("UPLOAD")}]
    )

    error = rejection(document)

    assert error.entry == "services[0] (third/UPLOAD)"
    assert error.reason == (
        "service upload of THIRD is already in this document"
        " at servers[0] (THIRD).services[0] (upload)"
    )


def test_legacy_server_names_differing_only_in_case_are_duplicates() -> None:
    section = {"host": "h.example", "port": 80}

    error = rejection({"third": section, "THIRD": section})

    assert error.entry == "THIRD"
    assert "already in this document at third" in error.reason


@pytest.mark.parametrize(
    ("document", "entry", "field", "reason"),
    [
        (native(server(port=0)), "servers[0] (THIRD)", "port", "must be from 1 to 65535, got 0"),
        (native(server(host="http://x")), "servers[0] (THIRD)", "host", "without scheme"),
        (native({"host": "h", "port": 1}), "servers[0]", "name", "is required"),
        (native(server(colour="red")), "servers[0] (THIRD)", "colour", "is not a known field"),
        (
            native(server(services=[service(method="FETCH")])),
            "servers[0] (THIRD).services[0] (upload)",
            "method",
            "must be one of GET, POST, PUT, PATCH, DELETE",
        ),
        (
            native(server(services=[service(headers={"n": 1})])),
            "servers[0] (THIRD).services[0] (upload)",
            "headers",
            "header 'n' must have a string value",
        ),
        (
            native(server(services=[service(headers={"X-Api-Key": "\u20ac"})])),
            "servers[0] (THIRD).services[0] (upload)",
            "headers",
            "header 'X-Api-Key' holds U+20AC",
        ),
        (
            native(server(services=[service(headers={"Connection": "close"})])),
            "servers[0] (THIRD).services[0] (upload)",
            "headers",
            "header 'Connection' cannot be stored: HTTP sets it for each message or connection",
        ),
        (
            {
                "THIRD": {
                    "host": "h",
                    "port": 1,
                    "api": {"upload": {"uri": "/u", "headers": {"Upgrade": "h2c"}}},
                }
            },
            "THIRD.api.upload",
            "headers",
            "header 'Upgrade' cannot be stored: HTTP sets it for each message or connection",
        ),
        (
            native(server(services=[service(server="other")])),
            "servers[0] (THIRD).services[0] (upload)",
            "server",
            "is not a known field",
        ),
        (
            native(server(services=[{"uri": "/x"}])),
            "servers[0] (THIRD).services[0]",
            "name",
            "is required",
        ),
        (
            native(server(services={"upload": {}})),
            "servers[0] (THIRD)",
            "services",
            "must be a list",
        ),
        (native("THIRD"), None, "servers[0]", "must be a mapping of fields, not a string"),
        ({"version": 2, "servers": []}, None, "version", "must be 1, got 2"),
        ({"version": 1, "servers": "THIRD"}, None, "servers", "must be a list, not a string"),
        (native(extra=1), None, "extra", "is not a known field"),
        ({"services": [{"name": "upload", "uri": "/u"}]}, "services[0]", "server", "is required"),
        ({"THIRD": {"host": "h", "port": "80x"}}, "THIRD", "port", "integer from 1 to 65535"),
        ({"THIRD": {"port": 80}}, "THIRD", "host", "is required"),
        ({"THIRD": {"host": "h", "port": 1, "apis": {}}}, "THIRD", "apis", "is not a known field"),
        ({"THIRD": {"host": "h", "port": 1, "api": []}}, "THIRD", "api", "must be a mapping"),
        ({"THIRD": "h:1"}, None, "THIRD", "must be a mapping of fields, not a string"),
        (
            {"THIRD": {"host": "h", "port": 1, "api": {"upload": {"method": "POST"}}}},
            "THIRD.api.upload",
            "uri",
            "is required",
        ),
        (
            {"THIRD": {"host": "h", "port": 1, "api": {"bad name": {"uri": "/u"}}}},
            "THIRD.api.bad name",
            "name",
            "must be 1 to 64 characters",
        ),
    ],
)
def test_a_bad_entry_is_named_with_its_field_and_reason(
    document: Any, entry: str | None, field: str, reason: str
) -> None:
    error = rejection(document)

    assert (error.entry, error.field) == (entry, field)
    assert reason in error.reason


@pytest.mark.parametrize(
    ("document", "legacy"),
    [
        (LEGACY, True),
        ({}, True),
        ({"servers": {"host": "h", "port": 1}}, True),  # a legacy server named "servers"
        ({"servers": []}, False),
        ({"services": []}, False),
        ({"version": 1}, False),
        ({"servers": "x"}, False),
    ],
)
def test_legacy_documents_are_told_apart_from_ours(document: Any, legacy: bool) -> None:
    assert is_legacy(document) is legacy


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("THIRD:\n  host: a\nTHIRD:\n  host: b\n", "yaml", "line 3: duplicate key 'THIRD'"),
        ('{"THIRD": {}, "THIRD": {}}', "json", "duplicate key 'THIRD'"),
        ("servers: [\n", "yaml", "not valid YAML: line 2"),
        ('{"servers": ', "json", "not valid JSON: line 1 column 13"),
    ],
)
def test_unreadable_text_is_a_document_error(text: str, fmt: Any, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        loads(text, fmt)


@pytest.mark.parametrize("document", [None, [], "THIRD"])
def test_a_document_must_be_a_mapping(document: Any) -> None:
    with pytest.raises(DocumentError):
        parse(document)


@pytest.mark.parametrize(
    ("name", "text", "fmt"),
    [
        ("a.json", "x: 1", "json"),
        ("a.yml", "{}", "yaml"),
        ("a.YAML", "{}", "yaml"),
        (None, '{"version": 1}', "json"),
        (None, "{version: 1}", "yaml"),
        (None, "version: 1", "yaml"),
        ("registrations.txt", ' {"a": 1}', "json"),
    ],
)
def test_format_follows_the_extension_then_the_content(
    name: str | None, text: str, fmt: str
) -> None:
    assert guess_format(name, text) == fmt
