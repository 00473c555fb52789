"""The grants plugin decides FATE Flow 2.x's permission requests, as the gateway's /v2/hook maps
them, with the same rules as 1.x's: every case of test_grants_plugin's table, asked by 2.x."""

from __future__ import annotations

from typing import Any

import pytest
from test_grants_plugin import CASES, hooks  # noqa: F401

from fate_registry.capabilities import PermissionRequest
from fate_registry.dispatch import Dispatcher
from fate_registry.fate2 import Permission2


def as_fate_flow_2_asks(request: PermissionRequest) -> PermissionRequest:
    """The same job from FATE Flow 2.x: the initiator as the source party, its role only what
    the DAG's parties say (two roles when 1.x's request knew none), this site's role and party
    from the create request."""
    src, role, party = request.src_party_id, request.role, request.party_id
    src_roles = [request.src_role] if request.src_role else ["guest", "arbiter"]
    sent: dict[str, Any] = {
        "party_id": src,
        "roles": [{"role": r, "party_id": [src]} for r in src_roles]
        + [{"role": role, "party_id": [party]}],
        "component_list": request.component_list,
        "dataset_list": request.dataset_list,
        "dest_role": role,
        "dest_party_id": party,
    }
    return Permission2.model_validate(sent).contract()


@pytest.mark.parametrize(("request_", "allowed", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_fate_flow_2x_gets_the_same_answer(
    hooks: Dispatcher,  # noqa: F811
    request_: PermissionRequest,
    allowed: bool,
    words: str,
) -> None:
    asked = as_fate_flow_2_asks(request_)
    if request_.src_party_id != request_.party_id:  # a party asking itself has two roles
        assert (asked.src_role, asked.fate_flow_major) == (request_.src_role, 2)
    outcome = hooks.permission(asked)
    assert (outcome.allowed, outcome.plugin) == (allowed, "grants"), outcome.message
    assert words in outcome.message
