"""FATE Flow's site signature and site authentication hooks, answered by fate-registry's hook
gateway: sign what this site sends, verify what another site sent.
"""

from typing import Any

from fate_flow.hook import HookManager
from fate_flow.hook.common.parameters import AuthenticationReturn, SignatureReturn
from fate_flow.settings import PARTY_ID

from . import gateway, payloads


def sign(parm: Any) -> Any:
    """A ``SignatureReturn`` with the signature. Raises when there is none: FATE Flow ignores
    the code of a ``SignatureReturn`` and would send the request unsigned, so this fails the
    request here with the reason, as FATE Flow's own hooks do."""
    try:
        signature = gateway.sign(payloads.signature(parm))
    except gateway.Refusal as refusal:
        raise RuntimeError(f"site signature failed: {refusal.message}") from None
    return SignatureReturn(site_signature=signature)


def authenticate_site(parm: Any) -> Any:
    """An ``AuthenticationReturn``: code 0 admits the other site's request."""
    code, message = gateway.decide(
        "site_authentication", payloads.site_authentication(parm, PARTY_ID)
    )
    return AuthenticationReturn(code=code, message=message)


HookManager.register_site_signature_hook(sign)
HookManager.register_site_authentication_hook(authenticate_site)
