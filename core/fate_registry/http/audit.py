"""``GET /audit``: the decision audit trail, newest first, filtered and paged (what
``fate-registry --url ... audit list`` and ``audit export`` read), behind the read protection."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from ..canonical import MAX_PARTY_DIGITS
from ..capabilities import MAX_JOB_ID
from .deps import error_responses, registry_of
from .envelopes import V2Error
from .security import access

MAX_PAGE = 1000  # records one reply carries at most
# The values of capability and result (capabilities.DECISIONS, recording.RESULTS), as the
# schema says them.
Decision = Literal["client_authentication", "signature", "site_authentication", "permission"]
Result = Literal["allow", "deny", "failed_open", "failed_closed"]
ERRORS = {
    400: "a filter is malformed: the message names it",
    401: "reads are protected and the token is missing or wrong",
    503: "the database cannot be used now",
}
router = APIRouter(
    tags=["audit"],
    responses=error_responses(V2Error, ERRORS),
)


@router.get(
    "/audit",
    **access("read"),
    summary="Decisions of the audit trail, newest first",
)
def audit(
    request: Request,
    capability: Annotated[Decision | None, Query(description="a decision's capability")] = None,
    party: Annotated[
        str | None,
        Query(
            description="a party id (a decimal integer): the decision's source or destination",
            pattern=rf"^\s*[0-9]{{1,{MAX_PARTY_DIGITS}}}\s*$",
        ),
    ] = None,
    job_id: Annotated[
        str | None, Query(description="a job id", min_length=1, max_length=MAX_JOB_ID)
    ] = None,
    result: Annotated[Result | None, Query(description="allow, deny, failed_open...")] = None,
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
