"""Settings from environment variables (``FATE_REGISTRY_*``) and an optional TOML file.

Precedence, highest first: values passed in code, environment variables, the TOML file named by
``--config`` or ``FATE_REGISTRY_CONFIG``, defaults.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "FATE_REGISTRY_"
CONFIG_ENV = f"{ENV_PREFIX}CONFIG"
DEFAULT_DB_URL = "sqlite:///fate-registry.db"
MIN_TOKEN_LENGTH = 16
_HOST_PATTERN = re.compile(r"[A-Za-z0-9_.*?-]+")  # a host name, '*' and '?' as in shell globs


def _names_list(value: Any) -> Any:
    """Names from a comma list (``a,b``) or a JSON array (``["a", "b"]``), as the environment
    gives them; a list as it is."""
    if isinstance(value, str):
        if value.strip().startswith("["):
            try:
                return json.loads(value)
            except ValueError:
                pass  # not JSON after all: the names check below says what is wrong
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class CapabilitySettings(BaseModel):
    """Policy of one capability (plugin framework). Env: FATE_REGISTRY_HOOKS__<CAP>__<FIELD>."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chain: list[str] | None = Field(
        default=None, description="plugin names in order (default: every plugin implementing it)"
    )
    timeout: float = Field(default=5.0, ge=0.05, le=30, description="seconds per plugin call")
    budget: float | None = Field(
        default=None,
        ge=0.05,
        le=120,
        description="seconds for the whole decision, retries included (default: the timeout)",
    )
    retries: int = Field(default=2, ge=0, le=10, description="retries of a failed HTTP call")
    max_in_flight: int = Field(
        default=64,
        ge=1,
        le=100000,
        description="plugin calls running or waiting for a worker thread at once; past it a call "
        "is refused at once (metrics result 'rejected') and the failure policy answers",
    )
    failure_policy: Literal["deny", "allow"] = Field(
        default="deny", description="answer when a plugin errors or times out"
    )
    default: Literal["deny", "allow"] = Field(
        default="deny", description="answer when no plugin has an opinion"
    )
    fail_fast: bool = Field(
        default=False,
        description="when the health check of the capability's service is critical, a plugin "
        "that calls it is not called: the failure policy answers at once (metrics result "
        "'unhealthy') instead of after the timeout",
    )
    cache: bool = Field(default=True, description="cache decisions of this capability")
    allow_ttl: float = Field(default=10.0, ge=0, le=86400, description="seconds an allow is kept")
    deny_ttl: float = Field(default=2.0, ge=0, le=86400, description="seconds a deny is kept")
    server_name: str | None = Field(
        default=None, description="server of the HTTP services (default: hooks.server_name)"
    )
    # NoDecode: a comma list from the environment, as chain takes (not only JSON)
    inline: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="plugins run in the caller's thread: faster, but their timeout is not enforced",
    )

    @field_validator("chain", "inline", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _names_list(value)

    @property
    def total_budget(self) -> float:
        return self.budget if self.budget is not None else self.timeout


class DownloadSettings(CapabilitySettings):
    """The ``download`` capability's policy, and how much a download may write. Env:
    FATE_REGISTRY_HOOKS__DOWNLOAD__<FIELD>."""

    # The limits stop what a service sends beyond any real feature file (a gzip bomb, an
    # endless stream) before it fills the disk. For scale: docs/performance.md's run of
    # 5,000,000 ids downloads 153 MB, 31 bytes per id (an 11-digit id and 3 features).
    max_bytes: int = Field(
        default=4 << 30,
        ge=1,
        description="bytes of features a download may write, counted decoded (after gzip): "
        "4 GiB by default, 28 times the 5,000,000-id run's 153 MB (860 bytes a row for "
        "5,000,000 ids, some 80 features); past it the download fails and nothing is kept. "
        "Raise it for wider or longer feature sets: the refusal names this setting",
    )
    max_rows: int = Field(
        default=100_000_000,
        ge=1,
        description="rows of features (lines after the header) a download may write: "
        "100,000,000 by default, 20 times the 5,000,000-id run (a service answers a row per "
        "id it knows); past it the download fails and nothing is kept",
    )


# Defaults that differ per capability; merged under whatever the user sets.
CAPABILITY_DEFAULTS: dict[str, dict[str, Any]] = {
    "client_authentication": {"cache": False},
    "signature": {},
    "site_authentication": {},
    "permission": {},
    "upload": {"cache": False, "retries": 0, "timeout": 30.0, "budget": 120.0},
    "query": {"cache": False},
    "download": {"cache": False, "timeout": 30.0, "budget": 120.0},
}


def _defaults(capability: str) -> CapabilitySettings:
    return CapabilitySettings(**CAPABILITY_DEFAULTS[capability])


class HooksSettings(BaseModel):
    """The plugin framework: one CapabilitySettings per capability, and shared options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    server_name: str = Field(
        default="HOOK", description="server of the HTTP services (FATE Flow's hook_server_name)"
    )
    signing_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="per server name, an HMAC secret to sign outbound calls (webhook-* headers)",
    )
    max_workers: int = Field(
        default=32,
        ge=1,
        le=1024,
        description="threads running plugins, shared out evenly between the 7 capabilities "
        "(each gets max_workers // 7, at least 1), so one cannot take the others' threads",
    )
    cache_size: int = Field(default=10000, ge=1, description="decisions kept per capability")
    api_authentication: bool = Field(
        default=False,
        description="the registration API's writes accept the client_authentication chain even "
        "with no admin token set (with tokens set, the chain is always accepted as well)",
    )
    gateway_protection: Literal["write", "read"] = Field(
        default="write",
        description="the hook gateway is protected like writes, or like reads (FATE Flow 1.11 "
        "sends no token to its hook server)",
    )
    client_authentication: CapabilitySettings = _defaults("client_authentication")
    signature: CapabilitySettings = _defaults("signature")
    site_authentication: CapabilitySettings = _defaults("site_authentication")
    permission: CapabilitySettings = _defaults("permission")
    upload: CapabilitySettings = _defaults("upload")
    query: CapabilitySettings = _defaults("query")
    download: DownloadSettings = DownloadSettings(**CAPABILITY_DEFAULTS["download"])

    @model_validator(mode="before")
    @classmethod
    def _capability_defaults(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        merged = dict(value)
        for capability, defaults in CAPABILITY_DEFAULTS.items():
            given = merged.get(capability)
            if isinstance(given, dict):
                merged[capability] = {**defaults, **given}
        return merged

    def capability(self, name: str) -> CapabilitySettings:
        settings = getattr(self, name, None)
        if not isinstance(settings, CapabilitySettings):
            raise KeyError(f"unknown capability {name!r}")
        return settings


# -- the built-in local plugins (docs/plugins.md, one section each) ----------------------------


class HmacSettings(BaseModel):
    """The ``hmac`` client_authentication plugin. Env: FATE_REGISTRY_HMAC__<FIELD>."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    app_keys: dict[str, list[SecretStr]] = Field(
        default_factory=dict,
        description="per APP_KEY, its secrets (several while one is being rotated); empty: the "
        "plugin has no opinion",
    )
    window: float = Field(
        default=60.0, ge=1, le=3600, description="seconds a TIMESTAMP may be from the clock"
    )
    nonce_store: Literal["database", "memory"] = Field(
        default="database",
        description="where seen NONCEs are kept: the registry database (every node shares "
        "them) or this process only",
    )
    # NoDecode: a comma list from the environment, as admin_tokens takes
    admin_app_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="APP_KEYs (of app_keys) whose signed requests may change site keys and "
        "grants over the HTTP API, as an admin token may; any other app key authenticates its "
        "client and nothing more",
    )

    @field_validator("admin_app_keys", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _names_list(value)

    @model_validator(mode="after")
    def _admins_are_app_keys(self) -> HmacSettings:
        for app_key in self.admin_app_keys:
            if app_key not in self.app_keys:
                raise ValueError(
                    f"hmac.admin_app_keys: {app_key!r} is not one of hmac.app_keys: an "
                    "administrator signs with an app key of its own, listed there with its secret"
                )
        return self

    @field_validator("app_keys", mode="before")
    @classmethod
    def _one_secret_or_many(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("app_keys")
    @classmethod
    def _non_empty(cls, value: dict[str, list[SecretStr]]) -> dict[str, list[SecretStr]]:
        for app_key, secrets in value.items():
            if not 0 < len(app_key) <= 64 or not app_key.isascii() or not app_key.isprintable():
                raise ValueError("an app key must be 1 to 64 printable ASCII characters")
            if not secrets or any(not s.get_secret_value().isascii() for s in secrets):
                raise ValueError(f"app key {app_key!r} needs one or more ASCII secrets")
        return value


SiteScheme = Literal["v1", "v2"]


def _both_schemes() -> list[SiteScheme]:
    return ["v1", "v2"]


class RsaSettings(BaseModel):
    """The ``rsa`` signature and site_authentication plugin. Env: FATE_REGISTRY_RSA__<FIELD>."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=False, description="sign and verify site requests")
    party_id: str | None = Field(
        default=None, description="this site's party id: a src_party_id of 0 means it"
    )
    key_passphrase: SecretStr | None = Field(
        default=None, description="encrypts private keys stored in the database"
    )
    scheme: SiteScheme = Field(
        default="v1",
        description="how signature signs: v1 is FATE's, v2 the stronger scheme (opt-in)",
    )
    accept: Annotated[list[SiteScheme], NoDecode] = Field(
        default_factory=_both_schemes,
        description="schemes site_authentication accepts",
    )
    tolerance: float = Field(
        default=60.0, ge=1, le=3600, description="seconds a v2 timestamp may be from the clock"
    )

    @field_validator("party_id", mode="before")
    @classmethod
    def _party_string(cls, value: Any) -> Any:
        # canonical, as the party ids of keys and requests it is compared with ("09999": 9999)
        from .canonical import party_of
        from .errors import InvalidRegistration

        try:
            return None if value is None else party_of(value)
        except InvalidRegistration as exc:
            raise ValueError(exc.reason) from None

    @field_validator("accept", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _names_list(value)


class GrantsSettings(BaseModel):
    """The ``grants`` permission plugin. Env: FATE_REGISTRY_GRANTS__<FIELD>."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=False, description="decide permission from the grants")
    components: bool = Field(default=True, description="check the job's components")
    datasets: bool = Field(default=True, description="check the job's datasets")


class InvalidVariable(ValueError):
    """A FATE_REGISTRY_* variable whose value cannot be read: JSON that is not."""


class _Environment(EnvSettingsSource):
    """The environment as pydantic-settings reads it, but a value that is not JSON is named by
    its variable: pydantic-settings names only the top-level setting ("error parsing value for
    field 'hooks'"), not which of the FATE_REGISTRY_HOOKS* variables, nor why."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except json.JSONDecodeError as exc:  # its text quotes no part of the value
            variable = self._variable(field_name, value)
            raise InvalidVariable(f"{variable}: not valid JSON: {exc}") from None

    def _variable(self, field_name: str, value: Any) -> str:
        """The variable holding ``value`` for ``field_name`` (top-level or the last of a nested
        name: ``hooks__permission``)."""
        top = f"{self.env_prefix}{field_name}".lower()
        for name, held in self.env_vars.items():
            lower = name.lower()
            if held == value and (lower == top or lower.endswith(f"__{field_name.lower()}")):
                return name.upper()
        return top.upper()

    def __call__(self) -> dict[str, Any]:
        try:
            return super().__call__()
        except SettingsError as exc:
            if isinstance(exc.__cause__, InvalidVariable):
                raise exc.__cause__ from None
            raise


class HealthSettings(BaseModel):
    """Health checks of the registered servers and services, run by ``serve``.
    Env: FATE_REGISTRY_HEALTH__<FIELD>."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="serve runs the health checks")
    interval: float = Field(
        default=10.0, ge=0.5, le=3600, description="seconds between two checks of one target"
    )
    timeout: float = Field(
        default=2.0, ge=0.1, le=30, description="seconds a server's TCP check may take"
    )
    concurrency: int = Field(
        default=32, ge=1, le=1024, description="checks running at once on the prober"
    )

    @property
    def lease(self) -> float:
        """Seconds the prober's lease lasts unless renewed: three intervals, so that a prober
        that dies is replaced within about four."""
        return 3 * self.interval


class AuditSettings(BaseModel):
    """The decision audit trail: every decision recorded in the registry database, hash-chained
    (docs/server.md#the-audit-trail). Env: FATE_REGISTRY_AUDIT__<FIELD>."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="record every decision in the database")
    queue_size: int = Field(
        default=20000,
        ge=100,
        le=1_000_000,
        description="decisions a process holds while they wait to be written; past it, "
        "when_full applies",
    )
    when_full: Literal["drop", "refuse"] = Field(
        default="drop",
        description="when the queue is full: drop (the decision stands unrecorded, counted by "
        "fate_registry_audit_dropped) or refuse (an allow that cannot be queued becomes a "
        "refusal, failed_closed: nothing is allowed unrecorded)",
    )
    batch_size: int = Field(
        default=1000, ge=1, le=10000, description="records written in one transaction at most"
    )
    flush_interval: float = Field(
        default=0.2,
        ge=0.01,
        le=10,
        description="seconds the writer waits when the queue is empty: how long a decision may "
        "wait to be written when traffic is light",
    )
    max_age_days: float = Field(
        default=90,
        ge=0,
        le=36500,
        description="records older than this many days are pruned (0: kept whatever their age)",
    )
    max_rows: int = Field(
        default=10_000_000,
        ge=0,
        description="the newest records kept at most, older ones pruned (0: no bound; else at "
        "least 1000)",
    )
    prune_interval: float = Field(
        default=300, ge=1, le=86400, description="seconds between two prunings by a process"
    )
    key: SecretStr | None = Field(
        default=None,
        description="HMAC key of the hash chain: with it, someone who can write the database "
        "but does not know the key cannot rewrite records and their hashes unnoticed; "
        "every node needs the same key, and audit verify needs it",
    )

    @field_validator("max_rows")
    @classmethod
    def _enough_rows(cls, rows: int) -> int:
        if 0 < rows < 1000:
            raise ValueError("audit.max_rows must be 0 (no bound) or at least 1000")
        return rows

    @field_validator("key")
    @classmethod
    def _long_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and len(key.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"audit.key must be at least {MIN_TOKEN_LENGTH} characters: use a long random "
                "key, for example `openssl rand -hex 32`"
            )
        return key


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FATE_REGISTRY_",
        extra="forbid",
        validate_default=True,
        env_nested_delimiter="__",
        hide_input_in_errors=True,  # a rejected value may be a token or a database password
    )

    db_url: SecretStr = Field(
        default=SecretStr(DEFAULT_DB_URL),
        description="SQLAlchemy URL of the registry database (its password is a secret)",
    )
    cache_ttl: float = Field(
        default=1.0, ge=0, le=3600, description="seconds a node trusts its cache of services"
    )
    db_connect_timeout: float = Field(
        default=3.0,
        ge=1,
        le=300,
        description="seconds to open a database connection, or to check a pooled one before "
        "use (PostgreSQL's driver counts whole seconds, at least 2)",
    )
    db_statement_timeout: float = Field(
        default=10.0,
        ge=0.5,
        le=3600,
        description="seconds one database statement may take (lock waits included) before the "
        "operation fails as unavailable; the client cuts a connection that has not answered "
        "1 s after that",
    )
    db_pool_timeout: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="seconds an operation waits for a free connection of the pool",
    )
    ready_timeout: float = Field(
        default=2.0,
        ge=0.1,
        le=60,
        description="seconds /readyz waits for the database (on its own connection) before "
        "answering 503",
    )
    # Server (issue: fate-registry serve)
    host: str = Field(default="127.0.0.1", description="address `serve` listens on")
    port: int = Field(default=9390, ge=1, le=65535, description="port `serve` listens on")
    admin_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="bearer tokens that may write (comma-separated in env), each at least "
        f"{MIN_TOKEN_LENGTH} characters",
    )
    protect_reads: bool = Field(default=False, description="reads need authentication too")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="CIDRs and host patterns registered addresses must match (empty: any)",
    )
    check_connectivity: bool = Field(
        default=False, description="TCP-connect to a server before registering it"
    )
    max_header_bytes: int = Field(
        default=65536,
        ge=4096,
        le=1048576,
        description="bytes a request's line and headers may take, counted as they arrive; "
        "past them `serve` answers 431 and closes the connection",
    )
    max_headers: int = Field(
        default=100,
        ge=10,
        le=1000,
        description="header fields a request may carry; past them `serve` answers 431 and "
        "closes the connection",
    )
    trusted_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="names a request's Host header may carry besides loopback names and the "
        "bind address: host names, patterns (*.example.org), addresses or CIDRs; '*' any",
    )
    # Plugin framework (issue: plugins, dispatch, gateway)
    hooks: HooksSettings = Field(
        default_factory=HooksSettings, description="chains and policies of the capabilities"
    )

    health: HealthSettings = Field(
        default_factory=HealthSettings, description="health checks of registered services"
    )

    # Built-in local plugins (issue: hmac, rsa, grants)
    hmac: HmacSettings = Field(default_factory=HmacSettings, description="the hmac plugin")
    rsa: RsaSettings = Field(default_factory=RsaSettings, description="the rsa plugin")
    grants: GrantsSettings = Field(default_factory=GrantsSettings, description="the grants plugin")
    audit: AuditSettings = Field(
        default_factory=AuditSettings, description="the decision audit trail"
    )

    @field_validator("admin_tokens", "allowed_hosts", "trusted_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _names_list(value)

    @field_validator("trusted_hosts")
    @classmethod
    def _host_names(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                if not _HOST_PATTERN.fullmatch(entry):
                    raise ValueError(
                        f"trusted_hosts (FATE_REGISTRY_TRUSTED_HOSTS): {entry!r} is not a host "
                        "name, pattern, address or CIDR (write it without scheme, port or path)"
                    ) from None
        return entries

    @field_validator("admin_tokens")
    @classmethod
    def _long_tokens(cls, tokens: list[SecretStr]) -> list[SecretStr]:
        short = sum(len(token.get_secret_value()) < MIN_TOKEN_LENGTH for token in tokens)
        if short:
            raise ValueError(
                "every token of admin_tokens (FATE_REGISTRY_ADMIN_TOKENS) must be at least "
                f"{MIN_TOKEN_LENGTH} characters, and {short} is shorter: use long random tokens, "
                "for example `openssl rand -hex 32`"
            )
        return tokens

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _Environment(settings_cls)]
        config_file = settings_cls.model_config.get("toml_file") or os.environ.get(CONFIG_ENV)
        if config_file:
            path = Path(str(config_file))
            if path.is_dir():
                raise IsADirectoryError(f"config file {str(path)!r} is a directory, not a file")
            if not path.is_file():
                raise FileNotFoundError(f"config file {str(path)!r} does not exist")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def masked_db_url(url: str) -> str:
    """A database URL as it may be shown: password (in the authority or the query) masked."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        hidden = {k: "***" for k in parsed.query if k.lower() in ("password", "sslpassword")}
        return parsed.update_query_dict(hidden).render_as_string(hide_password=True)
    except ArgumentError:
        return url if "@" not in url else "***"  # unparsable: shown unless it may hold a password


class UnknownVariables(ValueError):
    """FATE_REGISTRY_* environment variables that name no setting."""


# FATE_REGISTRY_* variables that are not settings fields, read elsewhere on purpose (URL and
# TOKEN by the command line's remote mode).
OTHER_VARIABLES = ("CONFIG", "LOAD_PLUGINS", "DISABLE_PLUGINS", "STRICT_PLUGINS", "URL", "TOKEN")
OTHER_PREFIXES = ("TEST_",)  # the test suite's own


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """FATE_REGISTRY_* variables that name no setting: a typo would otherwise pass unnoticed
    (FATE_REGISTRY_DB_ULR leaving the registry on a local SQLite file)."""
    environ = os.environ if environ is None else environ
    known = {name.upper() for name in Settings.model_fields}
    unknown = []
    for variable in environ:
        if not variable.upper().startswith(ENV_PREFIX):
            continue
        name = variable.upper().removeprefix(ENV_PREFIX)
        if name in OTHER_VARIABLES or name.startswith(OTHER_PREFIXES):
            continue
        if name.split("__", 1)[0] not in known:
            unknown.append(variable)
    return sorted(unknown)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, ``config_file`` (or $FATE_REGISTRY_CONFIG) and overrides.

    A FATE_REGISTRY_* variable that names no setting is an error, as an unknown key in the
    TOML file is.
    """
    unknown = unknown_variables()
    if unknown:
        raise UnknownVariables(
            f"unknown setting variable(s) {', '.join(unknown)}: see docs/configuration.md "
            "for the names"
        )
    if config_file is None:
        return Settings(**overrides)
    config = {**Settings.model_config, "toml_file": config_file}
    with_file: type[Settings] = type("Settings", (Settings,), {"model_config": config})
    return with_file(**overrides)
