"""What both client signature schemes share: reading a header, and a verified request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Verified:
    """A request whose signature matched: its nonce still has to be new."""

    app_key: str
    nonce: str
    timestamp: float  # seconds since the epoch


def header(headers: Mapping[str, str], name: str) -> str | None:
    """``headers.get(name)``, case-insensitive and with '-' and '_' alike, on any mapping."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower().replace("-", "_")
    for key, found in headers.items():
        if key.lower().replace("-", "_") == wanted:
            return found
    return None
