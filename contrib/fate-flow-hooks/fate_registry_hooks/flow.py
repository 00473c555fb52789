"""What the FATE Flow that imported these hooks has, told apart by its own modules (no setting
to get wrong): 2.0 to 2.2 keep their settings in ``fate_flow.runtime.system_settings``, 1.9 to
1.11 in ``fate_flow.settings``. For each line: the gateway route, the hooks' parameter and
return classes, how ``service_conf.yaml`` is read, the stat log, and this site's party id.
"""

import logging
from typing import Any

try:  # FATE Flow 2.x
    from fate_flow.runtime import system_settings as _settings

    MAJOR = 2
except ImportError:  # FATE Flow 1.9 to 1.11
    from fate_flow import settings as _settings

    MAJOR = 1

from fate_flow.hook.common import parameters

ROUTE = f"/v{MAJOR}/hook"  # the gateway reads each line's parameters at its own route
PARTY_ID: Any = getattr(_settings, "PARTY_ID", "")  # service_conf.yaml's party_id

# The codes of a refusal the hooks make themselves: 1.x's RetCode.EXCEPTION_ERROR and
# CONNECTION_ERROR; 2.x has one code for both, ReturnCode.Server.EXCEPTION.
EXCEPTION_ERROR = 6000 if MAJOR == 2 else 100
CONNECTION_ERROR = 6000 if MAJOR == 2 else 105

# The return classes FATE Flow reads ``code`` and ``message`` (or the signature) from.
AuthenticationReturn = parameters.AuthenticationReturn
PermissionReturn = parameters.PermissionReturn
SignatureReturn = parameters.SignatureReturn
if MAJOR == 2:  # one class for client and site authentication
    ClientAuthenticationReturn = parameters.AuthenticationReturn
else:
    ClientAuthenticationReturn = parameters.ClientAuthenticationReturn


def get_base_config(key: str, default: Any = None) -> Any:
    """``key`` of ``service_conf.yaml`` (``local.service_conf.yaml`` over it), read with this
    FATE Flow's own reader, so from the directory it reads; ImportError without one."""
    if MAJOR == 2:
        from fate_flow.utils.conf_utils import get_base_config as read
    else:
        from fate_arch.common.conf_utils import get_base_config as read
    return read(key, default)


def _stat_logger() -> logging.Logger:
    """FATE Flow's stat log (logs/fate_flow/fate_flow_stat.log), where its operators look."""
    try:
        if MAJOR == 2:
            from fate_flow.utils.log import getLogger

            return getLogger()
        return _settings.stat_logger
    except (ImportError, AttributeError):  # pragma: no cover - only outside FATE Flow
        return logging.getLogger("fate_registry_hooks")


log = _stat_logger()
