"""fate-registry-example: allow jobs only from known parties (a permission plugin)."""

from __future__ import annotations

import os

from fate_registry import hookimpl
from fate_registry.capabilities import PERMISSION_ERROR, Decision, PermissionRequest


def known_parties() -> set[str]:
    raw = os.environ.get("EXAMPLE_KNOWN_PARTIES", "9999,10000")
    return {party.strip() for party in raw.split(",") if party.strip()}


@hookimpl
def permission(request: PermissionRequest) -> Decision | None:
    if request.src_party_id in known_parties():
        return Decision.allow(f"party {request.src_party_id} is known")
    return Decision.deny(f"party {request.src_party_id} is not known", code=PERMISSION_ERROR)
