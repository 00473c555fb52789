"""FATE Flow's permission hook, answered by fate-registry's hook gateway.

FATE Flow 1.11 reads the source role from a header named ``scr_role`` (sic), which no site
sends, so its parameters always carry ``src_role=None``; this hook reads the ``src_role`` header
that the other site did send. FATE Flow 2.x does not pass this site's role and party id; this
hook reads them from the body of the create request being checked.
"""

from typing import Any, Optional

from fate_flow.hook import HookManager

from . import flow, gateway, payloads


def incoming(read: Any) -> Any:
    """``read(request)`` of the request FATE Flow is handling, or None outside one."""
    try:
        from flask import has_request_context, request
    except ImportError:
        return None
    return read(request) if has_request_context() else None


def incoming_source_role() -> Optional[str]:
    """The ``src_role`` header of the request FATE Flow 1.x is handling."""
    return incoming(lambda request: request.headers.get("src_role") or None)


def check_permission(parm: Any) -> Any:
    """A ``PermissionReturn``: code 0 allows the job here."""
    if flow.MAJOR == 2:
        payload = payloads.permission_2(parm, incoming(lambda request: request.json))
    else:
        payload = payloads.permission(parm, parm.src_role or incoming_source_role())
    code, message = gateway.decide("permission", payload)
    return flow.PermissionReturn(code=code, message=message)


HookManager.register_permission_check_hook(check_permission)
