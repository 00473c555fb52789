"""Stand-in for ``fate_flow.runtime.system_settings`` (FATE Flow 2.x only): the values the hooks
and the hook manager read, from service_conf.yaml at import time. The switches are booleans
directly under ``authentication``."""

from fate_flow.utils.conf_utils import get_base_config

HOOK_MODULE = get_base_config("hook_module")
AUTHENTICATION_CONF = get_base_config("authentication", {})
CLIENT_AUTHENTICATION = AUTHENTICATION_CONF.get("client", False)
SITE_AUTHENTICATION = AUTHENTICATION_CONF.get("site", False)
PERMISSION_SWITCH = AUTHENTICATION_CONF.get("permission", False)
PARTY_ID = get_base_config("party_id", "")
LOCAL_PARTY_ID = "0"
