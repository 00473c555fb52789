"""Settings from environment variables (``FATE_REGISTRY_*``) and an optional TOML file.

Precedence, highest first: values passed in code, environment variables, the TOML file named by
``--config`` or ``FATE_REGISTRY_CONFIG``, defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_ENV = "FATE_REGISTRY_CONFIG"
DEFAULT_DB_URL = "sqlite:///fate-registry.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FATE_REGISTRY_", extra="forbid", validate_default=True
    )

    db_url: SecretStr = Field(
        default=SecretStr(DEFAULT_DB_URL),
        description="SQLAlchemy URL of the registry database (its password is a secret)",
    )
    cache_ttl: float = Field(
        default=1.0, ge=0, le=3600, description="seconds a node trusts its cache of services"
    )
    # Server (issue: fate-registry serve)
    host: str = Field(default="127.0.0.1", description="address `serve` listens on")
    port: int = Field(default=9390, ge=1, le=65535, description="port `serve` listens on")
    admin_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="bearer tokens that may write (comma-separated in env)"
    )
    protect_reads: bool = Field(default=False, description="reads need authentication too")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="CIDRs and host patterns registered addresses must match (empty: any)",
    )
    check_connectivity: bool = Field(
        default=False, description="TCP-connect to a server before registering it"
    )

    @field_validator("admin_tokens", "allowed_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, ``config_file`` (or $FATE_REGISTRY_CONFIG) and overrides."""
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist")
        previous = os.environ.get(CONFIG_ENV)
        os.environ[CONFIG_ENV] = str(path)
        try:
            return Settings(**overrides)
        finally:
            if previous is None:
                del os.environ[CONFIG_ENV]
            else:
                os.environ[CONFIG_ENV] = previous
    return Settings(**overrides)
