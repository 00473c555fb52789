"""The registry's tables (SQLModel); every schema change also gets an Alembic migration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column
from sqlmodel import Field, SQLModel

metadata = SQLModel.metadata


class ServerRow(SQLModel, table=True):
    __tablename__ = "fr_server"

    name: str = Field(primary_key=True, max_length=64)
    host: str = Field(max_length=255)
    port: int
    protocol: str = Field(max_length=5)
    ca_bundle: str | None = Field(default=None, max_length=1024)
    client_cert: str | None = Field(default=None, max_length=1024)
    created_at: datetime
    updated_at: datetime


class ServiceRow(SQLModel, table=True):
    __tablename__ = "fr_service"

    server_name: str = Field(primary_key=True, max_length=64, foreign_key="fr_server.name")
    name: str = Field(primary_key=True, max_length=64)
    uri: str = Field(max_length=2048)
    method: str = Field(max_length=8)
    protocol: str | None = Field(default=None, max_length=5)
    params: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    headers: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime
    updated_at: datetime


class RevisionRow(SQLModel, table=True):
    __tablename__ = "fr_revision"

    id: int = Field(primary_key=True)
    value: int = Field(sa_type=BigInteger)


servers_t = ServerRow.__table__  # type: ignore[attr-defined]
services_t = ServiceRow.__table__  # type: ignore[attr-defined]
revision_t = RevisionRow.__table__  # type: ignore[attr-defined]
