"""FATE Flow's site signature and site authentication hooks, answered by fate-registry's hook
gateway: sign what this site sends, verify what another site sent.

FATE Flow 1.x puts the signature in its own ``site_signature`` header and sends ``src_party_id``
itself; 2.x adds the headers the hook returns, so the 2.x hook returns ``src-party-id`` and
``site-signature``, which werkzeug reads as 1.x's names.
"""

from typing import Any

from fate_flow.hook import HookManager

from . import flow, gateway, payloads

SOURCE_HEADER = "src-party-id"
SIGNATURE_HEADER = "site-signature"


def sign(parm: Any) -> Any:
    """A ``SignatureReturn``. 1.x ignores its code and would send the request unsigned, so a
    signature that cannot be had raises there, failing the request with the reason, as FATE
    Flow's own hooks do; 2.x reads the code and fails the command with it."""
    if flow.MAJOR == 2:
        try:
            signature = gateway.sign(payloads.signature_2(parm, flow.PARTY_ID))
        except gateway.Refusal as refusal:
            return flow.SignatureReturn(
                code=refusal.code, message=f"site signature failed: {refusal.message}"
            )
        headers = {SOURCE_HEADER: str(flow.PARTY_ID), SIGNATURE_HEADER: signature}
        return flow.SignatureReturn(signature=headers)
    try:
        signature = gateway.sign(payloads.signature(parm))
    except gateway.Refusal as refusal:
        raise RuntimeError(f"site signature failed: {refusal.message}") from None
    return flow.SignatureReturn(site_signature=signature)


def authenticate_site(parm: Any) -> Any:
    """An ``AuthenticationReturn``: code 0 admits the other site's request."""
    if flow.MAJOR == 2:  # the request as it came, headers included
        payload = payloads.client_authentication(parm)
    else:
        payload = payloads.site_authentication(parm, flow.PARTY_ID)
    code, message = gateway.decide("site_authentication", payload)
    return flow.AuthenticationReturn(code=code, message=message)


HookManager.register_site_signature_hook(sign)
HookManager.register_site_authentication_hook(authenticate_site)
