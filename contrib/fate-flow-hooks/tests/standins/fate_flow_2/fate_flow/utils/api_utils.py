"""Stand-in for how FATE Flow 2.x signs what it sends to another site: ``generate_headers``
asks the signature hook with the destination, the body and the initiator, and ``ofx``'s
``federated_command`` adds the headers of a return with code 0, then ``initiator-party-id``; a
return with another code fails the command with 104 and the hook's code and message."""

from fate_flow.hook import HookManager
from fate_flow.hook.common.parameters import SignatureParameters

FEDERATED_ERROR = 104


class FederatedError(Exception):
    """The response FATE Flow records for a command it could not send."""

    def __init__(self, code, message):
        super().__init__(code, message)
        self.code = code
        self.message = message


def generate_headers(party_id, body, initiator_party_id=""):
    return HookManager.site_signature(
        SignatureParameters(party_id=party_id, body=body, initiator_party_id=initiator_party_id)
    )


def federated_headers(dest_party_id, body, initiator_party_id=""):
    """The headers FATE Flow sends with ``body`` to ``dest_party_id``."""
    result = generate_headers(dest_party_id, body, initiator_party_id=initiator_party_id)
    if result.code != 0:
        raise FederatedError(
            FEDERATED_ERROR, f"Federated schedule error, {(result.code, result.message)}"
        )
    headers = dict(result.signature) if result.signature else {}
    headers["initiator-party-id"] = initiator_party_id
    return headers
