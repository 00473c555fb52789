"""``GET /status``: what ``fate-registry --url ... status`` prints, as JSON, behind the same read
protection as the rest of the API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ..status import status_document
from .deps import registry_of
from .security import access

router = APIRouter(tags=["health"])


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
