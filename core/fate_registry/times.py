"""Instants and durations as users write them: ISO 8601 times (UTC when no offset is given) and
durations such as ``90s``, ``30m``, ``24h``, ``7d`` or ``1d12h``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from .errors import InvalidRegistration

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhdw])")
_DURATION = re.compile(rf"(?:{_PART.pattern})+")
MAX_DURATION = 100 * 365 * 86400.0  # a century: beyond it, a typo


def duration(value: Any, field: str) -> float:
    """Seconds of a duration: ``90s``, ``30m``, ``24h``, ``7d``, ``2w``, or several (``1d12h``);
    a number is seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.fullmatch(value.strip().lower()):
        parts = _PART.findall(value.strip().lower())
        seconds = sum(float(number) * UNITS[unit] for number, unit in parts)
    else:
        raise InvalidRegistration(
            [(field, "must be a duration such as 90s, 30m, 24h, 7d or 1d12h")]
        )
    if not 0 < seconds <= MAX_DURATION:
        raise InvalidRegistration([(field, "must be above zero and at most 100 years")])
    return seconds


def instant(value: Any, field: str) -> datetime:
    """A time: a ``datetime`` (naive ones are UTC) or ISO 8601 text (``2026-01-31``,
    ``2026-01-31T12:00``, ``...Z``, ``...+08:00``), in UTC."""
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, str):
        try:
            found = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidRegistration(
                [(field, "must be an ISO 8601 time such as 2026-01-31T12:00:00Z")]
            ) from None
    else:
        raise InvalidRegistration([(field, "must be an ISO 8601 time")])
    if found.tzinfo is None:
        found = found.replace(tzinfo=UTC)
    return found.astimezone(UTC)


def since(value: Any, field: str, now: float) -> datetime:
    """A bound of a time range: an instant (see ``instant``), or a duration meaning that long
    before ``now`` (seconds since the epoch): ``1d`` is a day ago."""
    if isinstance(value, str) and _DURATION.fullmatch(value.strip().lower()):
        return datetime.fromtimestamp(now - duration(value, field), UTC)
    try:
        return instant(value, field)
    except InvalidRegistration:
        raise InvalidRegistration(
            [
                (
                    field,
                    "must be an ISO 8601 time such as 2026-01-31T12:00:00Z, or a duration ago "
                    "such as 30m, 24h or 7d",
                )
            ]
        ) from None
