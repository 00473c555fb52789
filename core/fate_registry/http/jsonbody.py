"""JSON bodies as RFC 8259 defines them: Python's parser also takes NaN, Infinity, numbers that
overflow to infinity and unpaired surrogates, which no database backend can store or reply with;
and nesting that would exhaust the parser. Each stored value has its own, lower, limit
(models.MAX_JSON_DEPTH), checked with the field's name."""

from __future__ import annotations

import json
import math
from typing import Any

from ..models import json_problem

# A body nests its stored values a few levels in (the legacy v1 form: SERVER.api.name.data),
# so its own limit is well above the stored values'.
MAX_BODY_DEPTH = 64


class NotJSON(ValueError):
    """Python parsed it, but it is not JSON every backend stores; the message says why."""


def _no_constant(name: str) -> Any:
    raise NotJSON(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotJSON(f"number {text[:32]} is out of range")
    return value


def strict_json_problem(body: bytes) -> str | None:
    """Why ``body`` is not strict JSON, or None: valid, or a syntax error FastAPI reports."""
    try:
        value = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except NotJSON as exc:
        return str(exc)
    except RecursionError:
        return f"nested deeper than {MAX_BODY_DEPTH} levels"
    except ValueError:
        return None
    if body.count(b"{") + body.count(b"[") <= MAX_BODY_DEPTH and b"\\u" not in body:
        return None  # too few brackets to nest too deep, no escape to hide a lone surrogate
    return json_problem(value, MAX_BODY_DEPTH)
