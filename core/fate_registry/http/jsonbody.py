"""JSON bodies as RFC 8259 defines them: Python's parser also takes NaN, Infinity, numbers that
overflow to infinity and unpaired surrogates, which no database backend can store or reply with;
and nesting deeper than MySQL's JSON allows."""

from __future__ import annotations

import json
import math
from typing import Any

from ..models import MAX_JSON_DEPTH, json_problem


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
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError:
        return None
    if body.count(b"{") + body.count(b"[") <= MAX_JSON_DEPTH and b"\\u" not in body:
        return None  # too few brackets to nest too deep, no escape to hide a lone surrogate
    return json_problem(value)
