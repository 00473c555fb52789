"""Import and export of registrations: our versioned document, and FATE Flow's legacy form.

Import validates every entry before it writes anything, then writes all of them in one
transaction, so a document goes in whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal

import yaml

from .errors import InvalidRegistration, RegistryError, ServerNotFound
from .models import ServerRegistration, ServiceRegistration, validate
from .store.registrations import check_of

if TYPE_CHECKING:
    from .client import RegistryClient
    from .registry import Registry

FORMAT_VERSION = 1
Format = Literal["yaml", "json"]

SERVER_KEYS = ("name", "host", "port", "protocol", "ca_bundle", "client_cert", "services")
SERVICE_KEYS = ("name", "uri", "method", "protocol", "params", "data", "headers", "check")
LEGACY_SERVER_KEYS = ("host", "port", "protocol", "ca_bundle", "client_cert", "api")
LEGACY_SERVICE_KEYS = ("uri", "method", "protocol", "params", "data", "headers", "check")


class DocumentError(RegistryError, ValueError):
    """The text is not a YAML or JSON document of registrations."""


@dataclass
class Registrations:
    """Validated entries of one document, ready for ``Registry.register_many``."""

    servers: list[ServerRegistration] = field(default_factory=list)
    services: list[ServiceRegistration] = field(default_factory=list)
    # Where each entry sits in the document, to name it in errors found later.
    server_entries: dict[str, str] = field(default_factory=dict)
    service_entries: dict[tuple[str, str], str] = field(default_factory=dict)


# -- reading text ------------------------------------------------------------------------------


# libyaml's parser and emitter when PyYAML has them: ten times faster on large documents.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[misc,valid-type]
    """A YAML loader that refuses a key twice in one mapping instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # the base class reports unhashable keys
            if key in seen:
                line = key_node.start_mark.line + 1
                raise DocumentError(f"line {line}: duplicate key {key!r}")
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DocumentError(f"duplicate key {key!r}")
        result[key] = value
    return result


def guess_format(name: str | None, text: str) -> Format:
    """JSON for a ``.json`` name or, without a telling name, text that parses as JSON."""
    suffix = PurePath(name).suffix.lower() if name else ""
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml") or not text.lstrip().startswith("{"):
        return "yaml"
    try:
        json.loads(text)
    except ValueError:
        return "yaml"
    return "json"


def loads(text: str, fmt: Format = "yaml") -> Any:
    """Parse YAML or JSON text; a key given twice in one mapping is an error, not a silent loss."""
    try:
        if fmt == "json":
            return json.loads(text, object_pairs_hook=_unique_pairs)
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except json.JSONDecodeError as exc:
        raise DocumentError(
            f"not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except yaml.MarkedYAMLError as exc:
        where = f"line {exc.problem_mark.line + 1}: " if exc.problem_mark else ""
        raise DocumentError(f"not valid YAML: {where}{exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise DocumentError(f"not valid YAML: {exc}") from None


def dumps(document: Mapping[str, Any], fmt: Format = "yaml") -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(dict(document), Dumper=_SafeDumper, sort_keys=False, allow_unicode=True)


# -- parsing a document ------------------------------------------------------------------------


def is_legacy(document: Mapping[str, Any]) -> bool:
    """Legacy documents map server names to sections (mappings); ours have ``version`` or lists."""
    if "version" in document:
        return False
    return all(isinstance(document.get(key, {}), Mapping) for key in ("servers", "services"))


def parse(document: Any) -> Registrations:
    """Validate a whole document; raise InvalidRegistration naming the first bad entry."""
    if document is None:
        raise DocumentError("the document is empty")
    if not isinstance(document, Mapping):
        raise DocumentError(f"the document must be a mapping, not {_kind(document)}")
    parsed = Registrations()
    if is_legacy(document):
        _parse_legacy(document, parsed)
    else:
        _parse_native(document, parsed)
    return parsed


def _parse_native(document: Mapping[str, Any], parsed: Registrations) -> None:
    _check_keys(document, ("version", "servers", "services"), None)
    version = document.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        _fail(None, "version", f"must be {FORMAT_VERSION}, got {version!r}")
    for index, entry in enumerate(_list(document, "servers", None)):
        label = _label(f"servers[{index}]", entry)
        server = _mapping(entry, None, f"servers[{index}]")
        _check_keys(server, SERVER_KEYS, label)
        server_fields = {key: value for key, value in server.items() if key != "services"}
        _add_server(parsed, validate(ServerRegistration, label, **server_fields), label)
        for position, item in enumerate(_list(server, "services", label)):
            service_label = _label(f"{label}.services[{position}]", item)
            service = _mapping(item, label, f"services[{position}]")
            _add_service(parsed, service_label, service, SERVICE_KEYS, server=server["name"])
    for index, entry in enumerate(_list(document, "services", None)):
        fields = _mapping(entry, None, f"services[{index}]")
        label = f"services[{index}]"
        if isinstance(fields.get("server"), str) and isinstance(fields.get("name"), str):
            label += f" ({fields['server']}/{fields['name']})"
        _add_service(parsed, label, fields, ("server", *SERVICE_KEYS))


def _parse_legacy(document: Mapping[str, Any], parsed: Registrations) -> None:
    for name, section in document.items():
        label = str(name)
        fields = dict(_mapping(section, None, label))
        _check_keys(fields, LEGACY_SERVER_KEYS, label)
        api = fields.pop("api", None)
        api = {} if api is None else api
        _add_server(parsed, validate(ServerRegistration, label, name=name, **fields), label)
        if not isinstance(api, Mapping):
            _fail(label, "api", f"must be a mapping of service names to services, not {_kind(api)}")
        for service, item in api.items():
            service_label = f"{label}.api.{service}"
            entry = _mapping(item, label, f"api.{service}")
            _add_service(
                parsed, service_label, entry, LEGACY_SERVICE_KEYS, server=name, name=service
            )


def _add_server(parsed: Registrations, reg: ServerRegistration, label: str) -> None:
    first = parsed.server_entries.get(reg.name)
    if first is not None:
        _fail(label, "name", f"server {reg.name} is already in this document at {first}")
    parsed.server_entries[reg.name] = label
    parsed.servers.append(reg)


def _add_service(
    parsed: Registrations,
    label: str,
    fields: Mapping[str, Any],
    allowed: tuple[str, ...],
    **implied: Any,
) -> None:
    """Validate one service; ``implied`` holds names the document's nesting gives it."""
    _check_keys(fields, allowed, label)
    values = {_SERVICE_FIELDS.get(key, key): value for key, value in {**fields, **implied}.items()}
    try:
        reg: ServiceRegistration = validate(ServiceRegistration, label, **values)
    except InvalidRegistration as exc:
        document_names = {field: key for key, field in _SERVICE_FIELDS.items()}
        problems = [(document_names.get(name, name), reason) for name, reason in exc.problems]
        raise InvalidRegistration(problems, label) from None
    key = (reg.server_name, reg.service_name)
    first = parsed.service_entries.get(key)
    if first is not None:
        _fail(label, "name", f"service {key[1]} of {key[0]} is already in this document at {first}")
    parsed.service_entries[key] = label
    parsed.services.append(reg)


# A service's document keys and the ServiceRegistration fields they fill.
_SERVICE_FIELDS = {"server": "server_name", "name": "service_name"}


# -- small checks, each raising InvalidRegistration that names the entry -----------------------


def _fail(entry: str | None, name: str, reason: str) -> None:
    raise InvalidRegistration([(name, reason)], entry)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "empty"}.get(
        type(value), type(value).__name__
    )


def _label(position: str, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, Mapping) else None
    return f"{position} ({name})" if isinstance(name, str) else position


def _mapping(value: Any, parent: str | None, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(parent, name, f"must be a mapping of fields, not {_kind(value)}")
    return value  # type: ignore[no-any-return]


def _list(container: Mapping[str, Any], key: str, label: str | None) -> list[Any]:
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        _fail(label, key, f"must be a list, not {_kind(value)}")
    return value  # type: ignore[no-any-return]


def _check_keys(entry: Mapping[str, Any], allowed: tuple[str, ...], label: str | None) -> None:
    unknown = [str(key) for key in entry if key not in allowed]
    if unknown:
        raise InvalidRegistration(
            [(key, f"is not a known field (known: {', '.join(allowed)})") for key in unknown],
            label,
        )


# -- import and export -------------------------------------------------------------------------


def import_document(registry: Registry | RegistryClient, document: Any) -> tuple[int, int]:
    """Validate ``document`` whole, then write it in one transaction: (servers, services)."""
    parsed = parse(document)
    try:
        return registry.register_many(parsed.servers, parsed.services)
    except ServerNotFound as exc:
        label = next(
            (
                where
                for (server, _), where in parsed.service_entries.items()
                if server == exc.server_name
            ),
            None,
        )
        raise InvalidRegistration(
            [("server", f"server {exc.server_name} is neither in this document nor registered")],
            label,
        ) from None


def export_document(registry: Registry) -> dict[str, Any]:
    """Every server with its services, in the form ``import_document`` reads back unchanged."""
    return {
        "version": FORMAT_VERSION,
        "servers": [_export_server(row) for row in registry.store.export_rows()],
    }


def _export_server(row: Mapping[str, Any]) -> dict[str, Any]:
    server = {key: row[key] for key in ("name", "host", "port", "protocol")}
    server.update({key: row[key] for key in ("ca_bundle", "client_cert") if row[key] is not None})
    server["services"] = [_export_service(service) for service in row["services"]]
    return server


def _export_service(row: Mapping[str, Any]) -> dict[str, Any]:
    service = {key: row[key] for key in ("name", "uri", "method")}
    if row["protocol"] is not None:
        service["protocol"] = row["protocol"]
    service.update({key: row[key] for key in ("params", "data", "headers")})
    check = check_of(row)
    if check is not None:
        service["check"] = check.model_dump()
    return service


__all__ = [
    "FORMAT_VERSION",
    "DocumentError",
    "Registrations",
    "dumps",
    "export_document",
    "guess_format",
    "import_document",
    "is_legacy",
    "loads",
    "parse",
]
