"""FATE Flow's client_authentication hook, answered by fate-registry's hook gateway.

FATE Flow 1.11's own HTTP hook for it raises before calling anyone (it hands werkzeug's headers
and the raw bytes to ``json=``), and 2.x has none; this one sends them as JSON.
"""

from typing import Any

from fate_flow.hook import HookManager

from . import flow, gateway, payloads


def authenticate_client(parm: Any) -> Any:
    """1.x's ``ClientAuthenticationReturn``, 2.x's ``AuthenticationReturn``: code 0 admits the
    client's request."""
    code, message = gateway.decide("client_authentication", payloads.client_authentication(parm))
    return flow.ClientAuthenticationReturn(code=code, message=message)


HookManager.register_client_authentication_hook(authenticate_client)
