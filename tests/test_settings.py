"""Settings as docs/configuration.md promises them: where they come from, in which order, and
the defaults its tables (and the hooks table of docs/plugins.md) give."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cli_support import clear_settings
from pydantic import BaseModel, SecretStr
from typer.testing import CliRunner

from fate_registry import Registry
from fate_registry.cli import app
from fate_registry.dispatch import API_READER, DECISIONS
from fate_registry.settings import CapabilitySettings, Settings, load_settings

DOCS = Path(__file__).resolve().parent.parent / "docs"
CAPABILITIES = [*DECISIONS, *API_READER]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No FATE_REGISTRY_* variable of the caller's, no settings file found by chance."""
    clear_settings(monkeypatch)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


def toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- precedence: code, then environment, then the TOML file, then the defaults -------------------


def test_the_environment_ranks_above_the_toml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = toml(
        tmp_path / "r.toml", "cache_ttl = 3.0\nport = 7000\n[hooks.permission]\ntimeout = 4.0\n"
    )
    monkeypatch.setenv("FATE_REGISTRY_CACHE_TTL", "2.0")
    monkeypatch.setenv("FATE_REGISTRY_HOOKS__PERMISSION__TIMEOUT", "0.5")

    settings = load_settings(config)

    assert settings.cache_ttl == 2.0  # both set it: the environment wins
    assert settings.hooks.permission.timeout == 0.5  # nested, too
    assert settings.port == 7000  # only the file sets it: the file wins over the default


def test_values_given_in_code_rank_above_the_environment_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = toml(tmp_path / "r.toml", "cache_ttl = 3.0\n")
    monkeypatch.setenv("FATE_REGISTRY_CACHE_TTL", "2.0")

    assert load_settings(config, cache_ttl=1.5).cache_ttl == 1.5


def test_the_command_line_ranks_db_above_the_environment_and_the_environment_above_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = toml(tmp_path / "r.toml", 'cache_ttl = 3.0\ndb_url = "sqlite:///from-file.db"\n')
    monkeypatch.setenv("FATE_REGISTRY_CACHE_TTL", "2.0")
    monkeypatch.setenv("FATE_REGISTRY_DB_URL", "sqlite:///from-env.db")

    def shown(*args: str) -> dict[str, Any]:
        result = CliRunner().invoke(
            app, [*args, "--config", str(config), "config", "show", "--json"]
        )
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.stdout))

    assert (shown()["cache_ttl"], shown()["db_url"]) == (2.0, "sqlite:///from-env.db")
    assert shown("--db", "sqlite:///given.db")["db_url"] == "sqlite:///given.db"


# -- FATE_REGISTRY_CONFIG and the Python API -------------------------------------------------------


def test_the_python_api_reads_the_file_named_by_fate_registry_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "named.db"
    config = toml(tmp_path / "named.toml", f'db_url = "sqlite:///{database}"\ncache_ttl = 4.0\n')
    monkeypatch.setenv("FATE_REGISTRY_CONFIG", str(config))

    assert load_settings().cache_ttl == 4.0
    with Registry() as registry:
        assert registry.cache_ttl == 4.0
        registry.register_server("third", host="10.0.0.5", port=8080)
    assert database.is_file()  # the registry opened the file's database


def test_a_file_named_in_code_ranks_above_fate_registry_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "FATE_REGISTRY_CONFIG", str(toml(tmp_path / "env.toml", "cache_ttl = 4.0\n"))
    )

    assert load_settings(toml(tmp_path / "code.toml", "cache_ttl = 5.0\n")).cache_ttl == 5.0


def test_fate_registry_config_naming_no_file_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FATE_REGISTRY_CONFIG", str(tmp_path / "missing.toml"))

    with pytest.raises(FileNotFoundError, match=r"config file '.*missing\.toml' does not exist"):
        load_settings()


def test_fate_registry_config_naming_a_directory_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FATE_REGISTRY_CONFIG", str(tmp_path))

    with pytest.raises(IsADirectoryError, match=r"config file '.*' is a directory, not a file"):
        load_settings()


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("FATE_REGISTRY_HOOKS", "{bad", "Expecting property name enclosed in double quotes"),
        ("FATE_REGISTRY_HOOKS__PERMISSION", '{"chain": [}', "Expecting value"),
        ("FATE_REGISTRY_HOOKS__SIGNING_SECRETS", "{", "Expecting property name"),
        ("FATE_REGISTRY_HMAC__APP_KEYS", "{k: s3cret-value}", "Expecting property name"),
        ("fate_registry_rsa", "[", "Expecting value"),
    ],
)
def test_a_variable_that_is_not_json_is_named_and_its_value_is_not_told(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValueError) as caught:
        load_settings()

    message = str(caught.value)
    assert message.startswith(f"{variable.upper()}: not valid JSON: {reason}"), message
    assert value not in message


def test_the_python_api_does_not_look_for_a_file_nobody_named(tmp_path: Path) -> None:
    toml(tmp_path / "fate-registry.toml", "cache_ttl = 7.0\n")  # the command line would read it
    xdg = tmp_path / "xdg" / "fate-registry"
    xdg.mkdir(parents=True)
    toml(xdg / "config.toml", "cache_ttl = 8.0\n")

    assert load_settings().cache_ttl == 1.0


# -- the documented defaults are the code's ------------------------------------------------------

NONE = object()  # "none" in the docs: no value, an empty list or an empty mapping
# Words the tables use for a default that is no value of its own (None in the model).
NO_VALUE = {"none", "every plugin", "the timeout", "hooks.server_name"}
CAP = "<cap>"


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Every table of ``text``, as rows of cells (the header row first, the rule row left out)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def documented_rows() -> list[tuple[str, str, str | None, str]]:
    """(file, setting, env variable or None, default) of every row of every settings table in
    docs/configuration.md and docs/plugins.md; a row naming two settings gives two."""
    rows = []
    for name in ("configuration.md", "plugins.md"):
        for table in markdown_tables((DOCS / name).read_text()):
            header = [cell.lower() for cell in table[0]]
            if header[0] != "setting" or "default" not in header:
                continue
            env_column = header.index("env variable") if "env variable" in header else None
            for row in table[1:]:
                names = re.findall(r"`([^`]+)`", row[0])
                default = row[header.index("default")]
                defaults = re.split(r",\s+", default) if len(names) > 1 else [default]
                if len(defaults) != len(names):
                    defaults = [default] * len(names)  # one default for each of them
                parent = names[0].rpartition(".")[0]
                for setting, default in zip(names, defaults, strict=True):
                    full = setting if "." in setting or not parent else f"{parent}.{setting}"
                    env = row[env_column].strip("`") if env_column is not None else None
                    rows.append((name, full, env, default))
    return rows


def parse_default(text: str) -> tuple[Any, dict[str, Any]]:
    """A documented default: its value, and the capabilities that have another one, from
    ``5 (upload, download: 30)`` or ``true (client_authentication and ApiReader: false)``."""
    exceptions: dict[str, Any] = {}
    for names, value in re.findall(r"\(([^():]+):\s*([^()]+)\)", text):
        for capability in re.split(r",\s*|\s+and\s+", names.strip()):
            for each in API_READER if capability == "ApiReader" else [capability]:
                exceptions[each] = literal(value)
    plain = re.sub(r"\s*\([^()]*\)", "", text).strip()  # an aside, or the exceptions
    return literal(plain), exceptions


def literal(text: str) -> Any:
    text = text.strip().strip("`")
    if text in NO_VALUE:
        return NONE
    if text in ("true", "false"):
        return text == "true"
    if text == "{}":
        return {}
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def same(documented: Any, actual: Any) -> bool:
    if documented is NONE:
        return actual is None or actual == [] or actual == {}
    if isinstance(actual, list) and isinstance(documented, str):
        return actual == documented.split(",")  # `v1,v2`, as the variable is written
    if isinstance(actual, bool) or isinstance(documented, bool):
        return actual is documented
    return bool(actual == documented)


def value_at(settings: BaseModel, path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        value = getattr(value, part)
    return plain(value)


def model_settings(model: BaseModel, prefix: str = "") -> set[str]:
    """The dotted name of every setting of ``model``, each capability's as ``hooks.<cap>.x``."""
    names = set()
    for field in type(model).model_fields:
        value = getattr(model, field)
        if isinstance(value, CapabilitySettings):
            names |= {f"{prefix}{CAP}.{name}" for name in CapabilitySettings.model_fields}
            own = set(type(value).model_fields) - set(CapabilitySettings.model_fields)
            names |= {f"{prefix}{field}.{name}" for name in own}  # hooks.download.max_bytes
        elif isinstance(value, BaseModel):
            names |= model_settings(value, f"{prefix}{field}.")
        else:
            names.add(prefix + field)
    return names


def test_every_setting_is_documented_once_and_every_documented_one_exists() -> None:
    documented = [setting for _, setting, _, _ in documented_rows()]

    assert sorted(documented) == sorted(set(documented))  # no setting in two rows
    assert set(documented) == model_settings(Settings())


def test_the_env_variables_the_tables_give_are_the_settings_names() -> None:
    for _, setting, env, _ in documented_rows():
        if env is not None:
            # a nested setting (health.interval) takes __ between its levels
            assert env == f"FATE_REGISTRY_{setting.upper().replace('.', '__')}", setting


@pytest.mark.parametrize(
    ("doc", "setting", "default"),
    [(doc, setting, default) for doc, setting, _, default in documented_rows()],
    ids=[setting for _, setting, _, _ in documented_rows()],
)
def test_the_documented_default_is_the_models(doc: str, setting: str, default: str) -> None:
    defaults = Settings()
    value, exceptions = parse_default(default)
    if CAP not in setting:
        assert not exceptions, f"{doc}: {setting} names capabilities but is not per capability"
        actual = value_at(defaults, setting)
        assert same(value, actual), f"{doc} says {setting} = {default}, the model {actual!r}"
        return
    assert set(exceptions) <= set(CAPABILITIES), f"{doc}: {setting}: {sorted(exceptions)}"
    for capability in CAPABILITIES:
        expected = exceptions.get(capability, value)
        actual = value_at(defaults, setting.replace(CAP, capability))
        assert same(expected, actual), (
            f"{doc} says {setting} = {default}, the model has {actual!r} for {capability}"
        )


def test_this_sites_party_id_is_kept_in_its_canonical_form() -> None:
    """rsa.party_id is compared with the canonical party ids of keys and requests."""
    assert Settings(rsa={"party_id": " 09999"}).rsa.party_id == "9999"
    assert Settings(rsa={"party_id": 9999}).rsa.party_id == "9999"
    with pytest.raises(ValueError, match="'alice' is not a party id: a decimal integer"):
        Settings(rsa={"party_id": "alice"})
