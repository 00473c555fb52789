"""FATE Flow's permission hook, answered by fate-registry's hook gateway.

FATE Flow 1.11 reads the source role from a header named ``scr_role`` (sic), which no site
sends, so its parameters always carry ``src_role=None``; this hook reads the ``src_role`` header
that the other site did send, from the request being checked.
"""

from typing import Any, Optional

from fate_flow.hook import HookManager
from fate_flow.hook.common.parameters import PermissionReturn

from . import gateway, payloads


def incoming_source_role() -> Optional[str]:
    """The ``src_role`` header of the request FATE Flow is handling, or None outside one."""
    try:
        from flask import has_request_context, request
    except ImportError:
        return None
    if not has_request_context():
        return None
    return request.headers.get("src_role") or None


def check_permission(parm: Any) -> Any:
    """A ``PermissionReturn``: code 0 allows the job here."""
    src_role = parm.src_role or incoming_source_role()
    code, message = gateway.decide("permission", payloads.permission(parm, src_role))
    return PermissionReturn(code=code, message=message)


HookManager.register_permission_check_hook(check_permission)
