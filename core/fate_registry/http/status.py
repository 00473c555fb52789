"""``GET /status``: what ``fate-registry --url ... status`` prints, as JSON, behind the same read
protection as the rest of the API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ..status import status_document
from .deps import error_responses, registry_of
from .envelopes import V2Error
from .security import access

ERRORS = {
    400: "minutes is not a whole number from 1 to 60",
    401: "reads are protected and the token is missing or wrong",
    503: "the database cannot be used now",
}
router = APIRouter(
    tags=["health"],
    responses=error_responses(V2Error, ERRORS),
)


@router.get(
    "/status",
    **access("read"),
    summary="Servers and services with their health, chains, decisions, the registry's health",
)
def status(
    request: Request,
    minutes: Annotated[int, Query(ge=1, le=60, description="decisions of the last N minutes")] = 15,
) -> dict[str, Any]:
    return status_document(registry_of(request), minutes)
