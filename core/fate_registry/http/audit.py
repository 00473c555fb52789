"""``GET /audit``: the decision audit trail, newest first, filtered and paged (what
``fate-registry --url ... audit list`` and ``audit export`` read), behind the read protection."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ..capabilities import DECISIONS
from ..recording import RESULTS
from .deps import registry_of
from .envelopes import V2Error
from .security import access

MAX_PAGE = 1000  # records one reply carries at most
ERRORS = {
    400: "a filter is malformed: the message names it",
    401: "reads are protected and the token is missing or wrong",
    503: "the database cannot be used now",
}
router = APIRouter(
    tags=["audit"],
    responses={status: {"model": V2Error, "description": text} for status, text in ERRORS.items()},
)


@router.get(
    "/audit",
    **access("read"),
    summary="Decisions of the audit trail, newest first",
)
def audit(
    request: Request,
    capability: Annotated[
        str | None, Query(description=f"one of {', '.join(DECISIONS)}", max_length=32)
    ] = None,
    party: Annotated[
        str | None,
        Query(description="a party id: the decision's source or destination", max_length=64),
    ] = None,
    job_id: Annotated[str | None, Query(description="a job id", max_length=128)] = None,
    result: Annotated[
        str | None, Query(description=f"one of {', '.join(RESULTS)}", max_length=16)
    ] = None,
    since: Annotated[
        str | None,
        Query(description="from this ISO 8601 time, or this long ago (1d, 30m)", max_length=64),
    ] = None,
    until: Annotated[
        str | None,
        Query(description="before this ISO 8601 time, or this long ago", max_length=64),
    ] = None,
    before: Annotated[
        int | None, Query(ge=1, description="only records with a seq below it: the next page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="records at most")] = 100,
) -> dict[str, Any]:
    records = registry_of(request).audit.list(
        capability=capability,
        party=party,
        job_id=job_id,
        result=result,
        since=since,
        until=until,
        before=before,
        limit=limit,
    )
    more = len(records) == limit
    return {
        "records": [record.as_dict() for record in records],
        "next_before": records[-1].seq if more and records else None,
    }
