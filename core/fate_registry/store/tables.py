"""The registry's tables (SQLModel); every schema change also gets an Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, Index, Integer, Text
from sqlmodel import Field, SQLModel

metadata = SQLModel.metadata


def now() -> datetime:
    """The time a write records: UTC, in whole seconds (what every backend keeps)."""
    return datetime.now(UTC).replace(microsecond=0)


def as_utc(value: datetime) -> datetime:
    """A time column as read back: stored in UTC, but SQLite and MySQL return it naive."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


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
    # The optional HTTP health check (docs/server.md#health-checks): none when check_path is.
    check_method: str | None = Field(default=None, max_length=8)
    check_path: str | None = Field(default=None, max_length=2048)
    check_status: int | None = Field(default=None)
    check_timeout: float | None = Field(default=None, sa_type=Float)
    created_at: datetime
    updated_at: datetime


class RevisionRow(SQLModel, table=True):
    __tablename__ = "fr_revision"

    id: int = Field(primary_key=True)
    value: int = Field(sa_type=BigInteger)


class SiteKeyRow(SQLModel, table=True):
    """A site's RSA key: a public key as PEM; a private key only encrypted (PKCS#8 PEM under the
    configured passphrase) or as the path of a file, never in clear."""

    __tablename__ = "fr_site_key"

    party_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(primary_key=True, max_length=16)  # public, private
    storage: str = Field(max_length=16)  # pem, encrypted, file
    material: str = Field(sa_type=Text)
    fingerprint: str = Field(max_length=64)  # SHA-256 of the public key (DER), hex
    created_at: datetime
    updated_at: datetime


class GrantRow(SQLModel, table=True):
    """One permission entry: a party may (or, with effect deny, may not) use a component or a
    dataset, optionally only in one role."""

    __tablename__ = "fr_grant"

    party_id: str = Field(primary_key=True, max_length=64)  # or "*": every party
    kind: str = Field(primary_key=True, max_length=16)  # component, dataset
    value: str = Field(primary_key=True, max_length=255)  # "reader", "ns:name", "ns:*", "*"
    role: str = Field(primary_key=True, max_length=16)  # guest, host, arbiter or "*"
    effect: str = Field(max_length=5)  # allow, deny
    created_at: datetime
    # Limits (all optional): in force from not_before until expires_at, for max_uses jobs;
    # uses counts the jobs admitted (fr_grant_use names them), never reset by a new grant.
    not_before: datetime | None = Field(default=None)
    expires_at: datetime | None = Field(default=None)
    max_uses: int | None = Field(default=None)
    uses: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))


class GrantUseRow(SQLModel, table=True):
    """A job that a grant entry with max_uses admitted: counted once, however often asked."""

    __tablename__ = "fr_grant_use"

    party_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(primary_key=True, max_length=16)
    value: str = Field(primary_key=True, max_length=255)
    role: str = Field(primary_key=True, max_length=16)
    job_id: str = Field(primary_key=True, max_length=128)
    used_at: datetime


class NonceRow(SQLModel, table=True):
    """A nonce seen within its window, kept until ``expires_at`` (ms since the epoch)."""

    __tablename__ = "fr_nonce"

    scope: str = Field(primary_key=True, max_length=80)  # "hmac:<app key>", "rsa:<party>"
    nonce: str = Field(primary_key=True, max_length=128)
    expires_at: int = Field(sa_type=BigInteger, index=True)


class CheckRow(SQLModel, table=True):
    """The last result of a health check: a server's TCP check (``service_name`` empty) or a
    service's HTTP check. Written by the one prober of the database, read by every node."""

    __tablename__ = "fr_check"

    server_name: str = Field(primary_key=True, max_length=64)
    service_name: str = Field(primary_key=True, max_length=64)  # "": the server's TCP check
    status: str = Field(max_length=8)  # passing, warning, critical
    output: str = Field(max_length=512)
    duration: float = Field(sa_type=Float)  # seconds the check took
    checked_at: datetime
    changed_at: datetime  # when the status became what it is


class LeaseRow(SQLModel, table=True):
    """A lease that elects one process per database for a background job (``health``: the
    prober), held until ``expires_at`` (ms since the epoch) unless its holder renews it."""

    __tablename__ = "fr_lease"

    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(max_length=128)
    expires_at: int = Field(sa_type=BigInteger)


class AuditRow(SQLModel, table=True):
    """One decision of the audit trail, at its place ``seq`` in the chain: ``hash`` covers its
    fields and the hash of the record before it (docs/server.md#the-audit-trail). Nothing
    secret: no header value, signature or body."""

    __tablename__ = "fr_audit"
    __table_args__ = (
        Index("ix_fr_audit_decided_at", "decided_at"),
        Index("ix_fr_audit_src_party", "src_party", "decided_at"),
        Index("ix_fr_audit_dest_party", "dest_party", "decided_at"),
        Index("ix_fr_audit_job_id", "job_id"),
    )

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    decided_at: int = Field(sa_type=BigInteger)  # ms since the epoch
    decision_id: str = Field(max_length=40)
    capability: str = Field(max_length=32)
    src_party: str | None = Field(default=None, max_length=64)
    dest_party: str | None = Field(default=None, max_length=64)
    src_role: str | None = Field(default=None, max_length=16)
    role: str | None = Field(default=None, max_length=16)
    job_id: str | None = Field(default=None, max_length=128)
    components: str | None = Field(default=None, sa_type=Text)  # a JSON list
    datasets: str | None = Field(default=None, sa_type=Text)  # a JSON list of "ns:name"
    result: str = Field(max_length=16)  # allow, deny, failed_open, failed_closed
    code: int
    plugin: str | None = Field(default=None, max_length=255)
    cached: bool = Field(sa_type=Boolean)
    latency_us: int = Field(sa_type=BigInteger)
    key_id: str = Field(max_length=16)  # "" unkeyed, else the HMAC key's fingerprint
    hash: str = Field(max_length=64)


class AuditHeadRow(SQLModel, table=True):
    """The audit chain's one head row: its last record (writers lock this row to append, so
    the chain is one sequence across nodes) and its anchor, where the kept chain starts after
    pruning and the hash of the record before it."""

    __tablename__ = "fr_audit_head"

    id: int = Field(primary_key=True)
    last_seq: int = Field(sa_type=BigInteger)
    last_hash: str = Field(max_length=64)
    first_seq: int = Field(sa_type=BigInteger)
    anchor_hash: str = Field(max_length=64)


servers_t = ServerRow.__table__  # type: ignore[attr-defined]
services_t = ServiceRow.__table__  # type: ignore[attr-defined]
revision_t = RevisionRow.__table__  # type: ignore[attr-defined]
site_keys_t = SiteKeyRow.__table__  # type: ignore[attr-defined]
grants_t = GrantRow.__table__  # type: ignore[attr-defined]
grant_uses_t = GrantUseRow.__table__  # type: ignore[attr-defined]
nonces_t = NonceRow.__table__  # type: ignore[attr-defined]
checks_t = CheckRow.__table__  # type: ignore[attr-defined]
leases_t = LeaseRow.__table__  # type: ignore[attr-defined]
audit_t = AuditRow.__table__  # type: ignore[attr-defined]
audit_head_t = AuditHeadRow.__table__  # type: ignore[attr-defined]
