"""FATE Flow's client_authentication hook, answered by fate-registry's hook gateway.

FATE Flow 1.11's own HTTP hook for it raises before calling anyone (it hands werkzeug's headers
and the raw bytes to ``json=``); this one sends them as JSON.
"""

from typing import Any

from fate_flow.hook import HookManager
from fate_flow.hook.common.parameters import ClientAuthenticationReturn

from . import gateway, payloads


def authenticate_client(parm: Any) -> Any:
    """A ``ClientAuthenticationReturn``: code 0 admits the client's request."""
    code, message = gateway.decide("client_authentication", payloads.client_authentication(parm))
    return ClientAuthenticationReturn(code=code, message=message)


HookManager.register_client_authentication_hook(authenticate_client)
