"""What a running service is told: where to keep job files, and the decisions' keys and rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Config:
    """``app_keys``: client APP_KEY -> secret (FATE's HMAC client authentication).
    ``site_key``: the secret the federation's sites share to sign each other's requests.
    ``allowed_parties``: party ids whose jobs ``permission`` allows (empty: none).
    ``data_dir``: where uploaded ids and finished feature files are kept."""

    data_dir: Path
    app_keys: dict[str, str] = field(default_factory=dict)
    site_key: str | None = None
    allowed_parties: frozenset[str] = frozenset()
